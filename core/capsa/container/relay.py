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

from capsa.container import attach
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


BACKLOG = 1 << 20  # bytes of input waiting for the container before we stop reading clients


class Relay:
    """Output to the log and to clients; clients' input, resizes and signals to the container.

    Input waits in :attr:`pending` until the container's stdin takes it (never a blocking write:
    a container that does not read its stdin must not stop its output from being relayed); while
    more than :data:`BACKLOG` waits, the clients are not read (they stop reading their stdin)."""

    def __init__(self, log_path: str, listener: socket.socket, tty: bool, clients: list[socket.socket] | None = None) -> None:
        self.log_path = log_path
        self.listener = listener
        self.tty = tty
        self.clients: list[socket.socket] = list(clients or [])
        self.readers = {c: attach.FrameReader() for c in self.clients}
        self.size: tuple[int, int] | None = None  # the last window size a client sent (-t)
        self.pending = bytearray()  # input for the container's stdin
        self.end_of_input = False  # a client said so (without -t): close its stdin once pending is written
        self._sel: selectors.BaseSelector | None = None  # pump's, while it runs
        self._watching_in: int | None = None  # the stdin fd pump watches for room
        self._throttled = False

    def accept_waiting(self) -> None:
        """Accept the clients already queued on the attach socket, without blocking."""
        self.listener.setblocking(False)
        try:
            while True:
                try:
                    client, _ = self.listener.accept()
                except BlockingIOError:
                    return
                client.setblocking(True)
                self.clients.append(client)
                self.readers[client] = attach.FrameReader()
        finally:
            self.listener.setblocking(True)

    def pump(self, pidfd: int, ours: dict[str, int], handoff_after: float | None = None) -> int | None:
        """Relay until the container exits and return its exit code; or, with ``handoff_after``,
        return None once that many seconds passed with the container still running (its output
        read so far is logged and sent; nothing is lost)."""
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
        for client in self.clients:
            sel.register(client, selectors.EVENT_READ, ("client", ""))
        self._sel, self._watching_in, self._throttled = sel, None, False
        self.write_input(ours)
        exit_code: int | None = None
        deadline = None if handoff_after is None else time.monotonic() + handoff_after
        try:
            while exit_code is None or streams:
                self._watch(ours)
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
                events = sel.select(timeout)
                if not events and exit_code is not None:
                    break  # output drained (or held open by a process outside: give up)
                for key, _ in events:
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
                    elif role == "accept":
                        client, _ = self.listener.accept()
                        self.clients.append(client)
                        self.readers[client] = attach.FrameReader()
                        if not self._throttled:
                            sel.register(client, selectors.EVENT_READ, ("client", ""))
                    else:
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

    def settle(self, ours: dict[str, int], pidfd: int) -> None:
        """Act on what the clients sent already, without blocking: called before the container
        starts, so that it starts with the window size of the terminal that ran ``run -it``
        (sent before the client said go) and with any input typed meanwhile."""
        for client in list(self.clients):
            client.setblocking(False)
            try:
                while True:
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
            finally:
                if client in self.clients:
                    client.setblocking(True)

    def handle(self, client: socket.socket, data: bytes, ours: dict[str, int], pidfd: int) -> None:
        """The frames in ``data`` from ``client``: input, end of input, window size, signals."""
        for kind, payload in self.readers[client].feed(data):
            if kind == attach.STDIN and "in" in ours:
                self.pending += payload
                self.write_input(ours)
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
            self.pending.clear()
            return
        if self.pending:
            os.set_blocking(fd, False)
        while self.pending:
            try:
                written = os.write(fd, self.pending)
            except BlockingIOError:
                break
            except OSError:  # EPIPE: nobody reads it any more
                self.pending.clear()
                break
            del self.pending[:written]
        if self.end_of_input and not self.pending:
            self.end_of_input = False
            self._unwatch_in()
            close_quietly(ours.pop("in"))

    def _watch(self, ours: dict[str, int]) -> None:
        """pump's selector: the container's stdin while input waits for it; the clients unless
        too much does."""
        sel = self._sel
        if sel is None:
            return
        fd = ours.get("in")
        if self.pending and fd is not None and self._watching_in is None:
            sel.register(fd, selectors.EVENT_WRITE, ("in", ""))
            self._watching_in = fd
        elif not self.pending:
            self._unwatch_in()
        throttle = len(self.pending) > BACKLOG
        if throttle != self._throttled:
            self._throttled = throttle
            for client in self.clients:
                if throttle:
                    sel.unregister(client)
                else:
                    sel.register(client, selectors.EVENT_READ, ("client", ""))

    def _unwatch_in(self) -> None:
        if self._sel is not None and self._watching_in is not None:
            self._sel.unregister(self._watching_in)
        self._watching_in = None

    def broadcast(self, kind: int, payload: bytes) -> None:
        message = attach.frame(kind, payload)
        for client in list(self.clients):
            try:
                client.sendall(message)
            except OSError:
                self.drop(client)

    def drop(self, client: socket.socket) -> None:
        if self._sel is not None:
            try:
                self._sel.unregister(client)
            except (KeyError, ValueError):
                pass
        if client in self.clients:
            self.clients.remove(client)
        self.readers.pop(client, None)
        client.close()

    def handoff_fds(self) -> dict[str, object]:
        """The descriptors another process needs to carry on (made inheritable)."""
        fds = [self.listener.fileno(), *(c.fileno() for c in self.clients)]
        for fd in fds:
            os.set_inheritable(fd, True)
        return {"listener": fds[0], "clients": fds[1:], "size": self.size}

    @classmethod
    def adopt(cls, log_path: str, tty: bool, fds: dict[str, object]) -> Relay:
        """The relay another process handed over (see :meth:`handoff_fds`)."""
        listener = socket.socket(fileno=int(fds["listener"]))  # type: ignore[call-overload]
        clients = [socket.socket(fileno=int(fd)) for fd in fds["clients"]]  # type: ignore[attr-defined]
        relay = cls(log_path, listener, tty, clients)
        size = fds.get("size")
        relay.size = (int(size[0]), int(size[1])) if size else None  # type: ignore[index]
        return relay
