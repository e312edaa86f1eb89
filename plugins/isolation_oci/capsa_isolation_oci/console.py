"""The console socket of ``runtime create --console-socket PATH``: the runtime connects and
sends the pty master (SCM_RIGHTS); :meth:`Listener.forward` passes it on to the caller's
``console`` socket, the same way the ``linux`` driver sends it."""
from __future__ import annotations

import os
import socket
import tempfile

WAIT = 10.0  # seconds: the runtime connected during create already


class Listener:
    """A listening unix socket in a fresh short-named directory (a socket path has at most 107
    bytes, so not under the runroot, which may be deep)."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="capsa-console-")
        self.path = os.path.join(self.dir, "sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)

    def forward(self, console: int) -> None:
        """Receive the pty master from the runtime and send it through ``console`` (an fd of a
        connected unix socket, not closed here)."""
        from capsa.errors import IsolationError

        self.sock.settimeout(WAIT)
        try:
            conn, _ = self.sock.accept()
            with conn:
                conn.settimeout(WAIT)
                _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
        except OSError as exc:
            raise IsolationError(f"the runtime sent no terminal on its console socket: {exc}",
                                 hint="the runtime must support --console-socket (crun and runc do)") from None
        if not fds:
            raise IsolationError("the runtime sent no terminal on its console socket")
        try:
            out = socket.socket(fileno=os.dup(console))
            with out:
                socket.send_fds(out, [b"\0"], fds[:1])
        finally:
            for fd in fds:
                os.close(fd)

    def close(self) -> None:
        self.sock.close()
        for path in (self.path, self.dir):
            try:
                os.unlink(path) if path == self.path else os.rmdir(path)
            except OSError:
                pass
