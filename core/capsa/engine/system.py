"""The system as a whole: ``info`` and ``version`` data, ``system df``, ``system prune`` and
``system reset``. (``system check`` is :mod:`capsa.engine.leftovers`.)"""
from __future__ import annotations

import os
import platform
import shutil
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capsa import __version__
from capsa.config import KINDS
from capsa.engine.leftovers import active_statuses, live_containers, monitors
from capsa.engine.session import container_records, open_store
from capsa.errors import CapsaError
from capsa.fastpath.record import field, record

if TYPE_CHECKING:
    from capsa.engine.session import Session


def version_data() -> dict[str, Any]:
    """What ``capsa version`` reports (podman's ``Client`` part)."""
    from capsa.hostinfo import go_arch

    from capsa.engine.sysinfo import podman_version

    return {
        "Client": {
            **podman_version(),
            "Version": __version__,
            "PythonVersion": platform.python_version(),
            "OsArch": f"linux/{go_arch()}",
            "Os": "linux",
        }
    }


def _driver_report(sess: Session, kind: str) -> dict[str, Any]:
    """Name and status of the selected driver; an unsupported host is a status, not an error."""
    from capsa.errors import DriverNotSupported

    name = sess.config.driver(kind)
    try:
        status = sess.driver(kind, discover=True).status()
    except DriverNotSupported as exc:
        status = {"ready": False, "detail": f"{exc.message} ({exc.hint})" if exc.hint else exc.message}
    return {"name": name, **status}


def _image_count(sess: Session) -> int:
    try:
        store = open_store(sess)
        with store.reading():
            return len(store.images.all())
    except CapsaError:
        return 0


def info_data(sess: Session) -> dict[str, Any]:
    """What ``capsa info`` reports: host, store, drivers, plugins, configuration files, version."""
    from capsa import plugins
    from capsa.entrypoints import HOOKS_GROUP, entries_in
    from capsa.engine.sysinfo import podman_host, podman_plugins, podman_store
    from capsa.hostinfo import cgroup_layout, go_arch, own_cgroups

    cfg = sess.config
    layout = cgroup_layout()
    drivers = {kind: _driver_report(sess, kind) for kind in KINDS}
    return {
        "host": {
            "arch": go_arch(),
            "os": "linux",
            "kernel": platform.release(),
            "hostname": socket.gethostname(),
            "cgroupVersion": layout.version,
            "cgroupMode": layout.mode,
            "cgroupControllers": sorted(layout.v2_controllers if layout.version == "v2" else layout.v1_controllers),
            "cgroupPaths": {(k or "unified"): v for k, v in own_cgroups().items()},
            "uid": os.getuid(),
            **podman_host(sess, drivers),
        },
        "store": {
            "graphRoot": str(cfg.root),
            "runRoot": str(cfg.runroot),
            "graphDriverName": drivers["storage"]["name"],
            "imageStore": {"number": _image_count(sess)},
            **podman_store(sess),
        },
        "registries": {},
        "drivers": drivers,
        "plugins": {
            **podman_plugins(sess),
            "hooks": [e.name for e in entries_in(HOOKS_GROUP)],
            "hooksLoaded": plugins.loaded_plugin_names(),
        },
        "configFiles": [str(p) for p in cfg.files],
        "version": version_data()["Client"],
    }


@record
class Pruned:
    """What ``system prune`` removed, and what it could not (one line per object)."""

    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    reclaimed: int = 0  # bytes: the containers' writable layers, the images, the volumes' files


PRUNE_FILTERS = ("label", "label!", "until")


def prune_filter(filters: list[str], hint: str = "") -> Any:
    """``system prune --filter`` (and ``container prune``'s): a test ``(labels, created) -> bool``
    of what may go (label=, label!=, until=; podman's "X is an invalid filter" for another key,
    with ``hint``)."""
    from capsa.engine.volumes import _label_match
    from capsa.errors import UsageError
    from capsa.humanize import parse_time
    from capsa.pod.views import until_cutoff

    tests = []
    for spec in filters:
        key, _, value = spec.partition("=")
        if key not in PRUNE_FILTERS:
            raise UsageError(f"{key} is an invalid filter", hint=hint or f"supported: {', '.join(PRUNE_FILTERS)}")
        if key == "label":
            tests.append(lambda labels, created, v=value: _label_match(v, labels))
        elif key == "label!":
            tests.append(lambda labels, created, v=value: not _label_match(v, labels))
        else:
            cutoff = until_cutoff(value)
            tests.append(lambda labels, created, c=cutoff: parse_time(created).timestamp() < c)
    return lambda labels, created: all(t(labels or {}, created) for t in tests)


def prune(sess: Session, all_images: bool, volumes: bool, filters: list[str] | None = None) -> Pruned:
    """Remove the stopped containers nothing is looking after, the unused images (dangling only
    unless ``all_images``), the user networks no container is on and, with ``volumes``, the
    volumes no container uses; ``filters`` (label=, label!=, until=) narrow each kind. A
    container that cannot be removed is reported in ``failed`` and does not stop the others."""
    from capsa.container import removal
    from capsa.container.views import effective_status

    filters = list(filters or [])
    allowed = prune_filter(filters)
    store, records = open_store(sess), container_records(sess)
    busy = live_containers(records)  # being started, restarted or torn down by a monitor or a command
    out = Pruned()
    for config in records.all():
        if (effective_status(records, config).status in ("created", "exited") and config.id not in busy
                and allowed(config.labels, config.created)):
            size = _layer_size(store, config.layer_id)
            try:
                removal.remove(sess, store, records, config, force=False)
            except CapsaError as exc:
                out.failed.append(f"container {config.name}: {exc.message}")
                continue
            out.containers.append(config.id)
            out.reclaimed += size
    from capsa.engine import networks

    label_filters = [f for f in filters if f.partition("=")[0] in ("label", "label!")]
    if not any(f.startswith("until=") for f in filters):
        out.networks = networks.prune(sess, label_filters)  # the user networks no container is on (as podman's)
    if store.exists():
        from capsa.engine.images import delete_unused

        keep = (lambda i, cfg: not allowed((cfg.get("config") or {}).get("Labels") or {}, i.created)) if filters else None
        deleted = delete_unused(store, records, all_images, keep)
        out.images = [i.id for i in deleted]
        out.reclaimed += sum(i.size for i in deleted)
    if volumes:
        from capsa.engine.volumes import prune as prune_volumes

        sizes: dict[str, int] = {}
        out.volumes = prune_volumes(sess, [f for f in filters if not f.startswith("label!=")], sizes)
        out.reclaimed += sum(sizes.values())
    return out


def _layer_size(store: Any, layer_id: str | None) -> int:
    """The bytes of a container's writable layer (0 when it has none or cannot be measured)."""
    if not layer_id:
        return 0
    try:
        return int(store.driver.diff_size(layer_id, store.layers.get(layer_id).parent))
    except (CapsaError, OSError):
        return 0


def disk_usage(sess: Session) -> list[dict[str, Any]]:
    """Rows of ``system df``: images, containers, local volumes."""
    from capsa.container.views import effective_status
    from capsa.container.volumes import VolumeStore
    from capsa.fsutil import tree_size

    store = open_store(sess)
    records = container_records(sess)
    containers = records.all()
    running = [c for c in containers if effective_status(records, c).status in active_statuses()]
    with store.reading():
        images = store.images.all()
        used_images = {c.image_id for c in containers}
        image_size = sum(i.size for i in images)
        unused_size = sum(i.size for i in images if i.id not in used_images)
        layers = {layer.id: layer for layer in store.layers.all()}
    running_ids = {c.id for c in running}
    container_size = stopped_size = 0
    for c in containers:
        if c.layer_id in layers:
            try:
                size = store.driver.diff_size(c.layer_id, layers[c.layer_id].parent)
            except CapsaError:
                continue
            container_size += size
            if c.id not in running_ids:
                stopped_size += size
    volumes = VolumeStore(sess.config.root).all()
    used_volumes = {m.source for c in containers for m in c.mounts if m.type == "volume"}
    sizes = {v["Name"]: tree_size(Path(v["Mountpoint"])) for v in volumes}

    def row(kind: str, total: int, active: int, size: int, reclaimable: int) -> dict[str, Any]:
        return {"Type": kind, "Total": total, "Active": active, "RawSize": size, "RawReclaimable": reclaimable}

    return [
        row("Images", len(images), len(used_images & {i.id for i in images}), image_size, unused_size),
        row("Containers", len(containers), len(running), container_size, stopped_size),
        row("Local Volumes", len(volumes), len(used_volumes & set(sizes)), sum(sizes.values()),
            sum(s for n, s in sizes.items() if n not in used_volumes)),
    ]


def reset(sess: Session) -> None:
    """Stop and remove every container, then delete the whole store (root and runroot)."""
    import signal

    from capsa.container.stopping import monitor_alive, stop, wait_monitor_gone
    from capsa.linux import MNT_DETACH, mounts_under, umount

    records = container_records(sess)
    for config in records.all():
        state = records.state(config.id)
        if state.status in active_statuses() and monitor_alive(records, config.id):
            try:
                stop(sess, records, config, 0, "SIGKILL")
            except CapsaError:
                pass
            wait_monitor_gone(records, config, timeout=10)
    # monitors still there (starting, restarting, or stuck): their containers' cgroups go below
    left = monitors(records)
    for pid in left.values():
        try:
            if pid > 0:  # (-1: the lock is held, its pid not written yet)
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while left and time.monotonic() < deadline:
        time.sleep(0.01)
        left = monitors(records)
    try:
        iso = sess.driver("isolation")
        gc = getattr(iso, "gc", None)
        if gc is not None:
            gc(set(), dry_run=False)
    except CapsaError:
        pass
    for path in (sess.config.root, sess.config.runroot):
        for point in mounts_under(str(path)):
            umount(point, MNT_DETACH)
        shutil.rmtree(path, ignore_errors=True)
