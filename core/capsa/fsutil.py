"""Small filesystem helpers shared across capsa: atomic writes, paths inside a root, sizes.

Start-up critical: imports nothing beyond ``os`` (and ``stat``).
"""
from __future__ import annotations

import errno
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

MAX_LINKS = 40


def atomic_write(path: str | os.PathLike[str], data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so a reader sees the old or the new file, never a part.

    Writes a temporary file beside it, fsyncs it, renames it over ``path`` and fsyncs the
    directory. Creates missing parent directories. ``durable=False`` skips the fsyncs, for
    volatile files (under the runroot) that need not survive a crash, only be whole.
    """
    path = os.fspath(path)
    parent = os.path.dirname(path) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    write_file(tmp, data, mode, durable, flags=os.O_TRUNC)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    if durable:
        fsync_dir(parent)


def write_file(path: str | os.PathLike[str], data: bytes, mode: int = 0o644, durable: bool = True,
               flags: int = os.O_EXCL) -> None:
    """Write ``data`` to ``path`` (by default a new file: O_EXCL), fsynced when ``durable``.
    Not atomic by itself: for a file nobody can see yet (in a directory that is renamed into
    place whole), or as :func:`atomic_write`'s first step."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | flags, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make the entries of directory ``path`` (new names, renames) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_filesystem(path: str | os.PathLike[str]) -> None:
    """Make every file written on the filesystem holding ``path`` durable: syncfs(2) on it (one
    filesystem, not the whole machine's dirty pages), or os.sync() where libc has no syncfs.
    For data written as many files (an extracted layer) before a record says it is complete."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        from capsa.linux import libc

        syncfs = getattr(libc(), "syncfs", None)
        if syncfs is None or syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def secure_join(root: str, path: str, max_links: int = MAX_LINKS) -> str:
    """The host path of ``path`` inside ``root``, following symlinks as if ``root`` were ``/``.

    Symlinks (absolute ones, and ``..``) are followed but never lead out of ``root``; the last
    component of the result is not a symlink (or does not exist). More than ``max_links``
    links raise OSError(ELOOP). For trees the caller controls (a container's rootfs before it
    runs); layer extraction resolves with directory descriptors instead (capsa.store.safepath).
    """
    root = os.path.abspath(root)
    todo = [p for p in path.split("/") if p not in ("", ".")]
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            done.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > max_links:
                raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/") if p not in ("", ".")] + todo
            continue
        done.append(part)
    return os.path.join(root, *done)


def tree_size(path: str | os.PathLike[str]) -> int:
    """Bytes of the files under ``path`` (apparent sizes, links not followed)."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def remove_file(path: str | os.PathLike[str]) -> None:
    """Unlink ``path``; one that is gone already is fine (as ``Path.unlink(missing_ok=True)``)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def rmtree(path: str | os.PathLike[str], ignore_errors: bool = False) -> None:
    """``shutil.rmtree``, with shutil imported on first use: it pulls in compression modules,
    milliseconds that commands which remove nothing (``run``, ``create``) should not pay."""
    from shutil import rmtree as remove

    remove(path, ignore_errors=ignore_errors)


def read_id_files(paths: list[str], error: Callable[[str, OSError], Exception]) -> list[str]:
    """The ids written in the files ``paths`` (``--cidfile``, ``--pod-id-file``), one per file,
    stripped; a file that cannot be read raises ``error(path, exc)``."""
    ids = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                ids.append(fh.read().strip())
        except OSError as exc:
            raise error(path, exc) from None
    return ids
