"""``diff`` and ``export``: what changed in a container's (or an image's) filesystem against its
parent layer, through the storage driver's ``changes``; and a container's whole filesystem as
one tar stream, written by the layer tar writer the storage drivers' ``diff`` uses
(:mod:`capsa.store.tarwrite`), for running and stopped containers alike.

``diff`` holds the store's shared lock while it reads a layer (as ``save`` does), so no ``rm``
or ``rmi`` removes it meanwhile. ``export`` holds it only while it pins the container (its lock,
shared: ``rm`` takes it before the layer goes; and a mount reference), never while it writes.
A layer that is not mounted is mounted for the duration and released again (mounts are
reference counted: a running container's stays as it was).
"""
from __future__ import annotations

from capsa.engine.session import container_records, open_store
from capsa.errors import StorageError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager, ExitStack
    from typing import BinaryIO, Literal

    from capsa.container.model import ContainerConfig
    from capsa.drivers.storage import Change
    from capsa.engine.session import Session
    from capsa.store.store import Store

    Kind = Literal["all", "container", "image"]

#: Paths every container's root gets from the engine or runtime (podman's ``initInodes``),
#: left out of ``diff`` as podman does.
INIT_PATHS = frozenset({"dev", "etc/hostname", "etc/hosts", "etc/resolv.conf", "etc/mtab", "proc", "run",
                        "run/notify", "run/.containerenv", "run/secrets", "sys"})


class NoSuchObject(StorageError):
    """Neither an image nor a container has that name or id (``diff``)."""


def _layer_of(sess: Session, store: Store, ref: str, kind: Kind) -> str | None:
    """The layer ``ref`` stands for: an image's top layer (podman looks images up first), else a
    container's writable layer. None for an image without layers. Raises when there is none."""
    from capsa.errors import ImageNotFound

    if kind in ("all", "image"):
        try:
            return store.find_image(ref).top_layer
        except ImageNotFound:
            if kind == "image":
                raise
    try:
        config = container_records(sess).find(ref)
    except StorageError:
        if kind == "container":
            raise
        raise NoSuchObject(f"{ref} not found: no such object",
                           hint="give a container or an image (capsa ps -a, capsa images)") from None
    return container_layer(config)


def container_layer(config: ContainerConfig) -> str:
    """The container's writable layer; a container without one (``--rootfs``) is refused."""
    if not config.layer_id:
        raise UsageError(f"container {config.name} has no layer of its own: it runs on the directory {config.rootfs}",
                         hint="look at that directory itself")
    return config.layer_id


def diff(sess: Session, ref: str | None, other: str | None = None, kind: Kind = "all",
         latest: bool = False) -> list[Change]:
    """``diff``: the changes of ``ref`` (or the newest container with ``latest``) against its
    parent layer, or against ``other``'s layer when given, sorted by path, podman's init paths
    left out."""
    store = open_store(sess)
    with store.reading():
        if latest:
            from capsa.engine.containers import find

            newest = find(sess, None, latest=True)
            if not newest:
                raise UsageError("no containers to act on with --latest", hint="create one first (capsa create)")
            layer = container_layer(newest[0])
        else:
            assert ref is not None
            layer = _layer_of(sess, store, ref, kind)
        if other is not None:
            parent = _layer_of(sess, store, other, kind)
        else:
            parent = store.layers.get(layer).parent if layer else None
        if layer is None:
            return []
        return without_init_paths(store.driver.changes(layer, parent))


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def without_init_paths(changes: list[Change]) -> list[Change]:
    """``changes`` without :data:`INIT_PATHS`, and without the directories reported modified only
    as their ancestors (``/etc`` for the ``/etc/hosts`` the runtime made), so that a container
    nothing wrote to has an empty diff."""
    dropped = [c.path for c in changes if c.path in INIT_PATHS]
    kept = [c for c in changes if c.path not in INIT_PATHS]
    if not dropped:
        return kept
    holders = {a for p in dropped for a in _ancestors(p)}
    busy = {a for c in kept for a in _ancestors(c.path)}
    return [c for c in kept if not (c.kind == "modified" and c.path in holders and c.path not in busy)]


def check_output(path: str) -> None:
    """Refuse an ``-o`` name podman refuses (one with ``:``) before anything is looked up."""
    if ":" in path:
        raise UsageError(f"invalid filename (should not contain ':') {path!r}", hint="give a file name without ':'")


def export(sess: Session, ref: str, target: str | BinaryIO, before_writing: Callable[[], object] | None = None) -> int:
    """``export``: the container's whole filesystem as an uncompressed tar to ``target`` (a file
    path, see :func:`_output_file`, or a binary stream); returns the bytes written. An unknown
    container or an unwritable path fails before anything is written; ``before_writing`` (e.g.
    to flush a shared stdout) is called just before the archive starts.

    The ``-o`` file is opened before any lock is taken, and no store lock is held while the
    archive is written (a reader of our output may need the store: ``export c | import -``):
    the container stays pinned by its own lock, which ``rm`` takes before its layer goes, and
    by a mount reference."""
    from contextlib import ExitStack

    if isinstance(target, str):
        check_output(target)
    records = container_records(sess)
    config = records.find(ref)
    with ExitStack() as stack:
        out = stack.enter_context(_output_file(target)) if isinstance(target, str) else target
        root = pin(sess, config, stack)
        if not isinstance(target, str) and before_writing is not None:
            before_writing()
        return _write_tree(out, root)


def pin(sess: Session, config: ContainerConfig, stack: ExitStack) -> str:
    """The container's lock taken shared, then (only while its layer is mounted) the store's:
    the order of start and rm, which take the container's lock first. Both the lock and the
    mount are released by ``stack``; returns the root to archive."""
    import os

    store, records = open_store(sess), container_records(sess)
    lock = records.lock(config.id)
    lock.acquire(exclusive=False)
    stack.callback(lock.release)
    with store.reading():
        records.find(config.id)  # (an rm that came first: say so; none can come now)
        if not config.layer_id:
            return os.path.realpath(config.rootfs)
        store.layers.get(config.layer_id)  # (a record whose layer went: say so, write nothing)
        root = str(store.driver.mount(config.layer_id))
        stack.callback(store.driver.unmount, config.layer_id)  # (no store lock needed: it is pinned)
        return root


def _write_tree(out: BinaryIO, root: str) -> int:
    """Every path under ``root`` (a mounted layer, perhaps a running container's: see
    :mod:`capsa.store.treetar`)."""
    from capsa.store.tarstream import out_of_space
    from capsa.store.treetar import write_tree_tar

    with out_of_space("writing the exported container", hint="free space where the archive is written"):
        return write_tree_tar(out, root)


def _output_file(path: str) -> AbstractContextManager[BinaryIO]:
    """The file ``-o`` names (:func:`capsa.image.archives.output_file`, as ``save`` writes it)."""
    from capsa.image.archives import output_file

    return output_file(path)  # type: ignore[no-any-return]
