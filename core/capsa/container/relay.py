"""A running container's stdio and attached clients: the monitor's relay loop.

Stdlib only (besides capsa's attach protocol and log writer), because the monitor hands a
long-running container over to its lean form (:mod:`capsa.container.lean_monitor`) that runs
this same loop with a much smaller memory footprint.
"""
from __future__ import annotations

import os
import selectors
import signal
import socket
import time
from collections import deque

from capsa.container import attach
from capsa.container.drainer import drain_and_exit, send_what_it_takes
from capsa.container.logwriter import LogWriter


def exit_code_of(info: object) -> int:
    """Shell convention: the exit status, or 128 + the signal that killed it."""
    if info.si_code == os.CLD_EXITED:  # type: ignore[attr-defined]
        return int(info.si_status)  # type: ignore[attr-defined]
    return 128 + int(info.si_status)  # type: ignore[attr-defined]


def read_some(fd: int) -> bytes | None:
    """Up to 64 KiB; b"" at end of stream (or a pty whose last holder closed it: EIO); None when
    nothing is there right now."""
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def reap_orphans() -> None:
    """Collect any other child that ended (we are a subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


OUTPUT_CAP = 4 << 20  # bytes of output waiting for one client before the container's output is read no further
STALL = 2.0  # seconds a client over OUTPUT_CAP may take nothing before it is dropped


TIMED_OUT = -1  # the exit code of a container killed by ``run --timeout`` (podman's)


class Relay:
    """Output to the log and to clients; clients' input, resizes and signals to the container.

    Input waits in :attr:`pending` until the container's stdin takes it (never a blocking write:
    a container that does not read its stdin must not stop its output from being relayed); what
    it took, or what was dropped, is acknowledged to the client that sent it (STDIN_ACK), which
    sends no more than :data:`capsa.container.attach.STDIN_WINDOW` ahead. So the clients are
    always read: a resize or a signal never waits behind input.

    Output to a client never blocks either: client sockets are non-blocking, and what one cannot
    take now waits in its :attr:`outbox` (sent as it makes room). While a client has more than
    :data:`OUTPUT_CAP` waiting, the container's output is not read (a slow terminal slows the
    container, as a pty would); a client over the cap that takes nothing for :data:`STALL`
    seconds is dropped, and the log and the other clients go on without it."""

    def __init__(self, log_path: str, listener: socket.socket, tty: bool, clients: list[socket.socket] | None = None) -> None:
        self.log_path = log_path
        self.listener = listener
        self.tty = tty
        self.clients: list[socket.socket] = []
        self.readers: dict[socket.socket, attach.FrameReader] = {}
        self.outbox: dict[socket.socket, bytearray] = {}  # output a client could not take yet
        self.progress: dict[socket.socket, float] = {}  # when each client last took some output
        self.size: tuple[int, int] | None = None  # the last window size a client sent (-t)
        self.pending = bytearray()  # input for the container's stdin
        self.owed: deque[list] = deque()  # [client, bytes]: whose input pending holds, in order (to acknowledge)
        self.end_of_input = False  # a client said so (without -t): close its stdin once pending is written
        self._sel: selectors.BaseSelector | None = None  # pump's, while it runs
        self._watching_in: int | None = None  # the stdin fd pump watches for room
        for client in clients or []:
            self.add(client)

    def accept_waiting(self) -> None:
        """Accept the clients already queued on the attach socket, without blocking."""
        self.listener.setblocking(False)
        try:
            while True:
                try:
                    client, _ = self.listener.accept()
                except OSError:  # (none waiting; or no descriptor to spare: they hear nothing)
                    return
                self.add(client)
        finally:
            self.listener.setblocking(True)

    def add(self, client: socket.socket, unsent: bytes = b"", partial: bytes = b"") -> None:
        """A new client (non-blocking from now on), with the output it is owed and the start of
        a frame it sent (across a hand-over)."""
        client.setblocking(False)
        self.clients.append(client)
        self.readers[client] = attach.FrameReader(partial)
        self.outbox[client] = bytearray(unsent)
        self.progress[client] = time.monotonic()
        self._register(client)

    def _register(self, client: socket.socket) -> None:
        """pump's selector: each client for reading, and for room while output waits for it."""
        if self._sel is None or client not in self.clients:
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.outbox[client] else 0)
        try:
            self._sel.modify(client, events, ("client", ""))
        except KeyError:
            self._sel.register(client, events, ("client", ""))

    def pump(self, pidfd: int, ours: dict[str, int], handoff_after: float | None = None,
             kill_at: float | None = None) -> int | None:
        """Relay until the container exits and return its exit code; or, with ``handoff_after``,
        return None once that many seconds passed with the container still running (its output
        read so far is logged and sent; nothing is lost). ``kill_at`` (``time.monotonic()``,
        ``run --timeout``): the container gets SIGKILL then, and its exit code is -1 (podman's:
        ``inspect``'s ExitCode, ``wait``; ``run`` exits 255)."""
        log = LogWriter(self.log_path)
        sel = selectors.DefaultSelector()
        streams = {ours["out"]: "stdout"}
        if "err" in ours:
            streams[ours["err"]] = "stderr"
        if ours.get("in") in streams:  # (a pty's master: the relay watches input and output each its own way)
            ours["in"] = os.dup(ours["in"])
        for fd, name in streams.items():
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ, ("out", name))
        sel.register(pidfd, selectors.EVENT_READ, ("exit", ""))
        sel.register(self.listener, selectors.EVENT_READ, ("accept", ""))
        self._sel, self._watching_in = sel, None
        paused = False  # the container's output is not read: a client is over OUTPUT_CAP
        for client in self.clients:
            self._register(client)
        self.write_input(ours)
        exit_code: int | None = None
        timed_out = False
        deadline = None if handoff_after is None else time.monotonic() + handoff_after
        try:
            while exit_code is None or streams:
                self._watch(ours)
                full = self._full()
                if full != paused:
                    paused = full
                    for fd, name in streams.items():
                        if paused:
                            sel.unregister(fd)
                        else:
                            sel.register(fd, selectors.EVENT_READ, ("out", name))
                if exit_code is not None:
                    timeout: float | None = 0.5
                elif deadline is not None:
                    timeout = deadline - time.monotonic()
                    if timeout <= 0:
                        if not (self.pending or self.end_of_input):
                            return None
                        timeout = 0.1  # (input still waits: it is not handed over)
                else:
                    timeout = None
                if kill_at is not None and exit_code is None:
                    left = kill_at - time.monotonic()
                    if left <= 0:
                        import signal

                        try:
                            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                        kill_at, timed_out = None, True
                    else:
                        timeout = left if timeout is None else min(timeout, left)
                if paused:
                    timeout = STALL / 4 if timeout is None else min(timeout, STALL / 4)
                events = sel.select(timeout)
                if not events and exit_code is not None and not paused:
                    break  # output drained (or held open by a process outside: give up)
                for key, mask in events:
                    role, name = key.data
                    if role == "out":
                        data = read_some(key.fd)
                        if data is None:
                            continue
                        if not data:
                            sel.unregister(key.fd)
                            streams.pop(key.fd, None)
                            continue
                        log.write(name, data)
                        self.broadcast(attach.STDOUT if name == "stdout" else attach.STDERR, data)
                    elif role == "in":
                        self.write_input(ours)
                    elif role == "exit":
                        exit_code = exit_code_of(os.waitid(os.P_PIDFD, pidfd, os.WEXITED))
                        sel.unregister(pidfd)
                        self.end_input()
                    elif role == "accept":
                        client, _ = self.listener.accept()
                        self.add(client)
                    else:
                        if mask & selectors.EVENT_WRITE:
                            self.send_to(key.fileobj)  # type: ignore[arg-type]
                        if mask & selectors.EVENT_READ and key.fileobj in self.clients:
                            self.from_client(key.fileobj, sel, ours, pidfd)  # type: ignore[arg-type]
        finally:
            log.close()
            self._sel = None
            for client in self.clients:
                try:
                    sel.unregister(client)
                except (KeyError, ValueError):
                    pass
            sel.close()
        reap_orphans()
        if timed_out:
            return TIMED_OUT
        return exit_code if exit_code is not None else 255

    def from_client(self, client: socket.socket, sel: selectors.BaseSelector, ours: dict[str, int], pidfd: int) -> None:
        try:
            data = client.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.drop(client)  # (unregistered there)
            return
        if client in self.clients:
            self.handle(client, data, ours, pidfd)

    def send_one(self, client: socket.socket, kind: int, payload: bytes) -> None:
        """A frame for ``client`` alone (through its outbox)."""
        box = self.outbox.get(client)
        if box is not None:
            box += attach.frame(kind, payload)
            self.send_to(client)

    def settle(self, ours: dict[str, int], pidfd: int) -> None:
        """Act on what the clients sent already, without blocking: called before the container
        starts, so that it starts with the window size of the terminal that ran ``run -it``
        (sent before the client said go) and with any input typed meanwhile."""
        for client in list(self.clients):
            while client in self.clients:
                try:
                    data = client.recv(65536)
                except BlockingIOError:
                    break
                except OSError:
                    data = b""
                if not data:
                    self.drop(client)
                    break
                self.handle(client, data, ours, pidfd)

    def handle(self, client: socket.socket, data: bytes, ours: dict[str, int], pidfd: int) -> None:
        """The frames in ``data`` from ``client``: input, end of input, window size, signals."""
        try:
            frames = self.readers[client].feed(data)
        except attach.FrameTooLarge:
            self.drop(client)  # not a client of ours
            return
        for kind, payload in frames:
            if kind == attach.STDIN and "in" in ours:
                self.pending += payload
                self.owed.append([client, len(payload)])
                self.write_input(ours)
            elif kind == attach.STDIN:
                self.send_one(client, attach.STDIN_ACK, str(len(payload)).encode())  # (no stdin: dropped)
            elif kind == attach.STDIN_EOF and "in" in ours and not self.tty:
                self.end_of_input = True
                self.write_input(ours)
            elif kind == attach.RESIZE and self.tty and len(payload) == 4:
                from capsa.container.terminal import set_window_size

                rows, cols = divmod(int.from_bytes(payload, "big"), 1 << 16)
                self.size = (rows, cols)
                try:
                    set_window_size(ours["out"], rows, cols)  # the container gets SIGWINCH
                except OSError:
                    pass
            elif kind == attach.SIGNAL:
                try:
                    signal.pidfd_send_signal(pidfd, int(payload))
                except (OSError, ValueError):
                    pass

    def write_input(self, ours: dict[str, int]) -> None:
        """Write what the container's stdin takes now of :attr:`pending`; then, after the end of
        input, close it. Input for a stdin that is closed (or a process that closed it) goes."""
        fd = ours.get("in")
        if fd is None:
            self.drop_pending()
            return
        if self.pending:
            os.set_blocking(fd, False)
        taken = 0
        while self.pending:
            try:
                written = os.write(fd, self.pending)
            except BlockingIOError:
                break
            except OSError:  # EPIPE: nobody reads it any more
                self.drop_pending()
                break
            del self.pending[:written]
            taken += written
        if taken:
            self.acknowledge(taken)
        if self.end_of_input and not self.pending:
            self.end_of_input = False
            self._unwatch_in()
            close_quietly(ours.pop("in"))

    def end_input(self) -> None:
        """The container exited: input for it goes, and so does an end of input not yet
        delivered (a restart's process starts with a stdin of its own, and nothing of the last's)."""
        self.drop_pending()
        self.end_of_input = False

    def drop_pending(self) -> None:
        """Input nobody will read goes (acknowledged: its clients may send more)."""
        self.acknowledge(len(self.pending))
        self.pending.clear()

    def acknowledge(self, count: int) -> None:
        """The first ``count`` bytes of pending were taken: tell the clients that sent them."""
        counts: dict[socket.socket, int] = {}
        while count and self.owed:
            entry = self.owed[0]
            n = min(count, entry[1])
            counts[entry[0]] = counts.get(entry[0], 0) + n
            entry[1] -= n
            count -= n
            if not entry[1]:
                self.owed.popleft()
        for client, n in counts.items():
            self.send_one(client, attach.STDIN_ACK, str(n).encode())

    def _watch(self, ours: dict[str, int]) -> None:
        """pump's selector: the container's stdin while input waits for it."""
        sel = self._sel
        if sel is None:
            return
        fd = ours.get("in")
        if self.pending and fd is not None and self._watching_in is None:
            sel.register(fd, selectors.EVENT_WRITE, ("in", ""))
            self._watching_in = fd
        elif not self.pending:
            self._unwatch_in()

    def _unwatch_in(self) -> None:
        if self._sel is not None and self._watching_in is not None:
            self._sel.unregister(self._watching_in)
        self._watching_in = None

    def broadcast(self, kind: int, payload: bytes) -> None:
        """``payload`` to every client, without waiting for any (see :attr:`outbox`)."""
        message = attach.frame(kind, payload)
        for client in list(self.clients):
            box = self.outbox[client]
            was_empty = not box
            box += message
            if was_empty:
                self.send_to(client)

    def send_to(self, client: socket.socket) -> None:
        """What ``client`` takes now of its outbox."""
        box = self.outbox.get(client)
        if box is None:
            return
        was_waiting = bool(box)
        taken = send_what_it_takes(client, box)
        if taken is None:
            self.drop(client)
            return
        if taken:
            self.progress[client] = time.monotonic()
        if box or was_waiting:
            self._register(client)

    def _full(self) -> bool:
        """Whether a client has more than OUTPUT_CAP waiting; those that took nothing for STALL
        seconds are dropped first."""
        now, full = time.monotonic(), False
        for client in list(self.clients):
            if len(self.outbox[client]) > OUTPUT_CAP:
                if now - self.progress[client] > STALL:
                    self.drop(client)  # it stopped reading: it does not hold the others up
                else:
                    full = True
        return full

    def finish(self, code: int) -> None:
        """The exit code to every client, then close them. Clients still owed output are served
        by a drainer process of their own, so that the monitor ends at once (``stop``, ``rm`` and
        ``start`` wait for it): each gets what it is owed for as long as it takes some of it at
        least every :data:`capsa.container.drainer.EXIT_STALL` seconds (a reader that pauses,
        ``run ... | less``, still gets all of it); one that takes nothing for that long is
        closed, and its client reports the lost output as an error, never as the exit code."""
        self.broadcast(attach.EXIT, str(code).encode())
        for client in list(self.clients):
            if not self.outbox[client]:
                self.drop(client)
        if not self.clients:
            return
        try:
            drainer = os.fork()
        except OSError:  # (no process to spare: those clients end without their output, and say so)
            drainer = -1
        if drainer == 0:
            drain_and_exit(self.clients, self.outbox)
        for client in list(self.clients):  # (ours: the drainer has its own copies)
            self.clients.remove(client)
            self.outbox.pop(client, None)
            client.close()

    def drop(self, client: socket.socket) -> None:
        if self._sel is not None:
            try:
                self._sel.unregister(client)
            except (KeyError, ValueError):
                pass
        if client in self.clients:
            self.clients.remove(client)
        self.readers.pop(client, None)
        self.outbox.pop(client, None)
        self.progress.pop(client, None)
        client.close()

    def handoff_fds(self) -> dict[str, object]:
        """The descriptors another process needs to carry on (made inheritable)."""
        from binascii import b2a_base64

        fds = [self.listener.fileno(), *(c.fileno() for c in self.clients)]
        for fd in fds:
            os.set_inheritable(fd, True)
        unsent = [b2a_base64(self.outbox[c], newline=False).decode() for c in self.clients]
        partial = [b2a_base64(self.readers[c].buf, newline=False).decode() for c in self.clients]
        return {"listener": fds[0], "clients": fds[1:], "unsent": unsent, "partial": partial, "size": self.size}

    @classmethod
    def adopt(cls, log_path: str, tty: bool, fds: dict[str, object]) -> Relay:
        """The relay another process handed over (see :meth:`handoff_fds`)."""
        from binascii import a2b_base64

        listener = socket.socket(fileno=int(fds["listener"]))  # type: ignore[call-overload]
        relay = cls(log_path, listener, tty)
        unsent = list(fds.get("unsent") or [])  # type: ignore[call-overload]
        partial = list(fds.get("partial") or [])  # type: ignore[call-overload]
        for i, fd in enumerate(fds["clients"]):  # type: ignore[arg-type]
            relay.add(socket.socket(fileno=int(fd)), a2b_base64(unsent[i]) if i < len(unsent) else b"",
                      a2b_base64(partial[i]) if i < len(partial) else b"")
        size = fds.get("size")
        relay.size = (int(size[0]), int(size[1])) if size else None  # type: ignore[index]
        return relay
