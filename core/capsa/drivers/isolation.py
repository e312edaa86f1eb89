"""The isolation driver contract (after the OCI runtime spec's create/start/kill/delete/state).

A bundle is a directory with a ``config.json`` that validates against the OCI runtime schema and
the root filesystem it names, so any OCI runtime could run the same bundle. Every operation that
fails leaves the host as if it had not been attempted.
"""
from __future__ import annotations

import os
from abc import abstractmethod

from capsa.drivers.base import Driver
from capsa.fastpath.record import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Literal

    Status = Literal["creating", "created", "running", "paused", "stopped"]


@record
class RuntimeState:
    """The OCI state of one container."""

    id: str
    status: Status
    pid: int | None
    bundle: str  # the bundle directory's absolute path
    annotations: dict[str, str] = field(default_factory=dict)


@record
class ExecProcess:
    """A process :meth:`IsolationDriver.exec` started in a running container. It is the caller's
    child: ``pidfd`` (a pidfd of it, owned by the caller) is what it is waited on and signalled
    through (:func:`wait_exec`), never the bare ``pid`` (kept for display: a host pid)."""

    pid: int
    pidfd: int


def wait_exec(process: ExecProcess) -> int:
    """Reap an exec'd process through its pidfd (closed here); its exit code, 128+N when signal N
    killed it (as a shell and podman report it)."""
    try:
        result = os.waitid(os.P_PIDFD, process.pidfd, os.WEXITED)
    finally:
        os.close(process.pidfd)
    if result is None:  # pragma: no cover - only with WNOHANG
        return 0
    return result.si_status if result.si_code == os.CLD_EXITED else 128 + result.si_status


@record
class ResourceUsage:
    """What a container's cgroup has counted (see :meth:`IsolationDriver.stats`); None where
    the host's cgroups do not count it."""

    cpu_ns: int | None = None  # CPU time used, user + system, in nanoseconds
    cpu_system_ns: int | None = None  # of which in the kernel
    memory_usage: int | None = None  # bytes (v1 memory.usage_in_bytes, v2 memory.current)
    memory_limit: int | None = None  # bytes; None when unlimited
    pids: int | None = None  # tasks in the cgroup (pids.current)
    block_read: int | None = None  # bytes read from block devices
    block_write: int | None = None  # bytes written to block devices


class IsolationDriver(Driver):
    kind = "isolation"

    @abstractmethod
    def create(self, container_id: str, bundle: str | os.PathLike[str], stdio: tuple[int, int, int] | None = None,
               console: int | None = None) -> RuntimeState:
        """Set up the container's environment up to, not including, the user process.

        ``stdio`` are the file descriptors the container's process gets as 0, 1 and 2 (default:
        the caller's own, as an OCI runtime passes its stdio through). With ``process.terminal``
        and ``console`` (a connected unix socket, OCI's console socket), the runtime allocates a
        pty inside the container and sends its master end through ``console`` (SCM_RIGHTS); without
        ``console``, ``stdio`` is a pty's slave end that becomes the controlling terminal. The
        container's first process is left a child of the caller (who should be a child
        subreaper to wait for it). Returns the ``created`` state. On error the host is left as if
        create was never called. Raises IsolationError.
        """

    @abstractmethod
    def start(self, container_id: str) -> None:
        """Run the user process of a ``created`` container. Raises IsolationError otherwise."""

    @abstractmethod
    def kill(self, container_id: str, signal: int) -> None:
        """Send ``signal`` to the container's process, in state ``created`` or ``running`` (as the
        OCI runtime spec allows). Raises IsolationError in any other state."""

    @abstractmethod
    def delete(self, container_id: str, force: bool = False) -> None:
        """Release everything ``create`` made. A running container needs ``force`` (kill first).
        Deleting an unknown container is not an error."""

    @abstractmethod
    def state(self, container_id: str) -> RuntimeState:
        """The container's OCI state. Raises IsolationError for an unknown id. A stopped
        container's annotations may carry ``io.capsa.oom-killed`` ("true"/"false") until delete."""

    @abstractmethod
    def exec(self, container_id: str, process: dict[str, object], stdio: tuple[int, int, int] | None = None,
             console: int | None = None, preserve_fds: int = 0) -> ExecProcess:
        """Start ``process`` (an OCI runtime spec ``process`` object: args, env, cwd, user,
        capabilities, terminal...) in the ``running`` container, as ``runc exec --process`` does:
        in all of the container's namespaces and its cgroup, under its seccomp filter, with
        ``process``'s capabilities and noNewPrivileges. ``stdio`` (default: the caller's) and
        ``console`` (with ``process.terminal``: a connected unix socket that receives the pty
        master, allocated in the container's devpts) as for :meth:`create`; ``preserve_fds``: the
        caller's descriptors 3 .. 3+N-1 are passed on too. Returns once the program was exec'd
        (the process is the caller's child; wait with :func:`wait_exec`). Whatever enters the
        container is not dumpable until it execs the program (CVE-2019-5736). Raises
        IsolationError when the container is not running, or when the program cannot be run,
        with ``exit_code`` 127 (not found) or 126 (cannot be invoked)."""

    @abstractmethod
    def pause(self, container_id: str) -> None:
        """Freeze every process of a ``running`` container (the cgroup freezer, v1 or v2);
        returns once the kernel reports it frozen. ``state()`` says ``paused`` until
        :meth:`resume`. A paused container still receives signals (queued until it is thawed;
        on cgroup v2 SIGKILL kills at once) and may be deleted with ``force``. Raises
        IsolationError in any other state."""

    @abstractmethod
    def resume(self, container_id: str) -> None:
        """Thaw a ``paused`` container; it is ``running`` again. Raises IsolationError in any
        other state."""

    @abstractmethod
    def processes(self, container_id: str) -> list[int]:
        """The host pids of every process in the container's cgroup (and the cgroups below
        it), sorted: what ``top`` lists. [] once the container stopped. Raises IsolationError
        for an unknown id."""

    @abstractmethod
    def stats(self, container_id: str) -> ResourceUsage:
        """The container's cgroup counters (CPU time, memory, pids, block I/O): what
        ``stats`` shows, from whichever hierarchy (v1 or v2) holds each controller. Raises
        IsolationError for an unknown id."""

    def gc(self, live: Iterable[str], dry_run: bool = False) -> list[str]:
        """Remove what the driver holds — state, cgroups — for containers whose ids are not in
        ``live``; return one line per thing found. With ``dry_run`` only report.

        ``system check`` (dry run without ``--repair``) and ``system reset`` call it. A driver
        must only touch what belongs to its own store (its ``run_home``): other stores' containers
        may share the host. The default holds nothing."""
        return []
