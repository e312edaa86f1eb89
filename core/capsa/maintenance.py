"""``system check``, ``system df``, ``system prune`` and ``system reset``: the store as a whole."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capsa.errors import CapsaError

if TYPE_CHECKING:
    from capsa.cli.state import Session


@dataclass
class Finding:
    kind: str
    what: str
    repaired: bool = False


def _records(sess: Session) -> Any:
    from capsa.container.records import ContainerRecords

    return ContainerRecords(sess.config.root, sess.config.runroot)


def check(sess: Session, repair: bool) -> list[Finding]:
    """Find (and with ``repair`` fix) what interrupted commands left behind."""
    from capsa.cli.state import open_store
    from capsa.container import lifecycle
    from capsa.linux import MNT_DETACH, mounts_under, umount

    store = open_store(sess)
    records = _records(sess)
    findings: list[Finding] = []
    if not store.exists():
        return findings
    # Containers whose monitor is gone while they are recorded as running.
    live: set[str] = set()
    for config in records.all():
        state = records.state(config.id)
        if state.status in ("running", "stopping", "paused"):
            if lifecycle._alive(state.monitor_pid):
                live.add(config.id)
                continue
            f = Finding("container", f"container {config.name} ({config.id[:12]}) is recorded {state.status} but its monitor is gone")
            if repair:
                records.update_state(config.id, status="exited", pid=0, error="its monitor died; repaired by system check")
                f.repaired = True
            findings.append(f)
    if records.root.is_dir():  # half-created records
        for entry in os.scandir(records.root):
            if entry.is_dir() and not entry.name.startswith(".") and not os.path.exists(os.path.join(entry.path, "config.json")):
                f = Finding("container", f"half-created container record {entry.name[:12]}")
                if repair:
                    records.remove(entry.name)
                    f.repaired = True
                findings.append(f)
    iso = sess.driver("isolation")
    gc = getattr(iso, "gc", None)
    if gc is not None:  # runtime leftovers: state and cgroups of containers that are not running
        for item in gc(live, dry_run=not repair):
            findings.append(Finding("runtime", item, repaired=repair))
    with store.writing() if repair else store.reading():
        layers = store.layers.records.load()
        for layer in layers:
            if layer.incomplete:
                findings.append(Finding("layer", f"half-extracted layer {layer.id[:12]}", repaired=repair))
        stray = [p for p in (store.blobs.ingest.iterdir() if store.blobs.ingest.is_dir() else [])]
        for path in stray:
            findings.append(Finding("blob", f"half-written blob {path.name}", repaired=repair))
        known = {layer.id for layer in layers}
        in_use = {c.layer_id for c in records.all() if c.id in live and c.layer_id}
        driver_layers = set(store.driver.list_layers())
        for layer_id in sorted(driver_layers - known):
            f = Finding("layer", f"storage driver layer {layer_id[:12]} has no record")
            if repair:
                store.driver.remove(layer_id)
                f.repaired = True
            findings.append(f)
        for point in mounts_under(str(store.driver.context.home)):
            layer_id = Path(point).parent.name
            if layer_id not in in_use:
                f = Finding("mount", f"stale mount {point}")
                if repair:
                    umount(point, MNT_DETACH)
                    counter = getattr(store.driver, "counter", None)
                    if counter is not None:
                        counter.set(layer_id, 0)
                    f.repaired = True
                findings.append(f)
        if repair:
            store.recover()
    return findings


def _dir_size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def disk_usage(sess: Session) -> list[dict[str, Any]]:
    """Rows of ``system df``: images, containers, local volumes."""
    from capsa.cli.state import open_store
    from capsa.container.views import effective_status
    from capsa.container.volumes import VolumeStore

    store = open_store(sess)
    records = _records(sess)
    containers = records.all()
    running = [c for c in containers if effective_status(records, c).status in ("running", "stopping", "paused")]
    with store.reading():
        images = store.images.all()
        used_images = {c.image_id for c in containers}
        image_size = sum(i.size for i in images)
        unused_size = sum(i.size for i in images if i.id not in used_images)
        layers = {layer.id: layer for layer in store.layers.all()}
    container_size = 0
    for c in containers:
        if c.layer_id in layers:
            try:
                container_size += store.driver.diff_size(c.layer_id, layers[c.layer_id].parent)
            except CapsaError:
                pass
    volumes = VolumeStore(sess.config.root).all()
    used_volumes = {m.source for c in containers for m in c.mounts if m.type == "volume"}
    sizes = {v["Name"]: _dir_size(Path(v["Mountpoint"])) for v in volumes}

    def row(kind: str, total: int, active: int, size: int, reclaimable: int) -> dict[str, Any]:
        return {"Type": kind, "Total": total, "Active": active, "RawSize": size, "RawReclaimable": reclaimable}

    stopped_size = container_size if not running else 0
    return [
        row("Images", len(images), len(used_images & {i.id for i in images}), image_size, unused_size),
        row("Containers", len(containers), len(running), container_size, stopped_size),
        row("Local Volumes", len(volumes), len(used_volumes & set(sizes)), sum(sizes.values()),
            sum(s for n, s in sizes.items() if n not in used_volumes)),
    ]


def reset(sess: Session) -> None:
    """Stop and remove every container, then delete the whole store (root and runroot)."""
    from capsa.container import lifecycle
    from capsa.linux import MNT_DETACH, mounts_under, umount

    records = _records(sess)
    for config in records.all():
        state = records.state(config.id)
        if state.status in ("running", "stopping", "paused") and lifecycle._alive(state.monitor_pid):
            lifecycle.stop(sess, records, config, 0, "SIGKILL")
            lifecycle.wait_monitor_gone(records, config)
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
