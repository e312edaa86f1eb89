"""A container and its network driver: ``add`` before the start, ``delete`` at teardown.

A container's network mode is the name of its network driver (``none``, ``host``, or one
selected in capsa.toml), recorded in its configuration (``inspect``: HostConfig.NetworkMode).
Its monitor calls :func:`attach` once the runtime created the container (its network namespace
exists, nothing runs in it yet) and :func:`detach` after it exited — and after any start that
failed once ``attach`` was called, a failed ``add`` included. :func:`detach_orphan` is the
same for a container whose monitor died (called by whoever reaps it). See
:mod:`capsa.drivers.network` for the contract and docs/architecture.md for why the namespace is
the one the isolation driver makes.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.drivers.network import Attachment, NetworkDriver


def shares_host_namespace(network: str) -> bool:
    """Whether containers of network mode ``network`` use a namespace that is not their own:
    the host's (``host``) or another container's (``container:ID``); the bundle asks for no
    namespace of their own and the network driver sets nothing up."""
    return network == "host" or network.startswith("container:")


def joined_container(network: str) -> str:
    """The id of the container whose namespace mode ``container:ID`` joins ("" otherwise)."""
    return network[len("container:"):] if network.startswith("container:") else ""


def driver_for(network: str) -> str:
    """The network driver of mode ``network``: itself, but ``host`` (which sets nothing up) for
    ``container:ID``: the joining container's network belongs to the container it joins."""
    return "host" if network.startswith("container:") else network


def rejoin(records: Any, container_id: str, bundle: str) -> None:
    """Before a restart (its monitor's) of a container that joins another's namespaces
    (``--network container:NAME``, a pod member's ``namespaces``): the bundle names each joined
    namespace by the process of the time (``/proc/PID/ns/KIND``), which may have ended (and its
    pid gone to another process): point every one at the current process of the container it
    joins, or fail this start (UsageError) when that one does not run. Nothing for a container
    that joins none."""
    config = records.config(container_id)
    network = config.network
    if not network.startswith("container:") and not config.namespaces:
        return
    import json

    from capsa.container.lifecycle import joined_namespace, joined_namespaces
    from capsa.fsutil import atomic_write

    paths = joined_namespaces(records, config)
    if network.startswith("container:"):
        paths["network"], _ = joined_namespace(records, joined_container(network), None)
    spec_path = os.path.join(bundle, "config.json")
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    for ns in spec.get("linux", {}).get("namespaces", []):
        if paths.get(ns.get("type")):
            ns["path"] = paths[ns["type"]]
    atomic_write(spec_path, json.dumps(spec).encode(), durable=False)


class NetworkHandle:
    """One run's attachment: the namespace kept open (so that ``delete`` still finds it after
    the container exited) and the attachment the driver was given."""

    def __init__(self, attachment: Attachment, netns_fd: int = -1) -> None:
        self.attachment = attachment
        self.netns_fd = netns_fd

    def to_data(self) -> dict[str, Any]:
        """What the monitor hands to its next exec (the descriptor is made inheritable)."""
        from capsa.fastpath.record import asdict

        if self.netns_fd >= 0:
            os.set_inheritable(self.netns_fd, True)
        return {"attachment": asdict(self.attachment), "netns_fd": self.netns_fd}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> NetworkHandle:
        from capsa.drivers.network import Attachment, PortMapping

        values = dict(data["attachment"])
        values["ports"] = [PortMapping(**p) for p in values.get("ports", [])]
        fd = int(data["netns_fd"])
        if fd >= 0:
            os.set_inheritable(fd, False)
        return cls(Attachment(**values), fd)


def attach(driver: NetworkDriver, container_id: str, name: str, container_pid: int, network: str,
           on_handle: Any, view: Any = None, definition: dict[str, Any] | None = None,
           ports: list[dict[str, Any]] | None = None, static_ip: str = "", aliases: list[str] | None = None,
           interface: str = "eth0") -> dict[str, Any]:
    """Call ``driver.add`` for container ``container_id`` (``name``) whose process is
    ``container_pid``; ``on_handle(handle)`` receives the attachment before ``add`` runs, so
    that the caller can ``detach`` even when ``add`` fails. ``view()``: the container as hooks
    see it, for ``capsa_adjust_network_attachment`` (asked only when a plugin implements it).
    ``ports``: the published ports (``extra["ports"]``), as ``Attachment.ports``; ``static_ip``,
    ``aliases``: ``--ip`` and ``--network-alias``; ``interface``: the name inside (``eth1``...
    for a network connected later: :mod:`capsa.container.netconnect`). Returns the result as data (with the driver's
    name), to record."""
    from capsa import plugins
    from capsa.drivers.network import Attachment, PortMapping
    from capsa.fastpath.record import asdict

    fd = -1
    netns = None
    if not shares_host_namespace(network):
        fd = os.open(f"/proc/{container_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        netns = f"/proc/{os.getpid()}/fd/{fd}"  # valid for any process while we hold it
    attachment = Attachment(container_id=container_id, container_name=name, netns=netns, network=definition or {},
                            ports=[PortMapping(**p) for p in ports or []], static_ip=static_ip,
                            aliases=list(aliases or []), interface=interface)
    on_handle(NetworkHandle(attachment, fd))
    if view is not None and plugins.wants("capsa_adjust_network_attachment"):
        plugins.call_or_fail("capsa_adjust_network_attachment", container=view(), attachment=attachment)
    result = asdict(driver.add(attachment))
    result["driver"] = driver.name
    return result


def detach(driver: NetworkDriver, handle: NetworkHandle) -> str:
    """``driver.delete`` (best effort); closes the namespace's descriptor. Returns what went
    wrong ("" when nothing did), for the container's State.Error."""
    try:
        driver.delete(handle.attachment)
        return ""
    except Exception as exc:  # delete is best effort by contract; one that raises is noted
        return f"network {driver.name}: delete: {getattr(exc, 'message', exc)}"
    finally:
        if handle.netns_fd >= 0:
            try:
                os.close(handle.netns_fd)
            except OSError:
                pass
            handle.netns_fd = -1


def tidy(driver: Any) -> str:
    """``driver.tidy()`` (best effort, as ``delete``): what no container holds any more goes
    (a bridge after its last container). Returns what went wrong, or ""."""
    try:
        driver.tidy()
        return ""
    except Exception as exc:  # noqa: BLE001 - best effort: gc (system check --repair) does it again
        return f"network {getattr(driver, 'name', '?')}: tidy: {getattr(exc, 'message', exc)}"


def detach_orphan(driver: NetworkDriver, container_id: str, container_name: str,
                  definition: dict[str, Any] | None = None) -> str:
    """:func:`detach` for a container whose monitor died: its namespace is gone (netns None).
    ``definition``: the network it was on (its recorded ``network_definition``)."""
    from capsa.drivers.network import Attachment

    problem = detach(driver, NetworkHandle(Attachment(container_id=container_id, container_name=container_name,
                                                      netns=None, network=definition or {})))
    return "; ".join(p for p in (problem, tidy(driver)) if p)


def network_settings(network: str, state_extra: dict[str, Any], pid: int,
                     connected: list[dict[str, Any]] | None = None, aliases: list[str] | None = None,
                     first: str = "") -> dict[str, Any]:
    """``inspect``'s NetworkSettings, podman-shaped: what the network driver's ``add`` reported
    for the current (or last) run; ``Networks`` names the driver when it set up an interface
    (none and host do not), then every network connected later (``connected``: the container's
    ``extra["connected_networks"]``; their results are ``state_extra["connected_results"]``).
    ``pid``: the container's process while it runs, else 0. ``aliases``: ``--network-alias``;
    ``first``: the name of the first network (listed without an address before a run, when
    networks are connected)."""
    result = state_extra.get("network") or {}
    address, prefix, gateway, mac, iface = _endpoint(result)
    networks = {}
    if network not in ("none", "host") and (address or result.get("interfaces")):
        networks[iface.get("network") or network] = _network_entry(iface.get("network") or network,
                                                                 result.get("driver", network), result, list(aliases or []))
    if connected and not networks and first:
        networks[first] = _network_entry(first, network, {}, list(aliases or []))
    results = state_extra.get("connected_results") or {}
    for entry in connected or []:
        name = (entry.get("definition") or {}).get("name", "")
        networks[name] = _network_entry(name, (entry.get("definition") or {}).get("driver", ""), results.get(name) or {},
                                        list(entry.get("aliases") or []))
    return {"EndpointID": "", "Gateway": gateway, "IPAddress": address, "IPPrefixLen": prefix, "MacAddress": mac,
            "Bridge": iface.get("bridge", ""), "SandboxID": "", "Ports": {}, "Networks": networks,
            "SandboxKey": f"/proc/{pid}/ns/net" if pid and not shares_host_namespace(network) else ""}


def _endpoint(result: dict[str, Any]) -> tuple[str, int, str, str, dict[str, Any]]:
    """(address, prefix length, gateway, MAC, interface) of one ``add`` result ("" when none)."""
    address, _, prefix = (list(result.get("ips") or []) or [""])[0].partition("/")
    iface = (list(result.get("interfaces") or []) or [{}])[0]
    return address, int(prefix or 0), result.get("gateway", ""), iface.get("mac", ""), iface


def _network_entry(name: str, driver: str, result: dict[str, Any], aliases: list[str]) -> dict[str, Any]:
    address, prefix, gateway, mac, iface = _endpoint(result)
    return {"NetworkID": name, "Driver": result.get("driver", driver), "IPAddress": address, "IPPrefixLen": prefix,
            "Gateway": gateway, "MacAddress": mac, "Aliases": aliases, "InterfaceName": iface.get("name", "")}
