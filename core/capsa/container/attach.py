"""The monitor's attach protocol, and the client side that ``run``, ``start -a`` and
``attach`` use.

Frames on the monitor's unix socket are ``[type: 1 byte][length: 4 bytes big-endian][payload]``,
payloads of at most :data:`MAX_FRAME` bytes. Monitor to client: STDOUT, STDERR (output), EXIT
(payload: the exit code in ASCII), STDIN_ACK (a count in ASCII: that many bytes of this client's
input were taken by the container, or dropped). Client to monitor: STDIN (input), STDIN_EOF,
RESIZE (rows and columns, 2+2 bytes), SIGNAL (a signal number in ASCII, to forward to the
container).

Input is paced by the acknowledgements: a client has at most :data:`STDIN_WINDOW` bytes of
input sent and not acknowledged, so the monitor always reads its clients (their resizes and
signals are never stuck behind input the container does not read) and never holds more than
that window of input per client.
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

STDIN, STDOUT, STDERR, EXIT, STDIN_EOF, RESIZE, SIGNAL, STDIN_ACK = range(8)
HEADER = struct.Struct(">BI")
MAX_FRAME = 1 << 20  # a longer frame ends the connection (neither side sends one)
STDIN_WINDOW = 256 << 10  # bytes of input a client may have sent and not had acknowledged


def frame(kind: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


class FrameTooLarge(ValueError):
    """A frame longer than :data:`MAX_FRAME`: the peer is not speaking this protocol."""


class FrameReader:
    """Splits a byte stream into frames (in time linear in what it is fed)."""

    def __init__(self, buffered: bytes = b"") -> None:
        self.buf = bytearray(buffered)  # the start of a frame still incomplete

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """The frames ``data`` completes; raises :class:`FrameTooLarge`."""
        buf = self.buf
        buf += data
        out, pos, size = [], 0, HEADER.size
        while len(buf) - pos >= size:
            kind, length = HEADER.unpack_from(buf, pos)
            if length > MAX_FRAME:
                raise FrameTooLarge(f"a frame of {length} bytes")
            end = pos + size + length
            if len(buf) < end:
                break
            out.append((kind, bytes(buf[pos + size:end])))
            pos = end
        del buf[:pos]
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


def session(sock: socket.socket, stdin: bool, tty: bool, *, detach_keys: bytes = DETACH_KEYS,
            sig_proxy: bool = True) -> Outcome:
    """Copy the container's output to our stdout/stderr (and our stdin to it) until it exits or
    the user detaches (``detach_keys``, ctrl-p ctrl-q by default; b"" never detaches); see
    :mod:`capsa.container.attach_client` and :func:`capsa.container.stopping.attached_exit`.

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


def _raw_terminal() -> object:
    """Our stdin's terminal in raw mode (a restore function): the exec helper (branch i12exec,
    capsa.container.exectty) imports it under this name."""
    return raw_terminal(sys.stdin.fileno())
