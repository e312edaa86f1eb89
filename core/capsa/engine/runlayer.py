"""A RUN step's layer without the engine's placeholders (buildah's rule).

Running a container leaves in its writable layer the empty files the runtime bind-mounts over
(``/etc/hostname``, ``/etc/hosts``, ``/etc/resolv.conf``, ``/run/.containerenv``: the regular
files of :data:`capsa.engine.containerfs.INIT_PATHS`) and the directories holding them, when
the image lacks them. A build step must not carry them, so :func:`run_diff` leaves out of the
step's diff each such path the parent lacks (the driver reports it *added*) that is still an
empty regular file, and then each directory that held only what was left out: added by the
runtime, or reported *modified* only as their holder (as ``diff`` does, see
:func:`capsa.engine.containerfs.without_init_paths`). A RUN that wrote one of these files keeps
it (it is not empty, or the image had it), and so does the directory around it. The tar is
copied member by member, byte for byte, so identical trees still give identical layers.
"""
from __future__ import annotations

import tarfile
import tempfile
from typing import BinaryIO

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.store.layers import Layer
    from capsa.store.store import Store

PLACEHOLDERS = frozenset({"etc/hostname", "etc/hosts", "etc/resolv.conf", "etc/mtab", "run/.containerenv"})


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def run_diff(store: Store, writable_layer_id: str, parent: Layer | None) -> BinaryIO:
    """The diff of a RUN container's ``writable_layer_id`` on ``parent`` (as
    :func:`capsa.image.committing.spool_diff` makes it) without the runtime's placeholders,
    positioned at its start, for a ``with`` block. Needs no store lock (as ``spool_diff``)."""
    from capsa.image.committing import spool_diff

    spool = spool_diff(store, writable_layer_id, parent)
    try:
        added = {c.path for c in store.driver.changes(writable_layer_id, parent.id if parent else None)
                 if c.kind == "added" and c.path in PLACEHOLDERS}
        if not added:
            return spool
        return _filtered(spool, added)
    except BaseException:
        spool.close()
        raise


def _filtered(spool: BinaryIO, candidates: set[str]) -> BinaryIO:
    """``spool`` (closed here) without the ``candidates`` that are empty regular files and the
    directories that held nothing else."""
    spool.seek(0)
    with tarfile.open(fileobj=spool, mode="r:") as tar:
        members = tar.getmembers()
        end = tar.offset  # (where the end-of-archive blocks start)
    names = [m.name.removeprefix("./").rstrip("/") for m in members]
    dropped = {n for n, m in zip(names, members) if n in candidates and m.isreg() and m.size == 0}
    if not dropped:
        spool.seek(0)
        return spool
    holders = {a for n in dropped for a in _ancestors(n)}
    busy = {a for n in names if n not in dropped for a in _ancestors(n)}
    dropped |= {n for n, m in zip(names, members) if n in holders and n not in busy and m.isdir()}
    out = tempfile.TemporaryFile(prefix="capsa-run-diff-")
    try:
        bounds = [m.offset for m in members] + [end]
        for i, (name, member) in enumerate(zip(names, members)):
            if name in dropped:
                continue
            spool.seek(member.offset)
            _copy(spool, out, bounds[i + 1] - member.offset)
        spool.seek(end)
        _copy(spool, out, -1)
        out.seek(0)
        return out  # type: ignore[return-value]
    except BaseException:
        out.close()
        raise
    finally:
        spool.close()


def _copy(src: BinaryIO, dst: BinaryIO, size: int) -> None:
    """``size`` bytes (-1: the rest) from ``src`` to ``dst``."""
    while size != 0:
        chunk = src.read(1 << 20 if size < 0 else min(size, 1 << 20))
        if not chunk:
            if size > 0:
                raise OSError(f"short diff: {size} bytes missing")
            return
        dst.write(chunk)
        if size > 0:
            size -= len(chunk)

