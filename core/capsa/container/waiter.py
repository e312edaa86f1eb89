"""The monitor's lean stand-in while a container runs: ``python -I -m capsa.container.waiter STATE``.

A container that is still running a moment after it started is handed over by its monitor
(same process: the monitor execs this module) so that a long-lived container costs a small
interpreter with a few standard modules, not one holding every driver. The waiter relays output
and input exactly as the monitor would (:class:`capsa.container.relay.Relay`), and when the
container exits it execs the monitor again, which records the exit and tears down. It keeps the
monitor's pid, its subreaper role and its descriptors.
"""
from __future__ import annotations

import json
import os
import sys

from capsa.container.procname import name_process
from capsa.container.relay import Relay, close_quietly


def main(argv: list[str]) -> int:
    name_process()
    state = json.loads(argv[1])
    relay = Relay.adopt(state["log"], state["tty"], state["relay"])
    ours = {k: int(v) for k, v in state["ours"].items()}
    pidfd = int(state["pidfd"])
    code = relay.pump(pidfd, ours)
    os.close(pidfd)
    for fd in set(ours.values()):
        close_quietly(fd)
    resume = dict(state["resume"], code=code, relay=relay.handoff_fds())
    os.execv(sys.executable, [sys.executable, "-I", "-m", "capsa.container.monitor", "--resume", json.dumps(resume)])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv))
