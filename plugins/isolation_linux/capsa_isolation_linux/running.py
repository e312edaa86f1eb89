"""Operations on a running container's cgroup: pause/resume (the freezer), its processes and
its counters. The cgroup is found from the directories create saved in state.json, so that a
command running in another cgroup than the monitor's (which made the container) finds it too."""
from __future__ import annotations

from capsa.drivers import cgroupfiles
from capsa.errors import IsolationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.drivers.isolation import ResourceUsage


def cgroup_dirs(driver: Any, doc: dict[str, Any]) -> list[str]:
    """The container's cgroup directories, one per hierarchy."""
    saved = (doc.get("cgroup") or {}).get("paths")
    if saved:
        return list(saved.values())
    return list(driver._cgroup(doc).paths().values())


def status(driver: Any, doc: dict[str, Any]) -> str:
    """The OCI status, with ``paused`` for a running container whose cgroup is frozen."""
    from .state import status_of

    current = status_of(doc)
    if current == "running" and cgroupfiles.is_frozen(cgroup_dirs(driver, doc)):
        return "paused"
    return current


def pause(driver: Any, container_id: str) -> None:
    doc = driver._dir(container_id).load()
    current = status(driver, doc)
    if current != "running":
        raise IsolationError(f"container {container_id} is {current}: only a running container can be paused",
                             hint="start it first" if current != "paused" else "it is paused already")
    cgroupfiles.set_frozen(cgroup_dirs(driver, doc), True)


def resume(driver: Any, container_id: str) -> None:
    doc = driver._dir(container_id).load()
    current = status(driver, doc)
    if current != "paused":
        raise IsolationError(f"container {container_id} is {current}, not paused: it cannot be resumed",
                             hint="only a paused container can be resumed")
    cgroupfiles.set_frozen(cgroup_dirs(driver, doc), False)


def processes(driver: Any, container_id: str) -> list[int]:
    from .state import status_of

    doc = driver._dir(container_id).load()
    if status_of(doc) == "stopped":
        return []
    return cgroupfiles.members(cgroup_dirs(driver, doc))


def stats(driver: Any, container_id: str) -> ResourceUsage:
    doc = driver._dir(container_id).load()
    return cgroupfiles.usage(cgroup_dirs(driver, doc))
