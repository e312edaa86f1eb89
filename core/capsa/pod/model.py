"""What a pod is made of: the configuration ``pod create`` (or ``run --pod new:NAME``, or
``kube play``) records for it.

A pod's shared namespaces live in its infra container (``ContainerConfig.extra["infra"]``), a
container like any other whose process (catatonit in pause mode, from the host: no registry
image) holds them for the pod's whole life. A member is a container whose ``pod`` field names
the pod; it joins the infra's namespaces listed in ``share`` (its ``network`` is
``container:<infra id>``, the others are in its ``namespaces``). Membership is read from the
containers' records, never stored twice.
"""
from __future__ import annotations

from capsa.fastpath.record import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SHAREABLE = ("cgroup", "ipc", "net", "pid", "uts")  # podman's names for --share
DEFAULT_SHARE = ("ipc", "net", "uts")  # podman's default, Kubernetes' too


@record
class PodConfig:
    id: str  # 64 hex digits
    name: str
    created: str = ""  # RFC 3339, as ContainerConfig.created
    infra_id: str = ""  # the infra container's id; "" with --infra=false
    share: list[str] = field(default_factory=lambda: list(DEFAULT_SHARE))  # sorted, a subset of SHAREABLE
    hostname: str = ""  # --hostname ("" : the pod's name)
    labels: dict[str, str] = field(default_factory=dict)
    network: str = ""  # the infra's --network as given ("" : the default network)
    publish: list[str] = field(default_factory=list)  # -p specs as given; the infra publishes them
    infra_command: list[str] = field(default_factory=list)  # [] : catatonit's pause mode
    infra_name: str = ""  # the infra container's name ("" : <first 12 of the id>-infra)
    infra_image: str = ""  # the infra image's name
    exit_policy: str = "continue"  # continue | stop (podman 4.3's --exit-policy)
    extra: dict[str, Any] = field(default_factory=dict)
