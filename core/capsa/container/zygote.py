"""Starting a container's monitor early, so that its start-up overlaps the CLI's.

A monitor is a fresh interpreter (``python -I -m capsa.container.monitor``), double-forked into
a session of its own: small (it imports only what it needs) and independent of the CLI. Its
interpreter start and imports take tens of milliseconds; ``main()`` therefore forks it
(:func:`prefork`) before the CLI imports anything heavy, for the commands that will need one.
The monitor imports its modules and then waits for its configuration on a pipe; a CLI that
ends up not needing it just closes the pipe, and the monitor exits without a trace.

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
    """The CLI's ends of a spawned monitor's pipes. (Plain, not a dataclass: this module is
    imported before the monitor is forked, so it imports nothing it can do without.)"""

    def __init__(self, config: int, messages: int, go: int) -> None:
        self.config, self.messages, self.go = config, messages, go

    def send(self, cfg: dict[str, Any]) -> None:
        """Hand the monitor its configuration (once)."""
        import json

        data = json.dumps(cfg).encode()
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


def spawn() -> Handle:
    """Double-fork a monitor in a new session; it waits for its configuration."""
    cfg_r, cfg_w = os.pipe()
    msg_r, msg_w = os.pipe()
    go_r, go_w = os.pipe()
    argv = [sys.executable, "-I", "-m", "capsa.container.monitor", f"{cfg_r},{msg_w},{go_r}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("_CAPSA_COMPLETE")}
    pid = os.fork()
    if pid == 0:  # first child: a new session, fork the monitor, leave
        try:
            os.setsid()
            if os.fork() == 0:
                keep = sorted((cfg_r, msg_w, go_r))
                low = 3  # the monitor lives as long as its container: it keeps nothing else of ours
                for fd in keep:
                    os.closerange(low, fd)
                    low = fd + 1
                os.closerange(low, 1 << 20)
                for fd in keep:
                    os.set_inheritable(fd, True)
                os.execve(sys.executable, argv, env)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    for fd in (cfg_r, msg_w, go_r):
        os.close(fd)
    return Handle(cfg_w, msg_r, go_w)


def prefork() -> None:
    """Spawn a monitor now, for :func:`take` to hand out later in this process."""
    global _spare
    if _spare is None:
        _spare = spawn()


def take() -> Handle:
    """The pre-forked monitor if there is one, else a new one."""
    global _spare
    handle, _spare = _spare, None
    return handle if handle is not None else spawn()
