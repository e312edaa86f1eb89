"""How capsa knows that a container's monitor is alive: it holds a lock.

A monitor takes an exclusive ``flock`` on ``monitor.lock`` in its container's run directory
(``<runroot>/containers/<id>/``) as soon as it has its container, writes its pid into that file,
and keeps the descriptor for its whole life: across its exec into the lean monitor and back
(a lock belongs to the open file, and an inherited descriptor survives exec), and through
teardown. The kernel drops the lock when the process exits (a zombie holds none), so a living
monitor is exactly "someone holds the lock": no command line, process name or recycled pid is
involved. The descriptor is close-on-exec except across the monitor's own execs, so the
container never inherits it.

Stdlib only: the lean monitor imports this.
"""
from __future__ import annotations

import fcntl
import os

LOCK_NAME = "monitor.lock"
MONITOR_NAME = b"capsa-monitor"  # /proc/PID/comm, for people reading ps: nothing decides on it


def lock_path(run_dir: str) -> str:
    return os.path.join(run_dir, LOCK_NAME)


def hold(run_dir: str) -> int:
    """Take the monitor lock of the container whose run directory is ``run_dir`` (waiting for a
    previous monitor of it to finish) and record our pid in it; returns the descriptor to keep."""
    fd = os.open(lock_path(run_dir), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def holder(run_dir: str) -> int:
    """The pid of the living monitor of the container in ``run_dir``, or 0 when there is none."""
    try:
        fd = os.open(lock_path(run_dir), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0)
            return int(text) if text.strip().isdigit() else -1  # (-1: held, pid not written yet)
        return 0  # (our shared lock goes with the descriptor)
    finally:
        os.close(fd)


def is_alive(run_dir: str) -> bool:
    """Whether a monitor holds the lock of the container in ``run_dir``."""
    return holder(run_dir) != 0


def name_process() -> None:
    """Name this process ``capsa-monitor`` in ``ps`` (cosmetic: liveness is the lock)."""
    try:
        with open("/proc/self/comm", "wb") as fh:
            fh.write(MONITOR_NAME)
    except OSError:
        pass
