"""A container's working directory on its mounted root filesystem, checked as podman 4.3 does.

A working directory the image names (``WORKDIR``) is made when it is missing; one given with
``-w`` must exist (podman: ``workdir "/x" does not exist on container ID``); either must be a
directory. A directory on a mount (``-v``, ``--mount``, ``--tmpfs``, /proc...) is the runtime's
to find. The errors say which path and why; ``run`` exits 126 for them (the command cannot be
invoked), ``start`` 125, as podman; the container stays, with the reason in ``State.Error``.
"""
from __future__ import annotations

import os

from capsa.errors import ArchiveError, IsolationError


class WorkdirError(IsolationError):
    """The working directory cannot be used: missing (given with -w) or not a directory."""


def on_mount(path: str, destinations: list[str]) -> bool:
    """Whether ``path`` is a mount destination or below one."""
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in destinations if d != "/")


def ensure_workdir(rootfs: str, cwd: str, *, from_user: bool, container_id: str, mounts: list[str]) -> None:
    """Check (and, for the image's own, make) ``cwd`` inside ``rootfs``; ``mounts`` are the
    spec's mount destinations. Symlinks resolve inside ``rootfs``, never out of it."""
    if cwd == "/" or on_mount(cwd, mounts):
        return
    parts = [p for p in cwd.split("/") if p]
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        from capsa.store.safepath import Resolver

        resolver = Resolver(root_fd, lambda _canon: None, reserved="\0")
        try:
            found = resolver.dir(parts, create=False, member=cwd)
            if found is not None:
                return
            if _exists(rootfs, cwd):
                raise WorkdirError(f"workdir \"{cwd}\" exists on container {container_id}, but is not a directory",
                                   hint="give a directory with -w")
            if from_user:
                raise WorkdirError(f"workdir \"{cwd}\" does not exist on container {container_id}",
                                   hint="give a directory that exists in the image with -w, or create it first")
            try:
                resolver.dir(parts, create=True, member=cwd)
            except (OSError, ArchiveError):  # a file on the way, a symlink loop
                raise WorkdirError(f"cannot create workdir \"{cwd}\" on container {container_id}",
                                   hint="the image's WORKDIR is not a directory path in it; give another with -w"
                                   ) from None
        finally:
            resolver.close()
    finally:
        os.close(root_fd)


def _exists(rootfs: str, path: str) -> bool:
    """Whether something (of any type) is at ``path`` inside ``rootfs``."""
    from capsa.fsutil import secure_join

    try:
        os.stat(secure_join(rootfs, path))
    except OSError:
        return False
    return True
