"""The client side of ``exec -t``: relay the caller's terminal and the session's pty master.

The caller's terminal goes raw while stdin is attached (``-i``; :func:`capsa.container.attach._raw_terminal`,
restored on the way out), the pty takes the caller's window size at once and at every SIGWINCH,
and the detach keys (:mod:`capsa.container.detachkeys`, as ``run``, ``start`` and ``attach``)
leave the session running in its waiter (:mod:`capsa.container.execsession`).
"""
from __future__ import annotations

import os

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
    when the user detached (the session goes on). A waiter that goes away without reporting
    ends the relay at once: CapsaError (exit 125). Closes ``master`` and ``waiter``."""
    import select
    import signal

    from capsa.container.attach import _raw_terminal
    from capsa.container.detachkeys import Matcher
    from capsa.container.execrelay import _write_all
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
    poller.register(waiter, select.POLLIN)  # its report (``exit N``), or EOF: it went away
    report = b""
    if interactive:
        poller.register(0, select.POLLIN)
    matcher = Matcher(keys)
    detached = False
    try:
        open_ = True
        while open_:
            try:
                events = poller.poll()
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
            for fd, _ in events:
                if fd == waiter:
                    try:
                        chunk = os.read(waiter, 4096)
                    except OSError:
                        chunk = b""
                    report += chunk
                    if not chunk:
                        poller.unregister(waiter)
                        if not report:  # lost: nothing will report the exit code
                            open_ = False
                            break
                    continue
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
                    _write_all(master, matcher.held + b"\x04")  # EOF on our stdin: ^D to the terminal
                    matcher.held = b""
                    continue
                data, detached = matcher.feed(data)
                if data:
                    _write_all(master, data)
                if detached:
                    open_ = False
                    break
    finally:
        if restore:
            restore()  # type: ignore[operator]
        for s, handler in previous.items():
            signal.signal(s, handler)
        os.close(master)
    if detached:
        os.close(waiter)
        return None
    return waiter_exit(waiter, report)
