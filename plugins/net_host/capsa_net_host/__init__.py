"""The ``host`` and ``none`` network drivers: no network of the container's own to build.

``none``: the container has a network namespace of its own (made with it, see
:mod:`capsa.drivers.network`) with only the loopback interface, which ``add`` makes sure is up
(the runtime usually brought it up already). ``host``: the container shares the host's
namespace; there is nothing to add or delete. Neither holds anything between calls, so
``delete`` and ``gc`` have nothing to undo.
"""
from __future__ import annotations

import os

from capsa.drivers.network import AttachResult, NetworkDriver
from capsa.errors import NetworkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from typing import Any

    from capsa.drivers.network import Attachment

CLONE_NEWNET = 0x40000000
IFF_UP, IFF_RUNNING = 0x1, 0x40
SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8913, 0x8914


def _setns() -> Any:
    """libc's setns (Python 3.11's os has none)."""
    from capsa.linux import libc

    return libc().setns


def loopback_flags(netns: str, bring_up: bool) -> int:
    """The flags of ``lo`` in network namespace ``netns`` (a path), set up first if
    ``bring_up``. This thread enters the namespace for two ioctls and comes back."""
    import ctypes
    import fcntl
    import socket
    import struct

    setns = _setns()
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        os.close(own)
        raise NetworkError(f"cannot open the container's network namespace {netns}: {exc.strerror}",
                           hint="the container exited before its network was set up") from None
    try:
        if setns(target, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NetworkError(f"cannot enter the container's network namespace: {os.strerror(err)}",
                               hint="capsa needs CAP_SYS_ADMIN (run it as root)")
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                flags = struct.unpack_from("16sH", fcntl.ioctl(sock, SIOCGIFFLAGS, struct.pack("16sH22x", b"lo", 0)))[1]
                if bring_up and not flags & IFF_UP:
                    flags |= IFF_UP | IFF_RUNNING
                    fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags))
            return flags
        finally:
            if setns(own, CLONE_NEWNET) != 0:  # we cannot go on in the container's namespace
                os.write(2, b"capsa: cannot return to the monitor's network namespace\n")
                os._exit(125)
    finally:
        os.close(target)
        os.close(own)


class HostDriver(NetworkDriver):
    """Containers share the host's network namespace."""

    def add(self, attachment: Attachment) -> AttachResult:
        if attachment.netns is not None:
            raise NetworkError("the host network driver shares the host's namespace, but the container has its own",
                               hint="the container's bundle must not ask for a network namespace with --network host")
        return AttachResult()

    def delete(self, attachment: Attachment) -> None:
        """Nothing was set up."""

    def check(self, attachment: Attachment) -> None:
        """The host's namespace is always there."""

    def gc(self, live: Iterable[str]) -> None:
        """Nothing is held for any container."""

    def status(self) -> dict[str, Any]:
        out = super().status()
        out["detail"] = "containers share the host's network namespace"
        return out


class NoneDriver(NetworkDriver):
    """Containers get a network namespace of their own with only loopback."""

    @classmethod
    def warm_up(cls) -> None:
        """Load what ``add`` needs (libc's setns, the socket modules) while the monitor idles."""
        import fcntl  # noqa: F401
        import socket  # noqa: F401
        import struct  # noqa: F401

        _setns()

    def add(self, attachment: Attachment) -> AttachResult:
        if attachment.netns is None:
            raise NetworkError("the none network driver needs the container's own network namespace",
                               hint="the container's bundle must ask for a new network namespace")
        loopback_flags(attachment.netns, bring_up=True)
        return AttachResult(interfaces=[{"name": "lo"}])

    def delete(self, attachment: Attachment) -> None:
        """Nothing outside the namespace was set up; the namespace goes with the container."""

    def check(self, attachment: Attachment) -> None:
        if attachment.netns is None or not loopback_flags(attachment.netns, bring_up=False) & IFF_UP:
            raise NetworkError(f"the loopback interface of container {attachment.container_name} is down",
                               hint="restart the container")

    def gc(self, live: Iterable[str]) -> None:
        """Nothing is held for any container."""

    def status(self) -> dict[str, Any]:
        out = super().status()
        out["detail"] = "a private network namespace with loopback only"
        return out
