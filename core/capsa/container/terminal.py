"""The caller's terminal, for the attach clients (``run -it``, ``start -ai``, ``attach``,
``exec -it``): raw mode (and its restoration), and its window size. Stdlib only."""
from __future__ import annotations

import os
import struct
from collections.abc import Callable


def raw_terminal(fd: int) -> Callable[[], None] | None:
    """Put terminal ``fd`` in raw mode; returns what restores its previous mode (exactly as it
    was), or None when ``fd`` is not a terminal."""
    import termios
    import tty

    if not os.isatty(fd):
        return None
    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSANOW)

    def restore() -> None:
        try:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        except termios.error:  # (the terminal went away meanwhile)
            pass

    return restore


def window_size(*fds: int) -> tuple[int, int] | None:
    """(rows, columns) of the first of ``fds`` that is a terminal with a size, else None."""
    for fd in fds:
        try:
            size = os.get_terminal_size(fd)
        except OSError:
            continue
        if size.lines or size.columns:
            return size.lines, size.columns
    return None


def pack_size(rows: int, columns: int) -> bytes:
    """A RESIZE frame's payload (see :mod:`capsa.container.attach`)."""
    return struct.pack(">HH", rows, columns)


def set_window_size(fd: int, rows: int, columns: int) -> None:
    """TIOCSWINSZ on a pty (its master): the kernel sends SIGWINCH to the foreground process
    group of its terminal."""
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
