"""Moving the container process into its cgroup without anyone waiting on it.

Moving a process (``cgroup.procs``) takes the kernel's global threadgroup lock, and the first
move in a while waits for an RCU grace period (6-21 ms). So the container process (see
launcher.py) avoids moving where it can (:class:`Birth`): it is born in its v2 directory (clone3
with CLONE_INTO_CGROUP) and moves its one thread into each v1 hierarchy itself (``tasks``: no
global lock), which costs a fraction of a millisecond. Only on a kernel without
CLONE_INTO_CGROUP does the v2 move remain, for a :class:`Join`: a thread of the caller that
writes the container process's pid into ``cgroup.procs`` (descriptors opened before the fork)
and then sends it the outcome on the join pipe: ``j``, or ``E`` and the error. The container
process meets the outcome of both as late as it can (:class:`Waiter`): after it reported ready
and ``start`` opened the exec fifo, just before it enters its cgroup namespace, loads seccomp
and execs. So between create and start the container process may still be joining; the user
process never runs outside the cgroup.

The thread only makes syscalls: it holds the GIL for a few bytecodes between them and never
imports. :func:`settle` waits for a join to be over (start, delete and a failed create call it;
launch settles every pending join before it forks again).
"""
from __future__ import annotations

import os
import _signal as signal  # (not the signal module: its enums cost milliseconds on the run and exec paths)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ERROR_MAX = 3000  # bytes of an error message sent through a pipe (< PIPE_BUF: one atomic write)

_pending: dict[int, Join] = {}  # The container process's pid -> its join, until settled


class NotBorn(Exception):
    """The container process could not be born in its v2 cgroup (see :meth:`Birth.fork`)."""


class Birth:
    """Getting the container process into its cgroups without the kernel's wait: it is born in
    its v2 directory (:func:`clone.fork_into`, when the kernel can) and moves itself into each v1
    hierarchy by writing ``0`` to its ``tasks`` file (one thread's move takes no global lock; it
    has one thread). Descriptors are opened by the caller before the fork, so that a cgroup that
    cannot be opened fails create before anything is forked. What it could not do this way (the
    v2 move, on a kernel without CLONE_INTO_CGROUP) is left to a :class:`Join` thread:
    :attr:`v2_procs`."""

    def __init__(self, cgroup: Any) -> None:
        from capsa.errors import IsolationError

        self.v2_fd = -1
        self.v2_procs: list[tuple[str, int]] = []  # (v2 dir, its cgroup.procs) for the fallback
        self.tasks: list[tuple[str, int]] = []  # (v1 dir, its tasks file)
        self.born_in_v2 = False
        try:
            for directory in cgroup.paths().values():
                if os.path.exists(os.path.join(directory, "cgroup.controllers")):
                    self.v2_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                    self.v2_procs.append((directory, os.open(os.path.join(directory, "cgroup.procs"),
                                                             os.O_WRONLY | os.O_CLOEXEC)))
                else:
                    self.tasks.append((directory, os.open(os.path.join(directory, "tasks"), os.O_WRONLY | os.O_CLOEXEC)))
        except OSError as exc:
            self.close()
            raise IsolationError(f"cannot open cgroup {exc.filename}: {exc.strerror}",
                                 "the container's cgroup must exist and be writable") from None

    def fork(self) -> int:
        """os.fork(), into the v2 directory when there is one (then :attr:`born_in_v2`). Raises
        :class:`NotBorn` when the kernel refused (an older kernel, or a cgroup that takes no
        process): nothing was forked, and the caller forks again plainly (in a fresh pid
        namespace: a new one whose first process failed to be born takes no other)."""
        if self.v2_fd < 0:
            return os.fork()
        from .clone import fork_into

        try:
            pid = fork_into(self.v2_fd)
        except OSError as exc:
            raise NotBorn(str(exc)) from None
        self.born_in_v2 = True
        return pid

    def thread_procs(self) -> list[tuple[str, int]]:
        """After the fork, in the caller: the moves left to a :class:`Join` thread (the container process was not
        born in its v2 directory), whose descriptors it hands over; the others are closed."""
        procs, self.v2_procs = self.v2_procs, []
        if self.born_in_v2:
            for _, fd in procs:
                _close(fd)
            return []
        return procs

    def join_self(self) -> str | None:  # pragma: no cover - runs in the container process
        """In the container process: move into every v1 hierarchy; the first failure (as :class:`Join` words it)."""
        error = None
        for directory, fd in self.tasks:
            if error is None:
                try:
                    os.write(fd, b"0")
                except OSError as exc:
                    me = os.readlink("/proc/self")  # (the host's /proc still: the container process's host pid)
                    error = f"cannot move process {me} into cgroup {directory}: {exc.strerror}"
        return error

    def close(self) -> None:
        for fd in [self.v2_fd, *(fd for _, fd in self.v2_procs + self.tasks)]:
            if fd >= 0:
                _close(fd)
        self.v2_fd, self.v2_procs, self.tasks = -1, [], []


class Join:
    """The thread moving ``pid`` into the cgroups behind ``procs`` and telling the container process on ``join_w``.
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
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})  # the process may be gone: EPIPE, not death
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
                pass  # The container process is gone: nobody is left to run outside the cgroup
        except BaseException as exc:  # pragma: no cover - nothing above should raise
            self.error = self.error or f"cannot move process {self.pid} into its cgroup: {exc}"
        finally:
            for _, fd in self._procs:
                _close(fd)
            _close(self._w)
            self._done.release()

    def wait(self) -> str | None:
        """Block until the thread is done; its error (None: the container process is in every hierarchy)."""
        self._done.acquire()
        self._done.release()
        _pending.pop(self.pid, None)
        return self.error


def settle(pid: int) -> str | None:
    """Wait for the container process ``pid``'s join, if one of this process is pending; its error or None."""
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


class Waiter:  # pragma: no cover - runs in the container process
    """The container process's side of the join: called (once or more) before what needs it in
    its cgroup. Raises ``error(message)`` when its own moves failed, or the thread's (join pipe)
    did, or the caller went away without a word."""

    def __init__(self, join_r: int, new_cgroupns: bool, error: type[Exception], own_error: str | None = None) -> None:
        self.fd = join_r
        self.new_cgroupns = new_cgroupns
        self.error = error
        self.own_error = own_error  # The container process's own moves (Birth.join_self) failed
        self.done = False

    def __call__(self) -> None:
        if self.done:
            return
        if self.own_error is not None:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1
            raise self.error(self.own_error)
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
