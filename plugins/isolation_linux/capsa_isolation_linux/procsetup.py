"""Steps of the container's (and an exec process's) setup before it becomes the user's process:
its stdio, its working directory (checked to be under its root), its loopback, its rlimits.
Moved out of :mod:`.launcher`, which imports them."""
from __future__ import annotations

import os

from . import rootfs as rfs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

IFF_UP, IFF_RUNNING = 0x1, 0x40
SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8913, 0x8914


def _stdio(stdio: tuple[int, int, int], terminal: bool) -> None:  # pragma: no cover
    import fcntl

    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in stdio]
    for target, fd in enumerate(high):
        os.dup2(fd, target, inheritable=True)
        os.close(fd)
    if terminal:
        import termios

        fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def chdir_inside(cwd: str) -> None:  # pragma: no cover - runs in the container's process
    """chdir to ``cwd`` and check that it is under the process's root (CVE-2024-21626: a path
    through /proc/self/fd/N, N a descriptor of a host directory, would leave the container): the
    kernel gives no path to a directory it cannot reach from the root. OSError (ENOENT) if not."""
    import errno

    os.chdir(cwd)
    try:
        where = os.getcwd()
    except FileNotFoundError:
        where = "(unreachable)"
    if not where.startswith("/"):
        os.chdir("/")
        raise OSError(errno.ENOENT, "outside the container (a descriptor of the host?)")


def _loopback_up() -> None:  # pragma: no cover
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, 0) as sock:
        got = fcntl.ioctl(sock, SIOCGIFFLAGS, struct.pack("16sH22x", b"lo", 0))
        flags = struct.unpack("16sH22x", got)[1]
        if flags & IFF_UP == 0:
            fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP | IFF_RUNNING))


def rlimit_value(value: int) -> int:
    import resource

    return resource.RLIM_INFINITY if value >= 2**63 - 1 else int(value)


def _rlimits(rlimits: list[dict[str, Any]]) -> None:  # pragma: no cover
    import resource

    for rl in rlimits:
        name = rl["type"]
        kind = getattr(resource, name, None)
        if not isinstance(kind, int):
            raise rfs.SetupError(f"unknown rlimit {name}")
        soft, hard = rlimit_value(rl["soft"]), rlimit_value(rl["hard"])
        try:
            resource.setrlimit(kind, (soft, hard))
        except (ValueError, OSError) as exc:
            current = resource.getrlimit(kind)[1]
            raise rfs.SetupError(f"rlimit {name} (soft {rl['soft']}, hard {rl['hard']}): {exc}; "
                                 f"the current hard limit is {current}") from None
