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

from capsa.fsutil import remove_file

STDIN, STDOUT, STDERR, EXIT, STDIN_EOF, RESIZE, SIGNAL = range(7)
HEADER = struct.Struct(">BI")
DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q


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


def relay(sock: socket.socket, stdin: bool, tty: bool) -> int | None:
    """Copy the container's output to our stdout/stderr (and our stdin to it) until it exits.

    Returns the exit code, or None when the user detached (ctrl-p ctrl-q on a tty).
    SIGINT and SIGTERM received meanwhile are forwarded to the container.
    """
    import selectors
    import signal

    def forward(signum: int, _frame: object) -> None:
        try:
            sock.sendall(frame(SIGNAL, str(signum).encode()))
        except OSError:
            pass

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    restore_tty = _raw_terminal() if tty and stdin else None
    if tty:
        _send_size(sock)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, "sock")
    in_fd = sys.stdin.fileno() if stdin else None
    if in_fd is not None:
        sel.register(in_fd, selectors.EVENT_READ, "stdin")
    reader = FrameReader()
    out, err = sys.stdout.buffer, sys.stderr.buffer
    pending_detach = b""
    try:
        while True:
            for key, _ in sel.select():
                if key.data == "stdin":
                    data = os.read(in_fd, 65536)  # type: ignore[arg-type]
                    if not data:
                        sel.unregister(in_fd)  # type: ignore[arg-type]
                        sock.sendall(frame(STDIN_EOF))
                        continue
                    if tty:
                        data = pending_detach + data
                        if DETACH_KEYS in data:
                            return None
                        pending_detach = data[-1:] if data.endswith(DETACH_KEYS[:1]) else b""
                        data = data[: len(data) - len(pending_detach)]
                    if data:
                        sock.sendall(frame(STDIN, data))
                    continue
                chunk = sock.recv(65536)
                if not chunk:
                    return None  # the monitor went away without an exit code
                for kind, payload in reader.feed(chunk):
                    if kind == STDOUT:
                        out.write(payload)
                        out.flush()
                    elif kind == STDERR:
                        err.write(payload)
                        err.flush()
                    elif kind == EXIT:
                        return int(payload or b"0")
    finally:
        sel.close()
        if restore_tty:
            restore_tty()
        for s, handler in previous.items():
            signal.signal(s, handler)


def _send_size(sock: socket.socket) -> None:
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
    except OSError:
        return
    sock.sendall(frame(RESIZE, struct.pack(">HH", size.lines, size.columns)))


def _raw_terminal() -> object:
    import termios
    import tty

    fd = sys.stdin.fileno()
    if not os.isatty(fd):
        return None
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    return lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)
