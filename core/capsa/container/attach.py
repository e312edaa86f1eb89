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


# Signals forwarded to the container (``--sig-proxy``, on by default): podman proxies every signal
# but SIGCHLD, SIGURG, SIGSTOP and SIGKILL; these are the ones a user sends to a client.
PROXIED = ("SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGTERM")


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
    """:func:`relay`, telling a detach from a monitor that went away.

    With ``tty`` and our stdin a terminal, that terminal is in raw mode meanwhile (restored
    however this ends), our window size is sent at once and again on each SIGWINCH. With
    ``sig_proxy``, the signals of :data:`PROXIED` received meanwhile go to the container.
    The detach keys are looked for in our stdin (when attached), terminal or not, as podman's.
    """
    import selectors
    import signal

    from capsa.container.detachkeys import Matcher

    in_fd = sys.stdin.fileno() if stdin else None
    wanted = [getattr(signal, name) for name in PROXIED] if sig_proxy else []
    if tty:
        wanted.append(signal.SIGWINCH)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    previous: dict[int, object] = {}
    old_wakeup: int | None = None
    restore_tty = None
    sel = selectors.DefaultSelector()
    try:
        try:
            old_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
            previous = {s: signal.signal(s, _noted) for s in wanted}
        except ValueError:  # not the main thread: no signals then
            pass
        restore_tty = raw_terminal(in_fd) if tty and in_fd is not None else None
        if tty:
            send_size(sock)
        sel.register(sock, selectors.EVENT_READ, "sock")
        sel.register(wake_r, selectors.EVENT_READ, "signal")
        file_input = False  # stdin a regular file (epoll refuses those): read it as we go
        if in_fd is not None:
            try:
                sel.register(in_fd, selectors.EVENT_READ, "stdin")
            except PermissionError:
                file_input = True
        matcher = Matcher(detach_keys)
        reader = FrameReader()
        out, err = sys.stdout.buffer, sys.stderr.buffer
        while True:
            events = sel.select(0 if file_input else None)
            if file_input:
                events.append((selectors.SelectorKey(in_fd, in_fd, selectors.EVENT_READ, "stdin"), 0))  # type: ignore[arg-type]
            for key, _ in events:
                if key.data == "stdin":
                    data = os.read(in_fd, 65536)  # type: ignore[arg-type]
                    if not data:
                        if file_input:
                            file_input = False
                        else:
                            sel.unregister(in_fd)  # type: ignore[arg-type]
                        sock.sendall(frame(STDIN_EOF))
                        continue
                    data, detached = matcher.feed(data)
                    if data:
                        sock.sendall(frame(STDIN, data))
                    if detached:
                        return Outcome(None, detached=True)
                elif key.data == "signal":
                    for signum in _drain(wake_r):
                        if signum == signal.SIGWINCH:
                            send_size(sock)
                        elif signum in previous:
                            sock.sendall(frame(SIGNAL, str(signum).encode()))
                else:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return Outcome(None)  # the monitor went away without an exit code
                    for kind, payload in reader.feed(chunk):
                        if kind == STDOUT:
                            out.write(payload)
                            out.flush()
                        elif kind == STDERR:
                            err.write(payload)
                            err.flush()
                        elif kind == EXIT:
                            return Outcome(int(payload or b"0"))
    finally:
        sel.close()
        if restore_tty:
            restore_tty()
        for s, handler in previous.items():
            signal.signal(s, handler)  # type: ignore[arg-type]
        if old_wakeup is not None:
            signal.set_wakeup_fd(old_wakeup)
        os.close(wake_r)
        os.close(wake_w)


def _noted(_signum: int, _frame: object) -> None:
    """The handler of the signals :func:`session` acts on: the wakeup fd carries them."""


def _drain(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 512)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


def send_size(sock: socket.socket) -> None:
    """A RESIZE frame with our terminal's size (stdout's, else stdin's), if we have one."""
    size = window_size(sys.stdout.fileno(), sys.stdin.fileno())
    if size is not None:
        sock.sendall(frame(RESIZE, pack_size(*size)))


# The names these helpers had here before capsa.container.terminal held them.
_send_size = send_size


def _raw_terminal() -> object:
    return raw_terminal(sys.stdin.fileno())
