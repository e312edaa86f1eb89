"""The client side of an attached session (``run``, ``start -a``, ``attach``, ``exec``): our
stdin to the container's monitor, its output to our stdout and stderr, our terminal's size and
the signals we receive, until the container exits or the user detaches. See
:func:`capsa.container.attach.session` (the entry point) and :mod:`capsa.container.attach`
for the frames.

Nothing here blocks on the socket: input waits in a buffer (and our stdin is not read while
more than :data:`BACKLOG` waits) while the container's output keeps being read, so a container
that reads its input slower than it writes output never deadlocks with us. Input goes out as
the monitor acknowledges it (:data:`capsa.container.attach.STDIN_WINDOW`); resizes and signals
go ahead of any input that waits, and the monitor always reads them.
"""
from __future__ import annotations

import os
import selectors
import signal
import socket
import sys

from capsa.container import attach
from capsa.container.detachkeys import Matcher
from capsa.container.terminal import raw_terminal

BACKLOG = 1 << 20  # bytes of input waiting for the socket before we stop reading our stdin
CHUNK = 32 << 10  # bytes of input per frame (a resize or signal waits for one at most)
# Without --sig-proxy, the signals whose default action ends the client: caught, so that its
# terminal is restored first, then received again. (SIGINT is Python's KeyboardInterrupt, which
# unwinds through the same restoring code; SIGKILL cannot be caught.)
ENDING = ("SIGHUP", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGIO",
          "SIGPWR", "SIGXCPU", "SIGXFSZ", "SIGSTKFLT", "SIGSYS", "SIGABRT", "SIGTRAP")


def ending_signals() -> list[int]:
    """:data:`ENDING` (those this system has) and the real-time signals, as numbers."""
    found = [int(getattr(signal, name)) for name in ENDING if hasattr(signal, name)]
    return found + list(range(signal.SIGRTMIN, signal.SIGRTMAX + 1))


class _Ended(Exception):
    """A signal that ends the client (not proxied): re-raised once the terminal is restored."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Session:
    def __init__(self, sock: socket.socket, stdin: bool, tty: bool, detach_keys: bytes, sig_proxy: bool) -> None:
        self.sock = sock
        self.tty = tty
        self.in_fd = sys.stdin.fileno() if stdin else None
        # The keys are looked for only in what is typed (stdin a terminal): piped input is the
        # container's, whole (podman's detach.Copy detaches only on keys read on their own).
        typed = self.in_fd is not None and os.isatty(self.in_fd)
        self.matcher = Matcher(detach_keys if typed else b"")
        self.signals = attach.proxied_signals() if sig_proxy else ending_signals()
        self.sig_proxy = sig_proxy
        if tty:
            self.signals.append(signal.SIGWINCH)
        self.outgoing = bytearray()  # bytes on their way into the socket, in order
        self.control = bytearray()  # resize and signal frames: next, ahead of any input
        self.input = bytearray()  # our stdin, not yet framed
        self.input_ended = False  # our stdin ended: a STDIN_EOF follows what is in self.input
        self.unacked = 0  # input sent that the monitor has not acknowledged
        self.sel = selectors.DefaultSelector()
        self.reading_stdin = False
        self.file_input = False  # stdin a regular file (epoll refuses those): read it as we go

    def run(self) -> attach.Outcome:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        previous: dict[int, object] = {}
        old_wakeup: int | None = None
        restore_tty = None
        try:
            try:
                old_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
                for s in self.signals:
                    try:
                        previous[s] = signal.signal(s, _noted)
                    except OSError:  # (one the C library keeps for itself)
                        pass
                if signal.SIGINT not in self.signals:  # ends us (KeyboardInterrupt), even when we were
                    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)  # born ignoring it
            except ValueError:  # not the main thread: no signals then
                pass
            restore_tty = raw_terminal(self.in_fd) if self.tty and self.in_fd is not None else None
            self.sock.setblocking(False)
            self.sel.register(self.sock, selectors.EVENT_READ, "sock")
            self.sel.register(wake_r, selectors.EVENT_READ, "signal")
            if self.tty:
                self.send_size()
            if self.in_fd is not None:
                self.watch_stdin(True)
            try:
                return self.loop(wake_r, previous)
            except _Ended as ended:
                ending = ended.signum
        finally:
            self.sel.close()
            if restore_tty:
                restore_tty()
            for s, handler in previous.items():
                signal.signal(s, signal.SIG_DFL if handler is None else handler)  # type: ignore[arg-type]
            if old_wakeup is not None:
                signal.set_wakeup_fd(old_wakeup)
            os.close(wake_r)
            os.close(wake_w)
        os.kill(os.getpid(), ending)  # (its own handler again: the default ends us)
        return attach.Outcome(None, detached=True)  # (its handler returned: we left, the container goes on)

    def loop(self, wake_r: int, proxied: dict[int, object]) -> attach.Outcome:
        reader = attach.FrameReader()
        out, err = sys.stdout.buffer, sys.stderr.buffer
        while True:
            events = self.sel.select(0 if self.file_input and self.reading_stdin else None)
            kinds = {key.data for key, _ in events}
            if self.file_input and self.reading_stdin:
                kinds.add("stdin")
            if "signal" in kinds:
                for signum in _drain(wake_r):
                    if signum == signal.SIGWINCH and self.tty:
                        self.send_size()
                    elif signum in proxied and not self.sig_proxy:
                        raise _Ended(signum)
                    elif signum in proxied:
                        self.send_control(attach.frame(attach.SIGNAL, str(signum).encode()))
            if "stdin" in kinds:
                data = os.read(self.in_fd, 65536)  # type: ignore[arg-type]
                if not data:
                    self.watch_stdin(False)
                    self.in_fd = None
                    self.input += self.matcher.flush()  # (a partial sequence at the end: it was input)
                    self.input_ended = True
                    self.flush()
                else:
                    data, detached = self.matcher.feed(data)
                    self.input += data
                    self.flush()
                    if detached:
                        self.finish_sending()
                        return attach.Outcome(None, detached=True)
            if "sock" in kinds:
                self.flush()
                try:
                    chunk = self.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    return attach.Outcome(None)  # the monitor went away without an exit code
                try:
                    frames = reader.feed(chunk)
                except attach.FrameTooLarge:
                    return attach.Outcome(None)
                for kind, payload in frames:
                    if kind == attach.STDOUT:
                        out.write(payload)
                        out.flush()
                    elif kind == attach.STDERR:
                        err.write(payload)
                        err.flush()
                    elif kind == attach.EXIT:
                        return attach.Outcome(int(payload or b"0"))
                    elif kind == attach.STDIN_ACK:
                        self.unacked = max(0, self.unacked - int(payload or b"0"))
                        self.flush()

    # -- sending --------------------------------------------------------------------------------

    def send_control(self, message: bytes) -> None:
        self.control += message
        self.flush()

    def _next_frame(self, window: bool = True) -> bytes:
        """What goes into the socket next: control frames first, then input as far as the
        monitor's acknowledgements allow (``window``), then the end of input."""
        if self.control:
            message, self.control = bytes(self.control), bytearray()
            return message
        room = attach.STDIN_WINDOW - self.unacked if window else CHUNK
        if self.input and room > 0:
            data = bytes(self.input[:min(CHUNK, room)])
            del self.input[:len(data)]
            self.unacked += len(data)
            return attach.frame(attach.STDIN, data)
        if self.input_ended and not self.input:
            self.input_ended = False
            return attach.frame(attach.STDIN_EOF)
        return b""

    def flush(self) -> None:
        """Send what the socket takes now; watch it for room while something waits, and our
        stdin only while not too much does."""
        while True:
            if not self.outgoing:
                self.outgoing += self._next_frame()
                if not self.outgoing:
                    break
            try:
                sent = self.sock.send(self.outgoing)
            except BlockingIOError:
                break
            except OSError:  # the monitor is gone: the read side says so
                self.outgoing.clear()
                self.control.clear()
                self.input.clear()
                self.input_ended = False
                break
            del self.outgoing[:sent]
            if self.outgoing:
                break  # (the socket is full)
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.outgoing else 0)
        self.sel.modify(self.sock, events, "sock")
        if self.in_fd is not None:
            self.watch_stdin(len(self.input) < BACKLOG)

    def finish_sending(self) -> None:
        """Before we leave (a detach): what was typed before the keys still reaches the container
        (a few keystrokes: the acknowledgements are not waited for)."""
        rest = bytearray(self.outgoing)
        while message := self._next_frame(window=False):
            rest += message
        if rest:
            try:
                self.sock.settimeout(5)
                self.sock.sendall(rest)
            except OSError:
                pass

    def send_size(self) -> None:
        message = attach.size_frame()
        if message:
            self.send_control(message)

    def watch_stdin(self, on: bool) -> None:
        if on == self.reading_stdin:
            return
        self.reading_stdin = on
        if self.file_input:
            return
        if on:
            try:
                self.sel.register(self.in_fd, selectors.EVENT_READ, "stdin")  # type: ignore[arg-type]
            except PermissionError:
                self.file_input = True
        else:
            self.sel.unregister(self.in_fd)  # type: ignore[arg-type]


def _noted(_signum: int, _frame: object) -> None:
    """The handler of the signals a session acts on: the wakeup fd carries them."""


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
