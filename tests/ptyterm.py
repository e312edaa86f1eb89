"""Driving a command through a real pseudo-terminal: the command's stdin, stdout and stderr are
the pty's slave, which is its controlling terminal (a session of its own); the test reads and
types on the master, resizes it, and checks the slave's terminal mode before and after."""
from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import termios
import time


class PtyCommand:
    """``argv`` running on a new pty of ``rows`` x ``cols``."""

    def __init__(self, argv: list[str], env: dict[str, str], rows: int = 24, cols: int = 80) -> None:
        self.master, self.slave = os.openpty()
        self.resize(rows, cols)
        self.mode_before = termios.tcgetattr(self.slave)
        self.output = b""

        def controlling_terminal() -> None:  # (in the child, after setsid)
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(argv, stdin=self.slave, stdout=self.slave, stderr=self.slave, env=env,
                                     start_new_session=True, preexec_fn=controlling_terminal, close_fds=True)

    def resize(self, rows: int, cols: int) -> None:
        """Set the pty's window size: the kernel sends SIGWINCH to its foreground process group."""
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def type(self, text: str | bytes) -> None:
        os.write(self.master, text.encode() if isinstance(text, str) else text)

    def read_some(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: nobody holds the slave any more
            return b""
        self.output += data
        return data

    def expect(self, text: str, timeout: float = 15) -> str:
        """Wait until ``text`` appeared in the output since the last expect; returns that output."""
        deadline = time.monotonic() + timeout
        while text.encode() not in self.output:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} not seen; output: {self.output!r}")
            self.read_some(min(left, 0.2))
        seen, _, rest = self.output.partition(text.encode())
        self.output = rest
        return (seen + text.encode()).decode(errors="replace")

    def wait(self, timeout: float = 30) -> int:
        """The command's exit code (its remaining output is read meanwhile)."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running; output: {self.output!r}")
            self.read_some(0.05)
        while self.read_some(0.05):
            pass
        return self.proc.returncode

    def wait_raw(self, timeout: float = 15) -> None:
        """Wait until the command put its terminal in raw mode (it is attached by then)."""
        deadline = time.monotonic() + timeout
        while self.mode_now() == self.mode_before:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"the terminal was not made raw; output: {self.output!r}")
            self.read_some(0.05)

    def mode_now(self) -> list[object]:
        return termios.tcgetattr(self.slave)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
