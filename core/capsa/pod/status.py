"""A pod's status, from its containers' statuses: podman 4.3's rule (libpod's
``createPodStatusResults``), pure.

Each container (the infra included) counts as one of: running, paused, created (capsa's
``created``; podman's ``configured`` too), stopped (``exited``, podman's ``stopped``) or
errored (anything else: ``removing``, capsa's ``unknown``). Then:

- no container at all (a pod created with ``--infra=false`` and nothing in it): ``Created``;
- every container running: ``Running``; some running: ``Degraded``;
- none running, every one paused: ``Paused``;
- every one stopped: ``Exited``; some stopped (the rest paused or created): ``Stopped``;
- one errored (and none of the above): ``Error``; otherwise (created ones, maybe paused): ``Created``.

capsa's ``restarting`` (a restart policy between two runs) counts as running: podman has no
such state, its restarting container is running again at once. capsa's ``stopping`` (the
process has exited, its monitor is tearing down) counts as stopped: podman's ``stopping`` (a
stop under way, the process maybe alive) is an error state for its pod status, capsa's is not.
"""
from __future__ import annotations

CREATED, RUNNING, DEGRADED, PAUSED, EXITED, STOPPED, ERROR = (
    "Created", "Running", "Degraded", "Paused", "Exited", "Stopped", "Error")
POD_STATUSES = (CREATED, RUNNING, DEGRADED, PAUSED, EXITED, STOPPED, ERROR)
FILTER_STATUSES = ("stopped", "running", "paused", "exited", "dead", "created", "degraded")  # pod ps --filter status=
CONTAINER_FILTER_STATUSES = ("created", "running", "paused", "stopped", "exited", "unknown")  # --filter ctr-status=

_KIND = {"running": "running", "restarting": "running", "paused": "paused", "created": "created",
         "configured": "created", "exited": "stopped", "stopped": "stopped", "stopping": "stopped"}


def container_kind(status: str) -> str:
    """What one container's status counts as: running, paused, created, stopped or errored."""
    return _KIND.get(status, "errored")


def pod_status(statuses: list[str]) -> str:
    """The pod's status from its containers' statuses (``ContainerState.status`` values)."""
    total = len(statuses)
    if total == 0:
        return CREATED
    counts = {"running": 0, "paused": 0, "created": 0, "stopped": 0, "errored": 0}
    for status in statuses:
        counts[container_kind(status)] += 1
    if counts["running"] == total:
        return RUNNING
    if counts["running"]:
        return DEGRADED
    if counts["paused"] == total:
        return PAUSED
    if counts["stopped"] == total:
        return EXITED
    if counts["stopped"]:
        return STOPPED
    if counts["errored"]:
        return ERROR
    return CREATED


def ctr_status_matches(status: str, wanted: str) -> bool:
    """``pod ps --filter ctr-status=wanted`` for one container's ``status`` (podman's: ``stopped``
    means ``exited``, a ``configured`` container is ``created``)."""
    state = {"configured": "created", "stopped": "exited"}.get(status, status)
    return state == ("exited" if wanted == "stopped" else wanted)
