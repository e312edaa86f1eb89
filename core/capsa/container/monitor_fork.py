"""Forking a container's monitor early (a one-shot pre-fork), so that its start-up overlaps the CLI's.

A monitor is forked from the CLI (double-forked into a session of its own, independent of the
CLI from then on) rather than started as a new interpreter: it inherits the modules the CLI has
already loaded, and no second interpreter start competes with the CLI for the CPU. ``run``
forks one (:func:`prefork`) once its flags are checked and the store is open, so that the
monitor loads and warms up its drivers while the CLI records the container; :func:`take` hands
it out once (later starts fork a new one). It then waits for its configuration on a pipe. A
CLI that ends up not needing it just closes the pipe, and the monitor exits without a trace.
Once it has its container it takes the container's monitor lock
(:mod:`capsa.container.monitor_lock`), which is how other commands know it is alive.

Three pipes join them: ``config`` (CLI to monitor: one JSON document, then EOF), ``messages``
(monitor to CLI: one JSON event per line) and ``go`` (closed by the CLI once it attached).
"""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_spare: Handle | None = None


class Handle:
    """The CLI's ends of a spawned monitor's pipes."""

    def __init__(self, config: int, messages: int, go: int) -> None:
        self.config, self.messages, self.go = config, messages, go

    def send(self, cfg: dict[str, Any]) -> None:
        """Hand the monitor its configuration (once)."""
        from capsa.fastpath.jsonio import dumps

        data = dumps(cfg).encode()
        view = memoryview(data)
        while view:
            view = view[os.write(self.config, view):]
        os.close(self.config)
        self.config = -1

    def discard(self) -> None:
        for fd in (self.config, self.messages, self.go):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass


def spawn(drivers: dict[str, str] | None = None) -> Handle:
    """Double-fork a monitor in a new session; it loads ``drivers`` (kind -> name: the ones the
    container will use) and waits for its configuration."""
    cfg_r, cfg_w = os.pipe()
    msg_r, msg_w = os.pipe()
    go_r, go_w = os.pipe()
    for stream in (sys.stdout, sys.stderr):  # nothing of ours may be written twice
        stream.flush()
    pid = os.fork()
    if pid == 0:  # first child: a new session, fork the monitor, leave
        try:
            os.setsid()
            if os.fork() == 0:
                _become_monitor(cfg_r, msg_w, go_r, drivers or {})
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    for fd in (cfg_r, msg_w, go_r):
        os.close(fd)
    return Handle(cfg_w, msg_r, go_w)


def _become_monitor(cfg_r: int, msg_w: int, go_r: int, drivers: dict[str, str]) -> None:
    """In the forked monitor: drop everything of the CLI's but the three pipes (the CLI's open
    files, its locks), and serve. Never returns."""
    import gc

    gc.freeze()  # the CLI's objects are never collected here: none of them closes a descriptor of ours
    gc.enable()  # (``run`` turned it off for its own short life; the monitor lives with its container)
    code = 1
    try:
        keep = sorted((cfg_r, msg_w, go_r))
        low = 3  # the monitor lives as long as its container: it keeps nothing else of ours
        for fd in keep:
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, 1 << 20)
        from capsa.container import monitor

        code = monitor.serve(cfg_r, msg_w, go_r, drivers)
    except BaseException:  # before serve() points stderr at monitor.log this goes nowhere
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def prefork(drivers: dict[str, str]) -> None:
    """Spawn a monitor now, for :func:`take` to hand out later in this process."""
    global _spare
    if _spare is None:
        _spare = spawn(drivers)


def take(drivers: dict[str, str]) -> Handle:
    """The pre-forked monitor if there is one, else a new one."""
    global _spare
    handle, _spare = _spare, None
    return handle if handle is not None else spawn(drivers)
