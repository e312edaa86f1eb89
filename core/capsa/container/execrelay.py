"""The copy between capsa's stdio and an attached exec session's pipes (no terminal): see
:func:`capsa.container.execsession.attached`."""
from __future__ import annotations

import os

RELAY = 65536


def relay(relays: list[tuple[int, int]], pidfd: int) -> None:
    """Copy each (source, destination) until the process exits and its output is drained (what
    is left once it exited: a background child may hold the pipes open). The copy into the
    process's stdin pipe never blocks (a process that does not read its stdin must not keep its
    output from being copied): what the pipe does not take waits, and the copy ends when the
    process exits."""
    import fcntl
    import select

    poller = select.poll()
    outputs = {src: dst for src, dst in relays if src != 0}
    feed = next((dst for src, dst in relays if src == 0), -1)  # the stdin pipe's write end, or -1
    pending = b""
    for src in outputs:
        poller.register(src, select.POLLIN)
    if feed >= 0:
        fcntl.fcntl(feed, fcntl.F_SETFL, fcntl.fcntl(feed, fcntl.F_GETFL) | os.O_NONBLOCK)
        poller.register(0, select.POLLIN)
    poller.register(pidfd, select.POLLIN)

    def stop_feeding() -> None:
        nonlocal feed, pending
        if feed >= 0:
            poller.unregister(feed if pending else 0)
            os.close(feed)
            feed, pending = -1, b""

    def push(data: bytes) -> None:
        """Write to the stdin pipe what it takes; wait for it to take the rest (POLLOUT)."""
        nonlocal pending
        try:
            data = data[os.write(feed, data):]
        except BlockingIOError:
            pass
        except OSError:  # (the process closed its stdin)
            data = b""
            stop_feeding()
            return
        if data and not pending:
            poller.unregister(0)
            poller.register(feed, select.POLLOUT)
        elif not data and pending:
            poller.unregister(feed)
            poller.register(0, select.POLLIN)
        pending = data

    exited = False
    while outputs or (feed >= 0 and not exited):
        events = poller.poll(0 if exited else None)
        if not events:
            break  # exited, nothing more to read now
        for fd, _ in events:
            if fd == pidfd:
                exited = True
                poller.unregister(pidfd)
                stop_feeding()  # nobody reads stdin any more
            elif fd == feed and pending:
                push(pending)
            elif fd == 0 and feed >= 0 and not pending:
                data = os.read(0, RELAY)
                if data:
                    push(data)
                else:
                    stop_feeding()  # EOF on our stdin: EOF for the process
            elif fd in outputs:
                try:
                    data = os.read(fd, RELAY)
                except OSError:
                    data = b""
                if data:
                    try:
                        _write_all(outputs[fd], data)
                        continue
                    except OSError:
                        pass  # the reader went away: stop this copy
                poller.unregister(fd)
                os.close(fd)
                del outputs[fd]
    stop_feeding()
    for fd in outputs:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
