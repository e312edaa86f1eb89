"""The drainer: what a container's monitor forks when the container has exited and attached
clients are still owed output (see :meth:`capsa.container.relay.Relay.finish`), so that the
monitor itself ends at once (``stop``, ``rm`` and ``start`` wait for it). Stdlib only."""
from __future__ import annotations

import os
import selectors
import signal
import socket
import time

EXIT_STALL = 30.0  # seconds a client may take nothing of what it is owed before it is closed


def drain_and_exit(clients: list[socket.socket], outbox: dict[socket.socket, bytearray]) -> None:
    """In the forked child: keep only the clients' descriptors (the monitor's lock above all
    goes: it is the monitor's alone once the monitor exits), then send each client what it is
    owed while it takes some every :data:`EXIT_STALL` seconds. Never returns."""
    try:
        import gc

        gc.disable()  # (no finalizer closes a descriptor number the drainer reuses)
        keep = sorted(client.fileno() for client in clients)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        low = 3
        for fd in keep:
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, 1 << 20)
        os.chdir("/")  # (pins no filesystem)
        os.setsid()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        _drain(list(clients), outbox)
    finally:
        os._exit(0)


def _drain(clients: list[socket.socket], outbox: dict[socket.socket, bytearray]) -> None:
    sel = selectors.DefaultSelector()
    progress = {}
    for client in clients:
        client.setblocking(False)
        sel.register(client, selectors.EVENT_WRITE)
        progress[client] = time.monotonic()
    while clients:
        for key, _ in sel.select(1.0):
            client = key.fileobj  # type: ignore[assignment]
            box = outbox[client]
            taken = send_what_it_takes(client, box)
            if taken is None:
                box.clear()  # (gone: nothing more to send it)
            elif taken:
                progress[client] = time.monotonic()
            if not box:
                sel.unregister(client)
                clients.remove(client)
                client.close()
        now = time.monotonic()
        for client in list(clients):
            if now - progress[client] > EXIT_STALL:
                sel.unregister(client)
                clients.remove(client)
                client.close()


def send_what_it_takes(client: socket.socket, box: bytearray) -> bool | None:
    """Send ``client`` (non-blocking) as much of ``box`` as it takes now, removing that from
    ``box``: whether it took some; None when it is gone (the relay and the drainer alike)."""
    took = False
    while box:
        try:
            sent = client.send(box)
        except BlockingIOError:
            break
        except OSError:
            return None
        del box[:sent]
        took = True
    return took
