"""Path resolution that cannot leave a directory root: directory fds, openat style.

Names are split with ``split_member_path`` (empty and ``.`` components dropped, so leading ``/``
and ``./`` land inside the root; ``..`` anywhere is ArchiveError). ``Resolver.dir`` walks
components from the root fd with ``dir_fd`` calls only, never a path string the kernel resolves
on its own: symlinks met on the way are followed with chroot semantics (absolute targets restart
at the root, ``..`` stops there, at most ``MAX_SYMLINKS`` links), like openat2's
RESOLVE_IN_ROOT, and the answer is an O_PATH fd of a real directory with its canonical path (no
symlinks, relative to the root). Missing directories are made on request, except ones whose name
starts with the reserved prefix. The fds are cached; the caller reports removals with
``forget``, bounds the cache with ``trim`` between uses and releases it with ``close`` (the root
fd stays the caller's).
"""
from __future__ import annotations

import os
import stat
from collections.abc import Callable

from capsa.errors import ArchiveError

MAX_SYMLINKS = 40
_MAX_CACHED_FDS = 256
_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def split_member_path(name: str, what: str) -> list[str]:
    """Components of a member name or link target; ``..`` anywhere is ArchiveError."""
    parts = [p for p in name.split("/") if p and p != "."]
    if ".." in parts:
        raise ArchiveError(f"{what} {name!r} contains '..' and would leave the layer",
                           hint="the image is malformed or hostile; it was not extracted")
    return parts


def join_path(parent: str, name: str) -> str:
    """``name`` under the canonical path ``parent`` ("" is the root)."""
    return f"{parent}/{name}" if parent else name


class Resolver:
    """Directory fds under the root, looked up with chroot semantics and cached.

    ``_dirs`` maps canonical paths (real directories, no symlinks; closed under prefixes) to
    O_PATH fds; ``_raw`` maps parent paths as archives write them to answers and is dropped
    whenever a directory or symlink is removed.
    """

    def __init__(self, root: int, on_mkdir: Callable[[str], None], reserved: str) -> None:
        """``root``: the root directory fd (not closed here); ``on_mkdir``: told the canonical
        path of every directory made; ``reserved``: a name prefix never made a directory."""
        self.root, self._on_mkdir, self._reserved = root, on_mkdir, reserved
        self._dirs: dict[str, int] = {"": root}
        self._raw: dict[str, tuple[int, str]] = {}

    def close(self) -> None:
        """Close every cached fd but the root's."""
        self._raw.clear()
        dirs, self._dirs = self._dirs, {"": self.root}
        for fd in list(dirs.values())[1:]:
            os.close(fd)

    def trim(self) -> None:
        """Bound the fds held; only between members (it invalidates fds handed out)."""
        if len(self._dirs) > _MAX_CACHED_FDS:
            self.close()

    def forget(self, canon: str | None) -> None:
        """Drop what removing the directory ``canon`` invalidates (None: a symlink)."""
        self._raw.clear()
        if canon:
            for key in [k for k in self._dirs if k == canon or k.startswith(canon + "/")]:
                os.close(self._dirs.pop(key))

    def dir(self, parts: list[str], create: bool, member: str) -> tuple[int, str] | None:
        """(fd, canonical path) of the directory ``parts`` names. Missing directories are made
        if ``create``; otherwise a missing one or a non-directory on the way answers None. A
        non-directory when creating, or a symlink loop, is ArchiveError."""
        key = "/".join(parts)
        found = self._raw.get(key)
        if found is None and (found := self._walk(parts, create, member)) is not None:
            self._raw[key] = found
        return found

    def _walk(self, parts: list[str], create: bool, member: str) -> tuple[int, str] | None:
        pending, canon, fd, links = parts[::-1], "", self.root, 0
        while pending:
            comp = pending.pop()
            if comp in ("", "."):
                continue
            if comp == "..":  # only from symlink targets; the canonical path holds no links
                canon = canon.rpartition("/")[0]
                fd = self._dirs[canon]
                continue
            nxt = join_path(canon, comp)
            if (cached := self._dirs.get(nxt)) is not None:
                canon, fd = nxt, cached
                continue
            try:
                mode = os.stat(comp, dir_fd=fd, follow_symlinks=False).st_mode
            except FileNotFoundError:
                if not create:
                    return None
                if comp.startswith(self._reserved):
                    raise ArchiveError(f"cannot extract {member!r}: it needs a directory named {comp!r}, "
                                       "a whiteout name") from None
                os.mkdir(comp, 0o755, dir_fd=fd)
                self._on_mkdir(nxt)
                mode = stat.S_IFDIR
            if stat.S_ISLNK(mode):
                links += 1
                if links > MAX_SYMLINKS:
                    raise ArchiveError(f"cannot extract {member!r}: too many levels of symbolic links")
                target = os.readlink(comp, dir_fd=fd)
                if target.startswith("/"):
                    canon, fd = "", self.root
                pending.extend(target.split("/")[::-1])
            elif not stat.S_ISDIR(mode):
                if not create:
                    return None
                raise ArchiveError(f"cannot extract {member!r}: {'/' + nxt!r} in the layer is not a directory")
            else:
                canon, fd = nxt, os.open(comp, _PATH_DIR, dir_fd=fd)
                self._dirs[nxt] = fd
        return fd, canon
