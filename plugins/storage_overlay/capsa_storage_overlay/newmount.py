"""Mounting an overlay without changing the process's working directory.

The preferred way is the kernel's mount API (fsopen, fsconfig, fsmount, move_mount; Linux 5.2+)
with one ``lowerdir+`` parameter per lower layer (overlayfs on Linux 6.8+): every layer is its
own parameter, named ``/proc/self/fd/N`` through an ``O_PATH`` descriptor, so no option string
and no page-size limit is involved (overlay's own limit is 500 lower layers) and mountinfo, in
the container too, shows those names rather than the store's host paths (as the legacy mount's
relative names did). The kernel (6.13+) also takes a descriptor itself (FSCONFIG_SET_FD), but
then shows the directory's full host path. On an older kernel (``lowerdir+`` unknown: EINVAL) the legacy
mount(2) with short relative names runs in a forked helper that changes its own working
directory, so the caller's stays untouched (its option string is limited to one page).

The syscall numbers are the same on every architecture but alpha (they came after the
tables were unified).
"""
from __future__ import annotations

import errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SYS_MOVE_MOUNT, SYS_FSOPEN, SYS_FSCONFIG, SYS_FSMOUNT = 429, 430, 431, 432
FSOPEN_CLOEXEC = FSMOUNT_CLOEXEC = 0x1
FSCONFIG_SET_FLAG, FSCONFIG_SET_STRING, FSCONFIG_CMD_CREATE = 0, 1, 6
MOVE_MOUNT_F_EMPTY_PATH = 0x4
AT_FDCWD = -100
OVERLAY_MAX_STACK = 500  # the kernel's OVL_MAX_STACK

# mount(2) flags (capsa.linux.MS_*) and the per-mount attributes fsmount() takes instead.
_MOUNT_ATTRS = {0x1: 0x1, 0x2: 0x2, 0x4: 0x4, 0x8: 0x8, 0x400: 0x10, 0x800: 0x80, 1 << 24: 0x20}

_state: dict[str, Any] = {}


class Unsupported(Exception):
    """This kernel lacks the new mount API or overlay's ``lowerdir+``: use the legacy mount."""


def _syscall() -> Any:
    if "syscall" not in _state:
        import ctypes

        from capsa.linux import libc

        fn = libc().syscall
        fn.restype = ctypes.c_long
        _state["syscall"], _state["ctypes"] = fn, ctypes
    return _state["syscall"]


def _check(result: int, what: str) -> int:
    if result < 0:
        err = _state["ctypes"].get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def mount_attributes(flags: int) -> int:
    """fsmount()'s MOUNT_ATTR_* for mount(2) ``flags`` (the ones it has no attribute for are
    dropped: relatime is the default)."""
    return sum(attr for flag, attr in _MOUNT_ATTRS.items() if flags & flag)


class _Context:
    """An overlay filesystem context (fsopen's descriptor) being configured."""

    def __init__(self) -> None:
        sys = _syscall()
        c = _state["ctypes"]
        self.c, self.sys = c, sys
        try:
            self.fd = _check(sys(c.c_long(SYS_FSOPEN), b"overlay", c.c_uint(FSOPEN_CLOEXEC)), "fsopen")
        except OSError as exc:
            if exc.errno in (errno.ENOSYS, errno.EPERM):  # (seccomp filters answer EPERM)
                raise Unsupported(str(exc)) from None
            raise

    def config(self, cmd: int, key: str | None, value: bytes | None = None, aux: int = 0) -> None:
        c = self.c
        _check(self.sys(c.c_long(SYS_FSCONFIG), c.c_int(self.fd), c.c_uint(cmd), key.encode() if key else None,
                        value, c.c_int(aux)), f"fsconfig {key or 'create'}")

    def directory(self, key: str, path: str) -> None:
        """Set ``key`` to directory ``path``, named ``/proc/self/fd/N`` through an ``O_PATH``
        descriptor: the kernel resolves it here and now, and that name is what mountinfo shows,
        also inside the container (the store's host path is not given away)."""
        fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self.config(FSCONFIG_SET_STRING, key, f"/proc/self/fd/{fd}".encode())
        finally:
            os.close(fd)

    def close(self) -> None:
        os.close(self.fd)


def mount_overlay(target: str, lowers: list[str], upper: str, work: str, flags: int, params: list[str]) -> None:
    """Mount an overlay of ``lowers`` (absolute paths, top-most first) under ``upper``/``work`` on
    ``target``; ``flags`` are mount(2) flags, ``params`` overlay options (``key`` or
    ``key=value``). Raises :class:`Unsupported` when the kernel cannot, OSError otherwise."""
    if _state.get("unsupported"):
        raise Unsupported("lowerdir+ is not supported")
    ctx = _Context()
    try:
        try:
            ctx.directory("lowerdir+", lowers[0])
        except OSError as exc:
            if exc.errno == errno.EINVAL:  # overlay before 6.8: no lowerdir+
                _state["unsupported"] = True
                raise Unsupported(str(exc)) from None
            raise
        for lower in lowers[1:]:
            ctx.directory("lowerdir+", lower)
        ctx.config(FSCONFIG_SET_STRING, "source", b"overlay")  # (what mount(2)'s source said)
        ctx.directory("upperdir", upper)
        ctx.directory("workdir", work)
        for param in params:
            key, eq, value = param.partition("=")
            if eq:
                ctx.config(FSCONFIG_SET_STRING, key, value.encode())
            else:
                ctx.config(FSCONFIG_SET_FLAG, key)
        ctx.config(FSCONFIG_CMD_CREATE, None)
        c, sys = ctx.c, ctx.sys
        mnt = _check(sys(c.c_long(SYS_FSMOUNT), c.c_int(ctx.fd), c.c_uint(FSMOUNT_CLOEXEC),
                         c.c_uint(mount_attributes(flags))), "fsmount")
        try:
            _check(sys(c.c_long(SYS_MOVE_MOUNT), c.c_int(mnt), b"", c.c_int(AT_FDCWD), target.encode(),
                       c.c_uint(MOVE_MOUNT_F_EMPTY_PATH)), f"move_mount to {target}")
        finally:
            os.close(mnt)
    finally:
        ctx.close()


def supported() -> bool:
    """Whether mounts go through the new API (False once a mount found the kernel lacking)."""
    return not _state.get("unsupported")


def mount_in_directory(directory: str, target: str, flags: int, data: str) -> None:
    """The legacy mount(2) of an overlay whose option string ``data`` names paths relative to
    ``directory``, done by a forked helper that changes into it (our working directory stays).
    Raises OSError with the helper's errno."""
    from capsa.linux import mount

    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.chdir(directory)
            mount("overlay", target, "overlay", flags, data)
        except OSError as exc:
            code = exc.errno or errno.EIO
        except BaseException:
            code = errno.EIO
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code:
        raise OSError(code, f"mount overlay on {target}: {os.strerror(code)}")
