"""The monitor's attach protocol, and the client side that ``run``, ``start -a`` and
``attach`` use.

Frames on the monitor's unix socket are ``[type: 1 byte][length: 4 bytes big-endian][payload]``.
Monitor to client: STDOUT, STDERR (output), EXIT (payload: the exit code in ASCII). Client to
monitor: STDIN (input), STDIN_EOF, RESIZE (rows and columns, 2+2 bytes), SIGNAL (a signal
number in ASCII, to forward to the container).
"""
from __future__ import annotations

import os
import socket
import struct
import sys
from collections.abc import Callable

from capsa.container.detachkeys import DEFAULT as DETACH_KEYS
from capsa.container.terminal import pack_size, raw_terminal, window_size
from capsa.fsutil import remove_file

STDIN, STDOUT, STDERR, EXIT, STDIN_EOF, RESIZE, SIGNAL = range(7)
HEADER = struct.Struct(">BI")


def frame(kind: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


class FrameReader:
    """Splits a byte stream into frames."""

    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= HEADER.size:
            kind, length = HEADER.unpack_from(self.buf)
            if len(self.buf) < HEADER.size + length:
                break
            out.append((kind, self.buf[HEADER.size:HEADER.size + length]))
            self.buf = self.buf[HEADER.size + length:]
        return out


def by_directory_fd(path: str, action: Callable[[str], object]) -> object:
    """Run ``action(address)`` on unix socket ``path`` named through a descriptor of its
    directory (``/proc/self/fd/N/name``): socket addresses are limited to 107 bytes and a
    store's runroot can be deep. The working directory is never changed."""
    directory, name = os.path.split(path)
    if len(path.encode()) < 100:
        return action(path)
    fd = os.open(directory or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return action(f"/proc/self/fd/{fd}/{name}")
    finally:
        os.close(fd)


def listen(path: str) -> socket.socket:
    """A listening unix socket at ``path`` (replacing a stale one)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    remove_file(path)
    by_directory_fd(path, sock.bind)
    sock.listen(8)
    return sock


def connect(path: str, timeout: float = 5.0) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    by_directory_fd(path, sock.connect)
    sock.settimeout(None)
    return sock


class Outcome:
    """How an attached session ended: the container's exit code (None when the monitor went
    away without one), or ``detached`` (the user typed the detach keys). (Not a NamedTuple:
    the monitor imports this module and keeps off ``typing``.)"""

    __slots__ = ("code", "detached")

    def __init__(self, code: int | None, detached: bool = False) -> None:
        self.code = code
        self.detached = detached


# Signals never forwarded to the container (``--sig-proxy``, on by default, forwards every other,
# SIGTSTP, SIGCONT and the real-time ones included, as podman's): those that cannot be caught,
# SIGCHLD and SIGURG (as podman), SIGWINCH (a resize with -t), SIGPIPE (the client's own broken
# output: podman ignores it too) and the faults of the client itself.
NOT_PROXIED = ("SIGKILL", "SIGSTOP", "SIGCHLD", "SIGURG", "SIGWINCH", "SIGPIPE", "SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE")


def proxied_signals() -> list[int]:
    """The signal numbers ``--sig-proxy`` forwards."""
    import signal

    skip = {int(getattr(signal, name)) for name in NOT_PROXIED}
    return sorted(int(s) for s in signal.valid_signals() if int(s) not in skip)


def relay(sock: socket.socket, stdin: bool, tty: bool, *, detach_keys: bytes = DETACH_KEYS,
          sig_proxy: bool = True) -> int | None:
    """Copy the container's output to our stdout/stderr (and our stdin to it) until it exits.

    Returns the exit code, or None when the user detached (``detach_keys``, ctrl-p ctrl-q by
    default; b"" never detaches) or the monitor went away without one. See :func:`session`.
    """
    outcome = session(sock, stdin, tty, detach_keys=detach_keys, sig_proxy=sig_proxy)
    return None if outcome.detached else outcome.code


def session(sock: socket.socket, stdin: bool, tty: bool, *, detach_keys: bytes = DETACH_KEYS,
            sig_proxy: bool = True) -> Outcome:
    """:func:`relay`, telling a detach from a monitor that went away
    (:mod:`capsa.container.attach_client`).

    With ``tty`` and our stdin a terminal, that terminal is in raw mode meanwhile (restored
    however this ends), our window size is sent at once and again on each SIGWINCH. With
    ``sig_proxy``, the signals received meanwhile go to the container (:func:`proxied_signals`).
    The detach keys are looked for in our stdin when it is attached and a terminal (typed keys);
    piped input goes to the container whole.
    """
    from capsa.container.attach_client import Session

    return Session(sock, stdin, tty, detach_keys, sig_proxy).run()


def size_frame() -> bytes | None:
    """A RESIZE frame with our terminal's size (stdout's, else stdin's), if we have one."""
    size = window_size(sys.stdout.fileno(), sys.stdin.fileno())
    return None if size is None else frame(RESIZE, pack_size(*size))


def send_size(sock: socket.socket) -> None:
    """A RESIZE frame with our terminal's size on blocking ``sock``, if we have one."""
    message = size_frame()
    if message:
        sock.sendall(message)


# The names these helpers had here before capsa.container.terminal held them.
_send_size = send_size


def _raw_terminal() -> object:
    return raw_terminal(sys.stdin.fileno())
