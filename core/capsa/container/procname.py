"""How capsa recognises its container monitors among the host's processes.

A monitor is forked from the CLI that started it (its command line is that CLI's), so it names
itself: ``/proc/PID/comm`` is ``capsa-monitor``. The programs it execs, the lean waiter and the
monitor resumed after it, name themselves the same way on start, and their command lines say
what they are too. Stdlib only: the waiter imports this.
"""
from __future__ import annotations

MONITOR_NAME = b"capsa-monitor"
# What an exec'd monitor process runs: the waiter, or the monitor resumed after it.
MONITOR_PROGRAMS = (b"capsa.container.monitor", b"capsa.container.waiter")


def name_process() -> None:
    """Name this process ``capsa-monitor`` (the kernel keeps 15 bytes of it)."""
    try:
        with open("/proc/self/comm", "wb") as fh:
            fh.write(MONITOR_NAME)
    except OSError:
        pass


def is_monitor(pid: int) -> bool:
    """Whether ``pid`` is a living capsa monitor (or its waiter): not gone, not a zombie waiting
    for its parent to reap it, and not another program that took a recycled pid."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        comm, _, rest = stat.partition(b" (")[2].rpartition(b") ")
        if rest[:1] in (b"Z", b"X", b""):
            return False
        if comm == MONITOR_NAME:
            return True
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return bool(set(fh.read().split(b"\0")) & set(MONITOR_PROGRAMS))
    except OSError:
        return False
