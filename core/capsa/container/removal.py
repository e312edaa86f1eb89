"""Removing containers (``rm``, ``run --rm``, ``rmi --force``'s), and reaping those whose
monitor died. The lock order is the container's lock, then the store's, as ``start`` takes
them."""
from __future__ import annotations

import os

from capsa.container.model import ContainerConfig
from capsa.container.records import ContainerRecords
from capsa.errors import CapsaError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.engine.session import Session
    from capsa.store.store import Store

def remove_anonymous_volumes(root: str | os.PathLike[str], config: ContainerConfig) -> None:
    """``rm -v``: the volumes ``-v /path`` made for this container (named by a random id)."""
    from capsa.fastpath.names import is_sha256_hex

    anonymous = [m.source for m in config.mounts if m.type == "volume" and is_sha256_hex(m.source)]
    if not anonymous:
        return
    from capsa.container.volumes import VolumeNotFound, VolumeStore

    store = VolumeStore(root)
    for name in anonymous:
        try:
            store.remove(name)
        except VolumeNotFound:
            pass


def reap_orphan(sess: Session, store: Store, records: ContainerRecords, config: ContainerConfig) -> None:
    """A container whose monitor died while in charge: kill what is left of it, release its
    runtime and its mount, and record it exited (what the monitor would have done)."""
    from capsa.container.stopping import ACTIVE, monitor_alive

    state = records.state(config.id)
    if state.status not in ACTIVE or monitor_alive(records, config.id):
        return
    from capsa.container import teardown
    from capsa.container.isodriver import isolation_driver

    problems = teardown.end_run(isolation_driver(sess, config), config.id, lambda: detach_orphan_network(sess, config))
    if not config.rootfs:
        problems += teardown.release_layer(store.driver, config.layer_id)  # the reference its start took
    from capsa.container.volumes import release_volumes

    problems += release_volumes(store.root, records, config.id, config.mounts)
    records.update_state(config.id, status="exited", pid=0,
                         error=state.error or "; ".join(problems) or "its monitor died")


def detach_orphan_network(sess: Session, config: ContainerConfig) -> str:
    """The network driver's ``delete`` for a container whose monitor died (see
    :mod:`capsa.container.netattach`); returns what went wrong, or ""."""
    from capsa.container.netattach import detach_orphan, driver_for
    from capsa.drivers import load_driver

    cfg = sess.config
    try:
        driver = load_driver("network", driver_for(config.network), cfg.driver_options("network", driver_for(config.network)),
                             root=cfg.root, runroot=cfg.runroot)
    except CapsaError as exc:
        return f"network {config.network}: {exc.message}"
    network = (config.extra.get("network_definition") or {}).get("name")
    if network:
        from capsa.container.netnames import withdraw

        withdraw(cfg.runroot, network, config.id)
    problems = []
    if config.extra.get("connected_networks"):  # (`network connect`: those go too)
        from capsa.container.netconnect import detach_all

        problems = detach_all(driver, config.id, config.name, config.extra, cfg.runroot)
    problems.append(detach_orphan(driver, config.id, config.name, config.extra.get("network_definition")))
    return "; ".join(p for p in problems if p)


def remove_records(monitor_cfg: dict[str, Any], driver: Any) -> None:
    """Remove a stopped container's layer (through the storage ``driver``) and records: the
    monitor's ``--rm``."""
    from capsa.store.store import Store

    root, runroot = monitor_cfg["root"], monitor_cfg["runroot"]
    records = ContainerRecords(root, runroot)
    config = records.config(monitor_cfg["id"])
    remove_stopped(Store(root, runroot, driver), records, monitor_cfg["id"], monitor_cfg.get("layer_id"), by_monitor=True)
    remove_anonymous_volumes(root, config)  # as podman's run --rm does


class ContainerActive(CapsaError):
    """The container runs (a start got in between a check and the removal)."""


def remove(sess: Session, store: Store, records: ContainerRecords, config: ContainerConfig, force: bool,
           timeout: int = 10) -> None:
    """``rm``: a running container needs ``force`` (then it is stopped: the stop signal, SIGKILL
    after ``timeout``); one whose monitor died is reaped first; then layer and records go. A
    start that gets in after the stop is stopped again (``force``) or refused."""
    from capsa.container.stopping import ACTIVE, monitor_alive, stop

    for _ in range(5):
        state = records.state(config.id)
        if monitor_alive(records, config.id) and state.status in ACTIVE:
            if not force:
                raise _active(config.id, state.status)
            stop(sess, records, config, timeout, "SIGKILL")
        reap_orphan(sess, store, records, config)
        if not os.path.exists(records.dir(config.id)):
            return
        try:
            return remove_stopped(store, records, config.id, config.layer_id)
        except ContainerActive:
            if not force:
                raise
    raise CapsaError(f"cannot remove container {config.id}: it keeps being started", hint="stop what starts it, then rm -f")


def _active(container_id: str, status: str) -> ContainerActive:
    return ContainerActive(f"cannot remove container {container_id} as it is {status} - running or paused "
                           f"containers cannot be removed without force", hint="stop it first, or use rm -f",
                           exit_code=2)


def remove_stopped(store: Store, records: ContainerRecords, container_id: str, layer_id: str | None,
                   by_monitor: bool = False) -> None:
    """Remove a stopped container: its writable layer and its records. Takes the container's
    lock, then the store's (the order of start, rename and mount: never the other way round);
    the caller holds neither. A container found running under the lock (a start came in
    between the caller's stop and now) raises :class:`ContainerActive` and nothing goes.
    ``export`` holds the container's lock (shared) while it reads the layer, so the layer does
    not go under it. ``by_monitor``: the container's own monitor removes it (``--rm``), while
    the record still says "stopping"."""
    from capsa.container.stopping import ACTIVE, monitor_alive

    with records.lock(container_id).exclusive() as lock:
        status = records.state(container_id).status
        if not by_monitor and status in ACTIVE and monitor_alive(records, container_id):
            raise _active(container_id, status)
        with store.writing():
            if layer_id and store.driver.exists(layer_id):
                # Nothing runs in a stopped container: a reference still held on its layer was left
                # by a start that died between mounting it and handing it to a monitor. (As podman's rm.)
                store.driver.unmount(layer_id, force=True)
                store.layers.remove(layer_id)
            elif layer_id:
                store.layers.forget(layer_id)  # its data went already
            records.remove(container_id, held=lock)
