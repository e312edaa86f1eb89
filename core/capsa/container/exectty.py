"""The client side of ``exec -t``: relay the caller's terminal and the session's pty master.

The caller's terminal goes raw while stdin is attached (``-i``; :func:`capsa.container.attach._raw_terminal`,
restored on the way out), the pty takes the caller's window size at once and at every SIGWINCH,
and the detach keys (podman's ``--detach-keys``, default ctrl-p ctrl-q) leave the session
running in its waiter (:mod:`capsa.container.execsession`). Kept apart so that the terminal
helpers of ``run -it``/``attach`` and these can be unified.
"""
from __future__ import annotations

import os

from capsa.errors import UsageError

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
_CTRL_SPECIAL = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_detach_keys(spec: str) -> bytes:
    """podman's detach-key format (``ctrl-p,ctrl-q``, ``a``, ``ctrl-[``...) as bytes; ``""``
    turns detaching off (b""). Bad input: UsageError (exit 125)."""
    if spec == "":
        return b""
    out = bytearray()
    for item in spec.split(","):
        if len(item) == 1 and item.isascii() and item.isalpha():
            out.append(ord(item))
        elif item.startswith("ctrl-") and len(item) == 6:
            key = item[5]
            if "a" <= key <= "z":
                out.append(ord(key) - ord("a") + 1)
            elif key in _CTRL_SPECIAL:
                out.append(_CTRL_SPECIAL[key])
            else:
                raise UsageError(f"invalid detach keys {spec!r}: {item!r} is not ctrl-<a-z, @, ^, [, \\, ] or _>",
                                 hint="e.g. --detach-keys ctrl-p,ctrl-q, or \"\" to disable detaching")
        else:
            raise UsageError(f"invalid detach keys {spec!r}: {item!r} is neither a letter nor ctrl-<value>",
                             hint="e.g. --detach-keys ctrl-p,ctrl-q, or \"\" to disable detaching")
    return bytes(out)


def _copy_size(master: int) -> None:
    import fcntl
    import struct
    import termios

    for fd in (0, 1, 2):
        if os.isatty(fd):
            try:
                size = fcntl.ioctl(fd, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
                fcntl.ioctl(master, termios.TIOCSWINSZ, size)
            except OSError:
                pass
            return


def relay(master: int, waiter: int, interactive: bool, keys: bytes) -> int | None:
    """Relay until the session's terminal closes; the exit code the waiter reports, or None
    when the user detached (the session goes on). Closes ``master`` and ``waiter``."""
    import select
    import signal

    from capsa.container.attach import _raw_terminal
    from capsa.container.execsession import waiter_exit

    def resize(_signum: int, _frame: object) -> None:
        _copy_size(master)

    def interrupt(_signum: int, _frame: object) -> None:  # (not raw: the terminal's ^C, passed on)
        try:
            os.write(master, b"\x03")
        except OSError:
            pass

    previous = {signal.SIGWINCH: signal.signal(signal.SIGWINCH, resize),
                signal.SIGINT: signal.signal(signal.SIGINT, interrupt)}
    _copy_size(master)
    restore = _raw_terminal() if interactive else None
    poller = select.poll()
    poller.register(master, select.POLLIN)
    if interactive:
        poller.register(0, select.POLLIN)
    pending = b""
    detached = False
    try:
        open_ = True
        while open_:
            try:
                events = poller.poll()
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
            for fd, _ in events:
                if fd == master:
                    try:
                        data = os.read(master, 65536)
                    except OSError:  # EIO: every end of the pty's slave side is closed
                        data = b""
                    if not data:
                        open_ = False
                        break
                    _write_all(1, data)
                    continue
                data = os.read(0, 65536)
                if not data:
                    poller.unregister(0)
                    _write_all(master, b"\x04")  # EOF on our stdin: ^D to the terminal
                    continue
                data = pending + data
                if keys and keys in data:
                    _write_all(master, data[:data.index(keys)])
                    detached = True
                    open_ = False
                    break
                pending = b""
                for size in range(min(len(keys) - 1, len(data)), 0, -1):
                    if keys and data.endswith(keys[:size]):
                        pending, data = data[-size:], data[:-size]
                        break
                if data:
                    _write_all(master, data)
    finally:
        if restore:
            restore()  # type: ignore[operator]
        for s, handler in previous.items():
            signal.signal(s, handler)
        os.close(master)
    if detached:
        os.close(waiter)
        return None
    return waiter_exit(waiter)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
