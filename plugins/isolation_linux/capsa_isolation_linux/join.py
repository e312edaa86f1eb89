"""Moving the container's process B into its cgroup without anyone waiting on it.

The first migration into a v1 hierarchy waits for an RCU grace period (7-15 ms). Neither the
caller nor B should sit through it: right after forking B, the caller starts a :class:`Join`,
a thread that writes B's pid into every hierarchy's ``cgroup.procs`` (descriptors opened before
the fork) and then sends B the outcome on the join pipe: ``j``, or ``E`` and the error. B meets
it as late as it can (:class:`Waiter`): after it reported ready and ``start`` opened the exec
fifo, just before it enters its cgroup namespace, loads seccomp and execs. So between create and
start B may still be joining; the user process never runs outside the cgroup.

The thread only makes syscalls: it holds the GIL for a few bytecodes between them and never
imports. :func:`settle` waits for a join to be over (start, delete and a failed create call it;
launch settles every pending join before it forks again).
"""
from __future__ import annotations

import os
import signal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ERROR_MAX = 3000  # bytes of an error message sent through a pipe (< PIPE_BUF: one atomic write)

_pending: dict[int, Join] = {}  # B's pid -> its join, until settled


def open_procs(cgroup: Any) -> list[tuple[str, int]]:
    """(cgroup dir, descriptor of its ``cgroup.procs`` opened for writing) for every hierarchy.
    Opened by the caller before forking, so that a cgroup that cannot be opened fails create
    before anything is forked and the thread only writes (B closes its copies first thing)."""
    from capsa.errors import IsolationError

    out: list[tuple[str, int]] = []
    try:
        for directory in cgroup.paths().values():
            out.append((directory, os.open(os.path.join(directory, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)))
    except OSError as exc:
        for _, fd in out:
            os.close(fd)
        raise IsolationError(f"cannot open cgroup {exc.filename}: {exc.strerror}",
                             "the container's cgroup must exist and be writable") from None
    return out


class Join:
    """The thread moving ``pid`` into the cgroups behind ``procs`` and telling B on ``join_w``.
    Owns (and closes) ``procs`` and ``join_w``."""

    def __init__(self, pid: int, procs: list[tuple[str, int]], join_w: int) -> None:
        import _thread

        self.pid = pid
        self.error: str | None = None
        self._procs, self._w = procs, join_w
        self._done = _thread.allocate_lock()
        self._done.acquire()
        _pending[pid] = self
        try:
            _thread.start_new_thread(self._run, ())
        except RuntimeError:  # no thread to be had: join inline rather than not at all
            self._run()

    def _run(self) -> None:
        try:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})  # B may be gone: EPIPE, not death
            message = b"j"
            for directory, fd in self._procs:
                try:
                    os.write(fd, b"%d" % self.pid)
                except OSError as exc:
                    self.error = f"cannot move process {self.pid} into cgroup {directory}: {exc.strerror}"
                    message = b"E" + self.error.encode(errors="replace")[:ERROR_MAX]
                    break
            try:
                os.write(self._w, message)
            except OSError:
                pass  # B is gone: nobody is left to run outside the cgroup
        except BaseException as exc:  # pragma: no cover - nothing above should raise
            self.error = self.error or f"cannot move process {self.pid} into its cgroup: {exc}"
        finally:
            for _, fd in self._procs:
                _close(fd)
            _close(self._w)
            self._done.release()

    def wait(self) -> str | None:
        """Block until the thread is done; its error (None: B is in every hierarchy)."""
        self._done.acquire()
        self._done.release()
        _pending.pop(self.pid, None)
        return self.error


def settle(pid: int) -> str | None:
    """Wait for B ``pid``'s join, if one of this process is pending; its error or None."""
    join = _pending.get(pid)
    return join.wait() if join is not None else None


def settle_all() -> None:
    """Wait for every pending join (before forking: no thread may run across a fork)."""
    for join in list(_pending.values()):
        join.wait()


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


class Waiter:  # pragma: no cover - runs in B
    """B's side of the join pipe: called (once or more) before what needs B in its cgroup.
    Raises ``error(message)`` when the join failed or the caller went away without a word."""

    def __init__(self, join_r: int, new_cgroupns: bool, error: type[Exception]) -> None:
        self.fd = join_r
        self.new_cgroupns = new_cgroupns
        self.error = error
        self.done = False

    def __call__(self) -> None:
        if self.done:
            return
        if self.fd >= 0:
            try:  # one read: the outcome is one write of at most PIPE_BUF bytes
                got = os.read(self.fd, 4096)
            finally:
                os.close(self.fd)
                self.fd = -1
            if got != b"j":
                raise self.error(got[1:].decode(errors="replace") if got.startswith(b"E")
                                 else "the container was not moved into its cgroup")
        if self.new_cgroupns:  # now in the container's cgroup: it becomes the namespace's root
            from . import namespaces as ns

            ns.unshare(ns.CLONE_NEWCGROUP)
        self.done = True
