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
