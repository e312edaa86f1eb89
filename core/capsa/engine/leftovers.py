"""Leftovers of interrupted commands, found and repaired (``system check [--repair]``), and which
containers something is looking after right now (a living monitor, or a command holding the
container's lock): what ``system check`` and every prune must leave alone."""
from __future__ import annotations

from dataclasses import dataclass
import os
import shutil
import time
from typing import TYPE_CHECKING, Any

from capsa.container.monitor_lock import holder
from capsa.errors import StorageError

if TYPE_CHECKING:
    from capsa.engine.session import Session


START_GRACE = 60.0  # seconds a started container may take to reach its monitor


@dataclass
class Finding:
    kind: str
    what: str
    repaired: bool = False


def monitors(records: Any) -> dict[str, int]:
    """Container id -> pid of every living monitor of this store: the holders of the containers'
    monitor locks (:mod:`capsa.container.monitor_lock`; a pre-forked monitor that has no
    container yet holds none and is nobody's). A pid of -1: held, pid not written yet."""
    found: dict[str, int] = {}
    if not os.path.isdir(records.runroot):
        return found
    for entry in os.scandir(records.runroot):
        pid = holder(entry.path) if entry.is_dir() else 0
        if pid:
            found[entry.name] = pid
    return found


def active_statuses() -> tuple[str, ...]:
    """Record statuses that mean a monitor is in charge."""
    from capsa.container.stopping import ACTIVE

    return ACTIVE


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return pid > 0 and fh.read().rpartition(b")")[2].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return False


def _lock_held(records: Any, container_id: str) -> bool:
    """Whether a command holds the container's lock right now (e.g. a start in progress)."""
    import fcntl

    try:
        fd = os.open(records.lock(container_id).path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def live_containers(records: Any) -> set[str]:
    """Ids of the containers something is looking after: a living monitor (whatever the record
    says: it may be starting, restarting or tearing down) or a command holding its lock."""
    live = set(monitors(records))
    if os.path.isdir(records.root):
        for entry in os.scandir(records.root):
            if entry.name.startswith(".") and entry.name.endswith(".lock"):
                cid = entry.name[1:-len(".lock")]
                if cid not in live and _lock_held(records, cid):
                    live.add(cid)
    return live


def check(sess: Session, repair: bool) -> list[Finding]:
    """Find (and with ``repair`` fix) what interrupted commands left behind.

    Everything is looked at first without changing anything; with ``repair`` the store part is
    then fixed under the store's exclusive lock (whose taking already runs the store's own
    recovery: half-written blobs, incomplete layers, blobs nothing refers to)."""
    from capsa.container.logs import timestamp
    from capsa.engine.session import container_records, open_store

    from capsa.engine.repair import check_records

    store = open_store(sess)
    records = container_records(sess)
    findings, index_ok = check_records(sess, store, records, repair)  # unreadable records first
    live = live_containers(records)
    configs = records.all()
    dead: list[Any] = []  # recorded as running, monitor gone
    for config in configs:
        state = records.state(config.id)
        if state.status in active_statuses() and config.id not in live:
            dead.append(config)
            f = Finding("container", f"container {config.name} ({config.id[:12]}) is recorded {state.status} "
                                     "but its monitor is gone")
            if repair:  # its process, if still there, is killed below (gc): 137; else the code is unknown
                from capsa.container.removal import detach_orphan_network

                detach_orphan_network(sess, config)  # (delete follows every add: capsa.container.netattach)
                from capsa.container.volumes import release_volumes

                release_volumes(sess.config.root, records, config.id, config.mounts)  # (the last user unmounts)
                records.update_state(config.id, status="exited", pid=0, exit_code=137 if _running(state.pid) else -1,
                                     finished_at=state.finished_at or timestamp(),
                                     error="its monitor died; repaired by system check")
                f.repaired = True
            findings.append(f)
    findings += _pause_checks(sess, records, configs, repair)
    iso = sess.driver("isolation")
    gc = getattr(iso, "gc", None)
    if gc is not None:  # runtime leftovers: state and cgroups of containers that are not running
        # (the live set taken again right before: a container started since counts as live)
        for item in gc(live_containers(records), dry_run=not repair):
            findings.append(Finding("runtime", item, repaired=repair))
    findings += _network_checks(sess, records, configs, live)
    if repair:
        findings += _network_gc(sess, live_containers(records))
    if store.exists() and index_ok:
        with store.reading():  # no create or rm is half-way while the lock is held
            problems = _half_records(records, live) + _store_problems(store, records, live)
        findings += [Finding(kind, what) for kind, what, _ in problems]
        if repair and problems:
            with store.writing():  # taking it runs store.recover() (blobs, incomplete layers)
                _repair_store(store, records)
            for f in findings[-len(problems):]:
                f.repaired = True
    if repair:
        for config in dead:  # --rm containers whose monitor died before removing them
            if config.remove and os.path.exists(records.dir(config.id)):
                from capsa.container import removal

                removal.remove_stopped(store, records, config.id, config.layer_id)
    return findings


def _pause_checks(sess: Session, records: Any, configs: list[Any], repair: bool) -> list[Finding]:
    """Containers whose record says ``paused`` with a thawed cgroup, or ``running`` with a frozen
    one (a pause or unpause killed between the freezer and the record). Repaired by making the
    record follow the kernel (``unpause`` thaws either way). Checked under the container's lock;
    a container whose lock is held is being paused or stopped right now and is left alone."""
    from capsa.container.isodriver import isolation_driver
    from capsa.container.pausing import frozen
    from capsa.container.stopping import monitor_alive
    from capsa.errors import CapsaError

    found = []
    for config in configs:
        if records.state(config.id).status not in ("running", "paused") or _lock_held(records, config.id):
            continue
        try:
            with records.lock(config.id).exclusive():
                state = records.state(config.id)
                if state.status not in ("running", "paused") or not monitor_alive(records, config.id):
                    continue
                kernel = frozen(isolation_driver(sess, config), config.id)
                if kernel is None or kernel == (state.status == "paused"):
                    continue
                f = Finding("container", f"container {config.name} ({config.id[:12]}) is recorded {state.status} "
                                         f"but its cgroup is {'frozen' if kernel else 'thawed'}")
                if repair:
                    state.status = "paused" if kernel else "running"
                    records.set_state(config.id, state)
                    f.repaired = True
                found.append(f)
        except CapsaError:
            continue  # gone meanwhile, or its driver unreadable
    return found


def _network_checks(sess: Session, records: Any, configs: list[Any], live: set[str]) -> list[Finding]:
    """The network driver's ``check`` of every running container (CNI's CHECK): what its
    ``add`` set up must still be in place. Not repaired here (restarting the container is)."""
    from capsa.drivers import load_driver
    from capsa.drivers.network import Attachment
    from capsa.errors import CapsaError, OperationNotSupported

    cfg = sess.config
    drivers: dict[str, Any] = {}
    findings = []
    for config in configs:
        state = records.state(config.id)
        if state.status != "running" or config.id not in live or not state.pid or not config.network \
                or config.network.startswith("container:"):  # (its network is the joined container's)
            continue
        try:
            if config.network not in drivers:
                drivers[config.network] = load_driver("network", config.network, cfg.driver_options("network", config.network),
                                                      root=cfg.root, runroot=cfg.runroot)
            netns = None if config.network == "host" else f"/proc/{state.pid}/ns/net"
            if not config.extra.get("first_network_detached"):  # (network disconnect took it away)
                drivers[config.network].check(Attachment(container_id=config.id, container_name=config.name, netns=netns,
                                                          network=config.extra.get("network_definition") or {}))
            for entry in config.extra.get("connected_networks") or []:  # (`network connect`: ethN)
                drivers[config.network].check(Attachment(container_id=config.id, container_name=config.name, netns=netns,
                                                          interface=entry.get("interface") or "eth1",
                                                          network=entry.get("definition") or {}))
        except OperationNotSupported:
            continue
        except CapsaError as exc:
            # (not one that just exited: its process gone, its monitor not done recording it)
            if records.state(config.id).status == "running" and os.path.exists(f"/proc/{state.pid}/ns/net"):
                findings.append(Finding("network", f"container {config.name} ({config.id[:12]}): network "
                                                   f"{config.network}: {exc.message}"))
    return findings


def _network_gc(sess: Session, live: set[str]) -> list[Finding]:
    """Every installed network driver's ``gc(live)``: what a container left holding (an
    address, a veth) when its monitor and the command reaping it were both killed."""
    from capsa.drivers import load_driver
    from capsa.entrypoints import DRIVER_GROUPS, entries_in
    from capsa.errors import CapsaError, DriverNotSupported, OperationNotSupported

    cfg = sess.config
    findings = []
    for name in sorted({e.name for e in entries_in(DRIVER_GROUPS["network"])}):
        try:
            load_driver("network", name, cfg.driver_options("network", name), root=cfg.root,
                        runroot=cfg.runroot).gc(live)
        except (DriverNotSupported, OperationNotSupported):
            continue  # not usable here, or holds nothing it can collect
        except CapsaError as exc:
            findings.append(Finding("network", f"network driver {name}: gc: {exc.message}"))
        except Exception as exc:  # a third-party driver's gc failing must not stop the check
            findings.append(Finding("network", f"network driver {name}: gc: {exc}"))
    return findings


def _half_records(records: Any, live: set[str]) -> list[tuple[str, str, str]]:
    """Container record directories without a config (a create or rm that was killed); look
    at them under the store lock, which create and rm hold while they write records."""
    out = []
    if os.path.isdir(records.root):
        for entry in os.scandir(records.root):
            half = entry.name.startswith(".") and entry.name.endswith(".removing")
            cid = entry.name[1:-len(".removing")] if half else entry.name
            if not entry.is_dir() or (entry.name.startswith(".") and not half) or cid in live:
                continue
            if half or not os.path.exists(os.path.join(entry.path, "config.json")):
                out.append(("container", f"half-{'removed' if half else 'created'} container record {cid[:12]}",
                            entry.path))
    return out


def _container_layers(records: Any) -> dict[str, str]:
    """Writable layer id -> container id, for every recorded container."""
    return {c.layer_id: c.id for c in records.all() if c.layer_id}


def _mount_problems(store: Any, records: Any, live: set[str]) -> list[tuple[str, str, str]]:
    """(kind, what, layer id) for mounts and mount counts under the storage driver that no
    living container uses."""
    from capsa.linux import mounts_under

    owners = _container_layers(records)

    def idle(layer_id: str) -> bool:
        cid = owners.get(layer_id)
        if cid is None:
            return True
        if cid in live or _lock_held(records, cid) or cid in monitors(records) or records.user_mounts(cid):
            return False  # (``capsa mount`` keeps a stopped container's layer mounted on purpose)
        # a start hands the container to its monitor just after writing the bundle: not stale yet
        try:
            written = os.stat(records.run_dir(cid, "bundle", "config.json")).st_mtime
        except OSError:
            return True
        return records.state(cid).status != "created" or time.time() - written > START_GRACE

    out = []
    home = str(store.driver.context.home)
    mounted = set()
    for point in mounts_under(home):
        layer_id = os.path.relpath(point, os.path.realpath(home)).split("/")[0]
        mounted.add(layer_id)
        if idle(layer_id):
            out.append(("mount", f"stale mount {point}", layer_id))
    counter = getattr(store.driver, "counter", None)
    if counter is not None:
        for layer_id, count in counter.all().items():
            if count and layer_id not in mounted and idle(layer_id):
                out.append(("mount", f"stale mount count ({count}) of layer {layer_id[:12]}, which is not mounted",
                            layer_id))
    return out


def _store_problems(store: Any, records: Any, live: set[str]) -> list[tuple[str, str, str]]:
    """What is wrong in the store (read under the shared lock): (kind, what, object id)."""
    out: list[tuple[str, str, str]] = []
    layers = store.layers.records.load()
    for layer in layers:
        if layer.incomplete:
            out.append(("layer", f"half-extracted layer {layer.id[:12]}", layer.id))
    if os.path.isdir(store.blobs.ingest):
        for entry in os.scandir(store.blobs.ingest):
            out.append(("blob", f"half-written blob {entry.name}", entry.name))
    if os.path.isdir(store.blobs.dir):
        for entry in os.scandir(store.blobs.dir):
            if entry.name != os.path.basename(store.blobs.ingest) and len(entry.name) != 64:
                out.append(("blob", f"stray file {entry.name} among the blobs", entry.name))
    used = store.blobs_in_use()
    for digest in sorted(store.blobs.digests()):
        if digest not in used:
            out.append(("blob", f"blob {digest[:19]} is used by no image or layer", digest))
    known = {layer.id for layer in layers}
    for layer_id in sorted(set(store.driver.list_layers()) - known):
        out.append(("layer", f"storage driver layer {layer_id[:12]} has no record", layer_id))
    owners = _container_layers(records)
    standing = store.layers_in_use()
    for layer in layers:
        if not layer.incomplete and layer.blob is None and layer.id not in owners:
            out.append(("layer", f"container layer {layer.id[:12]} belongs to no container", layer.id))
        elif not layer.incomplete and layer.blob is not None and layer.id not in standing:
            out.append(("layer", f"image layer {layer.id[:12]} is used by no image or container", layer.id))
    out += _mount_problems(store, records, live)
    return out


def _repair_store(store: Any, records: Any) -> None:
    """Fix what _store_problems finds; the caller holds the store lock exclusively (so no
    command is mounting or creating layers, except container starts, checked again here)."""
    from capsa.linux import MNT_DETACH, mounts_under, umount

    live = live_containers(records)
    for _, _, path in _half_records(records, live):
        shutil.rmtree(path, ignore_errors=True)
    counter = getattr(store.driver, "counter", None)
    for _, _, layer_id in _mount_problems(store, records, live):
        try:
            if counter is not None:
                with counter.lock.exclusive():
                    for point in mounts_under(str(store.driver.context.home / layer_id)):
                        umount(point, MNT_DETACH)
                    counter.set(layer_id, 0)
            else:
                for point in mounts_under(str(store.driver.context.home / layer_id)):
                    umount(point, MNT_DETACH)
        except OSError as exc:
            raise StorageError(f"cannot unmount layer {layer_id}: {exc.strerror}",
                               hint="see which process uses it (fuser -m) and retry") from None
    layers = store.layers.records.load()
    known = {layer.id for layer in layers}
    for layer_id in sorted(set(store.driver.list_layers()) - known):
        store.driver.remove(layer_id)
    owners = _container_layers(records)
    for layer in layers:
        if not layer.incomplete and layer.blob is None and layer.id not in owners:
            store.layers.remove(layer.id)
    store.collect_garbage()  # the image layers the removed ones stood on, and their blobs
