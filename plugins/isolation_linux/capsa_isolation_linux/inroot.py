"""Paths inside the container's rootfs, resolved by descriptor as if the rootfs were ``/``.

Before pivot_root the setup mounts onto, and makes nodes and links in, paths an image chose: an
image (or another container writing to a shared volume) can put a symlink such as
``/etc/resolv.conf -> /../../../host/file`` or ``/data -> /host`` where a mount goes. So no path
is checked and then handed to the kernel again: :meth:`RootDir.target` resolves it with
openat2(RESOLVE_IN_ROOT) from a descriptor of the rootfs (symlinks are followed with chroot
semantics, ``..`` stops at the root, magic links are refused), making what is missing with
``*at`` calls relative to directories resolved that way, and returns an O_PATH descriptor:
mounts go onto ``/proc/self/fd/N`` of it or onto it with move_mount(2). This is the same rule
the layer extractor follows (capsa.store.safepath), with the kernel doing the walk.
"""
from __future__ import annotations

import errno
import os

from .mountapi import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2

MAX_SYMLINKS = 40
_PATH = os.O_PATH | os.O_CLOEXEC


def fd_path(fd: int) -> str:
    """The path that reaches exactly what ``fd`` is (for calls that take no descriptor)."""
    return f"/proc/self/fd/{fd}"


class RootDir:
    """A directory fd of the rootfs and lookups below it; close() releases the fd."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> RootDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self, path: str, flags: int = _PATH) -> int:
        """``path`` opened inside the root (its last component followed, in the root too)."""
        rel = path.lstrip("/") or "."
        return openat2(self.fd, rel, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

    def lookup(self, path: str) -> int:
        """An O_PATH fd of what is at ``path`` itself, made of nothing: its parents are resolved
        in the root, its last component is not followed (a symlink there gives the symlink's fd).
        FileNotFoundError if it is not there."""
        rel = os.path.normpath("/" + path).lstrip("/")
        if not rel:
            return self.open(".")
        parent, _, name = rel.rpartition("/")
        pfd = self.open(parent or ".", _PATH | os.O_DIRECTORY)
        try:
            return os.open(name, _PATH | os.O_NOFOLLOW, dir_fd=pfd)
        finally:
            os.close(pfd)

    def target(self, path: str, is_dir: bool) -> int:
        """An O_PATH fd of ``path`` in the root, made (a directory, or an empty file unless
        ``is_dir``) with its missing parents if it does not exist; a dangling symlink on the way
        is followed and its target made, inside the root."""
        return self._target(path.lstrip("/") or ".", is_dir, 0)

    def _target(self, rel: str, is_dir: bool, links: int) -> int:
        try:
            return self.open(rel)
        except FileNotFoundError:
            pass
        parent, _, name = rel.rpartition("/")
        pfd = self._target(parent or ".", True, links)
        try:
            if name in ("", ".", ".."):  # the parent exists now, so does this
                return self.open(rel)
            try:
                link = os.readlink(name, dir_fd=pfd)
            except FileNotFoundError:
                link = None
            except OSError as exc:
                if exc.errno != errno.EINVAL:  # EINVAL: there but not a symlink (it appeared)
                    raise
                link = None
            if link is not None:  # a dangling symlink: make its target, in the root
                if links >= MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), "/" + rel)
                return self._target(link.lstrip("/") if link.startswith("/") else f"{parent}/{link}".lstrip("/"),
                                    is_dir, links + 1)
            try:
                if is_dir:
                    os.mkdir(name, 0o755, dir_fd=pfd)
                else:
                    os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_WRONLY | os.O_CLOEXEC, 0o644,
                                     dir_fd=pfd))
            except FileExistsError:
                pass
            return self.open(rel)
        finally:
            os.close(pfd)

    def parent(self, path: str) -> tuple[int, str]:
        """(O_PATH fd of the directory that holds ``path``, made if missing; the last name):
        for nodes and links made in it with ``*at`` calls. The name is never ``..``."""
        rel = os.path.normpath("/" + path).lstrip("/")
        if not rel:
            raise OSError(errno.EINVAL, "the root itself has no parent", path)
        parent, _, name = rel.rpartition("/")
        return self.target(parent, True), name
