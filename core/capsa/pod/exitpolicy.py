"""A pod's ``--exit-policy stop``: when its last member exits, its infra container stops too
(podman 4.3's; ``continue``, the default, keeps the infra running). Called by a member's
monitor once the member is torn down (:mod:`capsa.container.monitor`)."""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.container.records import ContainerRecords

LIVE = ("running", "paused", "restarting")  # ("stopping": exiting as well)


def after_member_exit(records: ContainerRecords, pod_id: str, member_id: str, iso: Any, isolation: dict[str, Any]) -> None:
    """Stop the infra of pod ``pod_id`` when its exit policy is ``stop`` and no member but
    ``member_id`` lives (best effort: the pod's record or infra may be gone meanwhile). ``iso``:
    the member's isolation driver, whose configuration is ``isolation``; used when the infra
    has the same."""
    from capsa.container.stopping import monitor_alive, request_stop
    from capsa.pod.records import PodRecords

    pods = PodRecords(os.path.dirname(records.root), os.path.dirname(records.runroot))
    try:
        pod = pods.config(pod_id)
    except Exception:
        return
    if pod.exit_policy != "stop" or not pod.infra_id or member_id == pod.infra_id:
        return
    for other in pods.members(records, pod_id):
        if other.id in (member_id, pod.infra_id):
            continue
        if records.state(other.id).status in LIVE and monitor_alive(records, other.id):
            return
    try:
        infra = records.config(pod.infra_id)
        if (infra.extra.get("isolation") or isolation) != isolation:
            return
        if request_stop(records, infra.id, LIVE) is None:
            return
        iso.kill(infra.id, 9)
    except Exception:
        return
