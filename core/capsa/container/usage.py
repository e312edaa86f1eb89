"""What ``stats`` reads of a running container: its cgroup's counters (through its isolation
driver's ``stats``) and its network namespace's ``eth0`` (``/proc/PID/net/dev`` of its first
process, read by the host: nothing of the container's runs)."""
from __future__ import annotations

import os
import time

from capsa.errors import CapsaError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.container.model import ContainerConfig
    from capsa.container.records import ContainerRecords
    from capsa.engine.session import Session


def physical_memory() -> int:
    """The host's RAM in bytes: a container without a memory limit has this one (as podman)."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def net_io(pid: int) -> tuple[int, int] | None:
    """(bytes received, bytes sent) of ``eth0`` in the network namespace of ``pid``, the one
    interface podman 4.3 reads; None when there is none (``--network none``) or it cannot be
    read (``stats`` shows ``-- / --``)."""
    try:
        with open(f"/proc/{pid}/net/dev") as fh:
            lines = fh.read().splitlines()[2:]
    except OSError:
        return None
    for line in lines:
        name, _, counters = line.partition(":")
        fields = counters.split()
        if name.strip() == "eth0" and len(fields) >= 9:
            return int(fields[0]), int(fields[8])
    return None


def sample(sess: Session, records: ContainerRecords, config: ContainerConfig) -> dict[str, Any] | None:
    """One reading of a running or paused container's counters, or None when it is not running
    (its monitor gone or its status another). Times are nanoseconds: ``now`` of the reading,
    ``started`` of the container's start (for the averages)."""
    from capsa.container.isodriver import isolation_driver
    from capsa.container.stopping import monitor_alive
    from capsa.errors import IsolationError
    from capsa.humanize import parse_time

    state = records.state(config.id)
    if state.status not in ("running", "paused") or not monitor_alive(records, config.id):
        return None
    try:
        usage = isolation_driver(sess, config).stats(config.id)
    except IsolationError as exc:
        if not monitor_alive(records, config.id):
            return None  # it exited meanwhile
        raise CapsaError(f"reading the cgroup of container {config.id}: {exc.message}", hint=exc.hint) from None
    net = None if config.network == "host" else net_io(state.pid)
    physical = physical_memory()
    try:
        started = int(parse_time(state.started_at).timestamp() * 1e9)
    except (ValueError, TypeError):
        started = 0
    return {
        "id": config.id, "name": config.name, "status": state.status,
        "cpu_ns": usage.cpu_ns or 0, "cpu_system_ns": usage.cpu_system_ns or 0,
        "memory_usage": usage.memory_usage or 0,
        "memory_limit": min(usage.memory_limit or physical, physical),
        "pids": usage.pids or 0, "block_read": usage.block_read or 0, "block_write": usage.block_write or 0,
        "net": net, "now": time.time_ns(), "started": started,
    }
