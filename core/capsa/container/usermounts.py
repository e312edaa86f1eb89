"""``capsa mount``'s references on a container's writable layer (podman's ``mount`` and
``unmount``): each one is a reference the storage driver counts, noted in the container's run dir
(:meth:`ContainerRecords.user_mounts`, volatile like the counts; ``system check`` leaves such a
mount alone). The reference a running container's monitor holds is never given back here.

Lock order, as ``start``'s: the container's lock (held by the caller), then the store lock."""
from __future__ import annotations

import os

from capsa.container.model import ContainerConfig
from capsa.container.records import ContainerRecords

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.store.store import Store


def mount(store: Store, records: ContainerRecords, config: ContainerConfig) -> str:
    """Take one more reference on the container's layer (the caller holds its lock) and return
    where its root filesystem is."""
    with store.writing():
        records.config(config.id)  # (still there: rm removes the layer under the store lock)
        path = os.path.realpath(store.driver.mount(config.layer_id))
        try:
            records.set_user_mounts(config.id, records.user_mounts(config.id) + 1, path)
        except BaseException:
            store.driver.unmount(config.layer_id)
            raise
    return path


def unmount(store: Store, records: ContainerRecords, config: ContainerConfig, force: bool = False) -> None:
    """Give back one reference :func:`mount` took (``force``: every one); the caller holds the
    container's lock and has checked that it does not run."""
    count = records.user_mounts(config.id)
    if not count:
        return
    with store.writing():
        store.driver.unmount(config.layer_id, force=force)
        left = 0 if force else count - 1
        records.set_user_mounts(config.id, left, records.user_mount_path(config.id))


def mountpoint(records: ContainerRecords, config: ContainerConfig) -> str:
    """Where the container's root filesystem is mounted, read from its run dir without a lock
    or a mount: ``mount``'s path, else a running container's bundle root; "" when neither."""
    path = records.user_mount_path(config.id)
    if path:
        return path
    from capsa.fastpath.jsonio import loads

    try:
        with open(records.run_dir(config.id, "bundle", "config.json"), "rb") as fh:
            root = loads(fh.read()).get("root") or {}
    except (OSError, ValueError, AttributeError):
        return ""
    return os.path.realpath(root["path"]) if isinstance(root, dict) and root.get("path") else ""
