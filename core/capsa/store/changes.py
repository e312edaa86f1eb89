"""What changed in a layer: a naive two-tree diff (vfs) and an overlay upper-dir reader (overlay).

Both return ``Change`` lists sorted by path (plain string order, which puts every parent before its
children); paths are relative, ``/``-separated, never the root itself. Symlinks are never followed
and every entry is taken literally: in :func:`tree_changes` a 0:0 character device is a device and
a ``.wh.`` name is a name; only :func:`overlay_changes` gives overlayfs markers their meaning.

Semantics follow docker/containers-storage ``archive.ChangesDirs`` (moby pkg/archive/changes.go):

* a path is *modified* when its type or mode bits, owner, device number (devices), symlink target
  or exported xattrs differ, or, for non-directories, its size or mtime (ns) differ. File contents
  are never read: equal size and mtime mean unchanged, as in containers/storage.
* a directory's own size and mtime are not compared (moby#9874: they change whenever a child is
  created and removed again). Instead every ancestor directory of a change is reported as
  *modified*, whatever its metadata, so the layer tar carries its mode, owner and mtime.
* a deleted directory is reported once; its children are not. A directory that replaced a
  non-directory is *modified* and all its children *added*; a non-directory that replaced a
  directory is *modified* (extracting it removes the old directory and everything under it).
* the layer root itself is never reported.
"""
from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from capsa.drivers.storage import Change
from capsa.errors import StorageError

#: xattrs never compared nor exported: overlayfs's own bookkeeping and host SELinux labels.
SKIPPED_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")
SKIPPED_XATTRS = frozenset({"security.selinux"})
OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
#: Upper-dir xattrs meaning the upper dir alone does not hold a path's data or origin.
_UNSUPPORTED_OVERLAY_XATTRS = ("overlay.metacopy", "overlay.redirect")

_Stack = list[tuple[str, list[Path]]]


def exported_xattr(name: str) -> bool:
    """Whether an xattr belongs to a file's content (compared and written to layer tars)."""
    return name not in SKIPPED_XATTRS and not name.startswith(SKIPPED_XATTR_PREFIXES)


def _list_xattrs(path: str | os.PathLike[str]) -> list[str]:
    try:
        return os.listxattr(path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return []
        raise


def read_xattrs(path: str | os.PathLike[str]) -> dict[str, bytes]:
    """The exported xattrs of ``path`` (not following a symlink), by name; {} where unsupported."""
    out: dict[str, bytes] = {}
    for name in _list_xattrs(path):
        if not exported_xattr(name):
            continue
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError as exc:
            if exc.errno != errno.ENODATA:  # removed between list and get
                raise
    return dict(sorted(out.items()))


def is_opaque(path: str | os.PathLike[str]) -> bool:
    """Whether the directory ``path`` carries overlayfs's opaque mark (``trusted.`` or ``user.``
    ``overlay.opaque`` = ``y``; the value ``x`` only means "has xwhiteouts" and is not opaque)."""
    for name in OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError as exc:
            if exc.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
    return False


def is_whiteout(st: os.stat_result) -> bool:
    """Whether ``st`` describes an overlayfs whiteout (a 0:0 character device)."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _child(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def _scan(path: Path) -> dict[str, os.DirEntry[str]]:
    with os.scandir(path) as it:
        return {entry.name: entry for entry in it}


def _differs(new: os.DirEntry[str], nst: os.stat_result, old: os.DirEntry[str], ost: os.stat_result) -> bool:
    """The metadata comparison of the module docstring (contents are never read)."""
    if nst.st_mode != ost.st_mode or nst.st_uid != ost.st_uid or nst.st_gid != ost.st_gid:
        return True
    mode = nst.st_mode
    if (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) and nst.st_rdev != ost.st_rdev:
        return True
    if not stat.S_ISDIR(mode) and (nst.st_size != ost.st_size or nst.st_mtime_ns != ost.st_mtime_ns):
        return True
    if stat.S_ISLNK(mode) and os.readlink(new.path) != os.readlink(old.path):
        return True
    return read_xattrs(new.path) != read_xattrs(old.path)


def _add_ancestors(changes: dict[str, str]) -> None:
    """Report every not yet reported ancestor directory of a change as modified (docker's rule)."""
    done: set[str] = set()
    for path in list(changes):
        parts = path.split("/")[:-1]
        for depth in range(len(parts), 0, -1):
            ancestor = "/".join(parts[:depth])
            if ancestor in done:
                break
            done.add(ancestor)
            changes.setdefault(ancestor, "modified")


def _sorted(changes: dict[str, str]) -> list[Change]:
    return [Change(path, kind) for path, kind in sorted(changes.items())]  # type: ignore[arg-type]


def tree_changes(layer: str | Path, parent: str | Path | None) -> list[Change]:
    """Changes from the tree ``parent`` to the tree ``layer`` (None: every path is added).

    Both trees must be quiescent while this runs. Raises StorageError if a tree cannot be read.
    """
    layer_root = Path(layer)
    parent_root = Path(parent) if parent is not None else None
    changes: dict[str, str] = {}
    stack: list[tuple[str, bool]] = [("", parent_root is not None)]
    try:
        while stack:
            rel, has_old = stack.pop()
            new = _scan(layer_root / rel)
            old = _scan(parent_root / rel) if has_old and parent_root is not None else {}
            for name, nentry in new.items():
                crel = _child(rel, name)
                oentry = old.pop(name, None)
                if oentry is None:
                    changes[crel] = "added"
                    if nentry.is_dir(follow_symlinks=False):
                        stack.append((crel, False))
                    continue
                nst = nentry.stat(follow_symlinks=False)
                ost = oentry.stat(follow_symlinks=False)
                if _differs(nentry, nst, oentry, ost):
                    changes[crel] = "modified"
                if stat.S_ISDIR(nst.st_mode):
                    stack.append((crel, stat.S_ISDIR(ost.st_mode)))
            for name in old:
                changes[_child(rel, name)] = "deleted"
    except OSError as exc:
        raise StorageError(f"cannot compare layer {layer_root} with {parent_root}: {exc}",
                           hint="the layer must not change while its diff is computed") from exc
    _add_ancestors(changes)
    return _sorted(changes)


def _check_upper(path: str, names: Iterable[str]) -> None:
    for name in names:
        if name.startswith(("trusted.", "user.")) and name.split(".", 1)[1].startswith(_UNSUPPORTED_OVERLAY_XATTRS):
            raise StorageError(f"overlay upper dir entry {path} carries {name}: its data lives in a lower layer",
                               hint="mount overlay layers with metacopy=off and redirect_dir=off")


def _lower_children(lowers: list[Path], crel: str, upper_is_dir: bool) -> tuple[bool, list[Path]]:
    """Whether ``crel`` exists in the merged lower view of ``lowers`` (the layers that hold its
    parent directory, top-most first), and the layers whose ``crel`` directory merges under an
    upper directory at ``crel``."""
    exists = False
    merged: list[Path] = []
    for lower in lowers:
        path = lower / crel
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if is_whiteout(st):
            break  # hides this path in every deeper layer
        exists = True
        if not (upper_is_dir and stat.S_ISDIR(st.st_mode)):
            break  # a non-directory hides deeper layers; nothing merges under the upper entry
        merged.append(lower)
        if is_opaque(path):
            break
    return exists, merged


def overlay_changes(diff_dir: str | Path, lower_dirs: list[str | Path]) -> list[Change]:
    """Changes recorded in an overlay upper dir ``diff_dir`` over ``lower_dirs`` (top-most first).

    A 0:0 character device is *deleted*; any other entry is *modified* when the merged lower
    view (honouring the lowers' own whiteouts and opaque dirs) has that path, else *added*. An
    opaque directory is reported like any directory; :func:`overlay_opaque_dirs` lists them for
    the tar. Children hidden by an opaque directory are not reported. Only ``diff_dir`` is walked;
    the lowers are only looked up. Raises StorageError on a metacopy or redirect entry (the upper
    dir alone would not describe it) or if a directory cannot be read.
    """
    root = Path(diff_dir)
    lowers = [Path(p) for p in lower_dirs]
    changes: dict[str, str] = {}
    stack: _Stack = [("", lowers if not is_opaque(root) else [])]
    try:
        while stack:
            rel, merged = stack.pop()
            for name, entry in _scan(root / rel).items():
                crel = _child(rel, name)
                st = entry.stat(follow_symlinks=False)
                if is_whiteout(st):
                    changes[crel] = "deleted"
                    continue
                _check_upper(entry.path, _list_xattrs(entry.path))
                is_dir = stat.S_ISDIR(st.st_mode)
                exists, below = _lower_children(merged, crel, is_dir)
                changes[crel] = "modified" if exists else "added"
                if is_dir:
                    stack.append((crel, [] if is_opaque(entry.path) else below))
    except OSError as exc:
        raise StorageError(f"cannot read overlay upper dir {root}: {exc}",
                           hint="the layer must not change while its diff is computed") from exc
    _add_ancestors(changes)  # a no-op for a real upper dir, which holds every ancestor
    return _sorted(changes)


def overlay_opaque_dirs(diff_dir: str | Path) -> set[str]:
    """Relative paths of the directories under the upper dir ``diff_dir`` marked opaque."""
    root = Path(diff_dir)
    found: set[str] = set()
    stack = [""]
    try:
        while stack:
            rel = stack.pop()
            for name, entry in _scan(root / rel).items():
                if entry.is_dir(follow_symlinks=False):
                    crel = _child(rel, name)
                    if is_opaque(entry.path):
                        found.add(crel)
                    stack.append(crel)
    except OSError as exc:
        raise StorageError(f"cannot read overlay upper dir {root}: {exc}") from exc
    return found
