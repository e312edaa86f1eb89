"""The monitor's lean form while its container runs: ``python -I -m capsa.container.lean_monitor FD``.

A container that is still running a moment after it started is handed over by its monitor
(same process: the monitor execs this module) so that a long-lived container costs a small
interpreter with a few standard modules, not one holding every driver. The lean monitor relays
output and input exactly as the monitor would (:class:`capsa.container.relay.Relay`), and when
the container exits it execs the full monitor again, which records the exit and tears down. It
keeps the monitor's pid, its subreaper role, its descriptors and its lock
(:mod:`capsa.container.monitor_lock`).

Its state (descriptors, the monitor's configuration) arrives in a memfd whose number is the only
argument, never in argv itself: a command line is public (``ps``) and limited in size.
Stdlib only (``json`` is fine here: this process is off the start-up path).
"""
from __future__ import annotations

import json
import os
import sys

from capsa.container.monitor_lock import name_process
from capsa.container.relay import Relay, close_quietly


def read_state(fd: int) -> dict:  # type: ignore[type-arg]
    """The JSON document in memfd ``fd`` (read from its start), which is closed."""
    chunks = []
    offset = 0
    while chunk := os.pread(fd, 1 << 16, offset):
        chunks.append(chunk)
        offset += len(chunk)
    os.close(fd)
    return json.loads(b"".join(chunks))  # type: ignore[no-any-return]


def state_fd(data: bytes) -> int:
    """A memfd holding ``data``, inheritable across the next exec (which reads and closes it)."""
    fd = os.memfd_create("capsa-monitor-state", os.MFD_CLOEXEC)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.set_inheritable(fd, True)
    return fd


def exec_module(module: str, state: bytes) -> None:
    """Exec ``python -I -m module FD`` with ``state`` in memfd FD. Does not return."""
    fd = state_fd(state)
    os.execv(sys.executable, [sys.executable, "-I", "-m", module, str(fd)])


def main(argv: list[str]) -> int:
    name_process()
    state = read_state(int(argv[1]))
    relay = Relay.adopt(state["log"], state["tty"], state["relay"])
    ours = {k: int(v) for k, v in state["ours"].items()}
    pidfd = int(state["pidfd"])
    code = relay.pump(pidfd, ours, kill_at=state.get("kill_at"))  # (CLOCK_MONOTONIC: the same across exec)
    os.close(pidfd)
    for fd in set(ours.values()):
        close_quietly(fd)
    resume = dict(state["resume"], code=code, relay=relay.handoff_fds())
    exec_module("capsa.container.monitor", json.dumps(resume).encode())
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv))
