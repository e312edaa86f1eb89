"""``network connect`` and ``network disconnect`` (podman 4.3's): a container joins (leaves) a
network besides its first one. The record is :mod:`capsa.container.netconnect`'s; a running
container is attached (detached) live, from this process, under the container's lock (so that
it cannot race its monitor's start: the monitor attaches at each start what the record names,
and catches up under the same lock). Both fire ``capsa_network_event`` (``connect``,
``disconnect``, with the container's id)."""
from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from capsa.container.netattach import tidy
from capsa.engine.networks import keeping, network_event, network_of, network_records
from capsa.engine.session import container_records
from capsa.errors import NetworkError, UsageError

if TYPE_CHECKING:
    from capsa.container.model import ContainerConfig
    from capsa.container.records import ContainerRecords
    from capsa.engine.session import Session
    from capsa.network.definitions import NetworkDefinition

# connect's podman flags capsa does not implement, and why (refused in one line).
UNSUPPORTED = {
    "--ip6": "capsa's networks are IPv4 only",
    "--mac-address": "the bridge driver gives every interface the kernel's random MAC address",
}
LIVE = ("running", "paused")  # a process whose namespace can be attached to now


def _target(sess: Session, network: str, container: str) -> tuple[ContainerRecords, ContainerConfig, NetworkDefinition]:
    """The container (ContainerNotFound) and the network (NetworkNotFound), both exit 125; a
    container whose network mode sets up no network of its own is refused."""
    records = container_records(sess)
    config = records.find(container)
    definition = network_records(sess).find(network)
    mode = config.network
    if mode in ("none", "host") or mode.startswith("container:"):
        raise UsageError(f"container {config.name} cannot be connected to networks: its network mode is "
                         f"{mode.split(':')[0]}", hint="only a container on a bridge network (--network bridge or a network's name) can")
    if definition.driver != mode:
        raise UsageError(f"network {definition.name} uses the {definition.driver} driver, container {config.name} "
                         f"the {mode} driver", hint="a container joins only networks of its own network driver")
    return records, config, definition


def _check_ip(ip: str, definition: NetworkDefinition) -> str:
    try:
        address = ipaddress.IPv4Address(ip)
    except ValueError:
        raise UsageError(f"{ip!r} is not an IP address", hint="write --ip as 10.100.0.5") from None
    subnet = ipaddress.IPv4Network(definition.subnet, strict=False)
    gateway = definition.gateway or str(subnet.network_address + 1)
    if address not in subnet or address in (subnet.network_address, subnet.broadcast_address) or str(address) == gateway:
        raise UsageError(f"IP address {address} is not a free host address of subnet {subnet}",
                         hint=f"choose one in {subnet} other than the gateway {gateway}")
    return str(address)


def _driver(sess: Session, name: str) -> Any:
    from capsa.drivers import load_driver

    cfg = sess.config
    return load_driver("network", name, cfg.driver_options("network", name), root=cfg.root, runroot=cfg.runroot)


def connect(sess: Session, network: str, container: str, aliases: list[str], ip: str | None,
            unsupported: dict[str, bool] | None = None) -> None:
    """Connect ``container`` to ``network`` (``--alias``, ``--ip``). A running container gets
    the interface now; a stopped one at its next start. Bad input: UsageError (exit 125),
    nothing changed."""
    from capsa.container import netconnect
    from capsa.container.netopts import word

    for flag, given in (unsupported or {}).items():
        if given:
            raise UsageError(f"{flag} is not supported: {UNSUPPORTED[flag]}", hint="leave it out")
    records, config, definition = _target(sess, network, container)
    aliases = [word(a, "--alias", "db") for a in aliases]
    static_ip = _check_ip(ip, definition) if ip else ""
    with keeping(sess, definition.to_attachment_data()), records.lock(config.id).exclusive():  # (network rm waits)
        config = records.config(config.id)  # (as it is now, under the lock)
        if definition.name == network_of(config) or netconnect.find(config.extra, definition.name):
            raise UsageError(f"container {config.id} is already connected to network {definition.name}: "
                             f"network is already connected", hint=f"see 'capsa inspect {config.name}'")
        entry = {"definition": definition.to_attachment_data(), "interface": netconnect.free_interface(config.extra),
                 "static_ip": static_ip, "aliases": aliases}
        state = records.state(config.id)
        live = state.status in LIVE and state.pid > 0
        results = dict(state.extra.get(netconnect.RESULTS) or {})
        stale = results.pop(definition.name, None) is not None  # (a previous connection's last run)
        if live:
            results[definition.name] = _attach_live(sess, records, config, state.pid, entry)
        try:
            if live or stale:
                state.extra[netconnect.RESULTS] = results
                records.set_state(config.id, state)
            netconnect.record(config, entry)
            records.save_config(config)
        except BaseException:  # not recorded: not attached either
            if live:
                driver = _driver(sess, config.network)
                netconnect.detach(driver, config.id, config.name, entry, sess.config.runroot)
                tidy(driver)
            raise
    network_event("connect", definition, config.id)


def _attach_live(sess: Session, records: ContainerRecords, config: ContainerConfig, pid: int,
                 entry: dict[str, Any]) -> dict[str, Any]:
    """``add`` into the running container's namespace; a failure is undone (``delete``)."""
    from capsa.container import netconnect

    driver = _driver(sess, config.network)
    handles: list[Any] = []

    def view() -> dict[str, Any]:  # (for capsa_adjust_network_attachment, as the monitor's)
        from capsa.container.views import container_document

        return container_document(records, config)

    try:
        return netconnect.attach(driver, config.id, config.name, pid, config.network, entry, sess.config.runroot,
                                 records.run_dir(config.id, "files", "hosts"), handles.append, view)
    except BaseException as exc:
        netconnect.detach(driver, config.id, config.name, entry, sess.config.runroot, handles[0] if handles else None)
        tidy(driver)  # (a bridge made for this connection alone goes again)
        if isinstance(exc, OSError):  # the namespace: the container exited meanwhile
            raise NetworkError(f"cannot connect container {config.name}: {exc.strerror}",
                               hint="the container exited; it joins the network at its next start after a connect") from None
        raise
    finally:
        for handle in handles:  # (the netns descriptor, which detach closes too)
            if handle.netns_fd >= 0:
                import os

                os.close(handle.netns_fd)
                handle.netns_fd = -1


def disconnect(sess: Session, network: str, container: str, force: bool) -> None:
    """Disconnect ``container`` from ``network`` (its first one too, as podman allows): a
    running container loses the interface now. A driver's ``delete`` that reports a problem is
    an error (the network stays recorded) unless ``force``."""
    from capsa.container import netconnect
    from capsa.container.stopping import ACTIVE, monitor_alive

    records = container_records(sess)
    config = records.find(container)
    definition = network_records(sess).find(network)
    with records.lock(config.id).exclusive():
        config = records.config(config.id)
        if definition.name == network_of(config):
            if _disconnect_first(sess, records, config, definition, force):
                tidy(_driver(sess, config.network))  # (after the lock: it may wait for the kernel)
            network_event("disconnect", definition, config.id)
            return
        entry = netconnect.find(config.extra, definition.name)
        if entry is None:
            raise UsageError(f"container {config.id} is not connected to network {definition.name}",
                             hint=f"see 'capsa inspect {config.name}'")
        state = records.state(config.id)
        if state.status in ACTIVE or monitor_alive(records, config.id):  # (else nothing is attached)
            problem = netconnect.detach(_driver(sess, config.network), config.id, config.name, entry, sess.config.runroot)
            if problem and not force:
                raise NetworkError(f"cannot disconnect container {config.name} from network {definition.name}: {problem}",
                                   hint="use -f to disconnect it anyway")
        if (state.extra.get(netconnect.RESULTS) or {}).pop(definition.name, None) is not None:
            records.set_state(config.id, state)
        netconnect.record(config, None, remove=definition.name)
        records.save_config(config)
    if state.status in ACTIVE or monitor_alive(records, config.id):  # (the last one off a network takes its bridge)
        tidy(_driver(sess, config.network))
    network_event("disconnect", definition, config.id)


def _disconnect_first(sess: Session, records: ContainerRecords, config: ContainerConfig,
                      definition: NetworkDefinition, force: bool) -> bool:
    """The container's first network (eth0, with the published ports) leaves it: a running
    container loses eth0 now (its ports table and names go with it; a monitor still starting
    it catches up under this lock); the record keeps what ``--network`` chose but marks it
    detached, so later starts skip it and the next network connected takes eth0
    (:func:`capsa.container.netconnect.free_interface`); the published ports move aside
    (``extra["detached_ports"]``: no longer listed, claimed or published). Under the
    container's lock. Returns whether something was detached (the caller tidies after)."""
    from capsa.container import netconnect
    from capsa.container.netattach import NetworkHandle, detach
    from capsa.container.stopping import ACTIVE, monitor_alive
    from capsa.drivers.network import Attachment, PortMapping

    state = records.state(config.id)
    live = state.status in ACTIVE or monitor_alive(records, config.id)  # (else nothing is attached)
    if live:
        if config.extra.get("network_definition"):  # (names are published on user networks only)
            from capsa.container.netnames import withdraw

            withdraw(sess.config.runroot, definition.name, config.id, forget_others=True)
        problem = detach(_driver(sess, config.network), NetworkHandle(Attachment(
            container_id=config.id, container_name=config.name, netns=None,
            network=config.extra.get("network_definition") or {},
            ports=[PortMapping(**p) for p in config.extra.get("ports") or []])))
        if problem and not force:
            raise NetworkError(f"cannot disconnect container {config.name} from network {definition.name}: {problem}",
                               hint="use -f to disconnect it anyway")
    if state.extra.get("network"):
        state.extra["network"] = {}
        records.set_state(config.id, state)
    config.extra[netconnect.DETACHED] = True
    if config.extra.get("ports"):
        config.extra["detached_ports"] = config.extra.pop("ports")
    records.save_config(config)
    return live
