"""Containers in pods, the member's side: ``run``/``create --pod REF`` and ``--pod new:NAME``
(:func:`join`, :func:`new_from_container`), the pod's infra started first (:func:`infra_first`,
:func:`infra_begun`), and what ``rm``/``prune`` leave to ``pod rm`` (the infra containers)."""
from __future__ import annotations

import os

from capsa.engine.session import container_records, pod_records
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from capsa.container.model import ContainerConfig
    from capsa.container.records import ContainerRecords
    from capsa.engine.session import Session
    from capsa.pod.model import PodConfig
    from capsa.store.store import Store

_NET_KEYS = ("ip", "add_host", "dns", "dns_search", "dns_option", "network_alias")


def join(sess: Session, config: ContainerConfig, ref: str, o: dict[str, Any]) -> PodConfig:
    """``create``/``run --pod REF``: make ``config`` a member of pod REF (its ``pod``; the
    infra's namespaces the pod shares: ``network`` is ``container:<infra>``, the others in
    ``namespaces``; with uts shared its hostname is the pod's). What the pod decides cannot be
    given to a member: podman's errors (ports, network, hostname)."""
    pod = pod_records(sess).find(ref)
    config.pod = pod.id
    if not pod.infra_id:
        return pod
    if "net" in pod.share:
        if o.get("publish") or o.get("publish_all"):
            raise UsageError("invalid config provided: published or exposed ports must be defined when the pod is "
                             "created: network cannot be configured when it is shared with a pod",
                             hint=f"publish them on the pod: capsa pod create -p ... (pod {pod.name})")
        if o.get("network"):
            raise UsageError("invalid config provided: networks must be defined when the pod is created: "
                             "network cannot be configured when it is shared with a pod",
                             hint=f"give --network to 'capsa pod create' (pod {pod.name})")
        for key in _NET_KEYS:
            if o.get(key):
                flag = "--" + key.replace("_", "-")
                raise UsageError(f"invalid config provided: {flag} must be set when the pod is created: "
                                 "network cannot be configured when it is shared with a pod",
                                 hint=f"give {flag} to 'capsa pod create' (pod {pod.name})")
        config.network = f"container:{pod.infra_id}"
    if "uts" in pod.share:
        if o.get("hostname"):
            raise UsageError("invalid config provided: cannot set hostname when joining the pod UTS namespace: "
                             "invalid configuration", hint=f"the pod's hostname is {pod.hostname or pod.name}")
        config.hostname = pod.hostname or pod.name
    for kind in ("cgroup", "ipc", "pid", "uts"):
        if kind in pod.share:
            config.namespaces[kind] = f"container:{pod.infra_id}"
    if not config.cgroup_parent and pod.extra.get("cgroup_parent"):
        config.cgroup_parent = pod.extra["cgroup_parent"]
    if pod.extra.get("volumes"):  # (podman's pod create -v: every member has them)
        from capsa.container.flags import parse_volume

        mine = {m.destination for m in config.mounts}
        config.mounts[:0] = [m for m in map(parse_volume, pod.extra["volumes"]) if m.destination not in mine]
    return pod


def recording_member(sess: Session, config: ContainerConfig, create: Callable[[], Any]) -> Callable[[], Any]:
    """``create`` (recording the member ``config``) made to run while its pod exists and cannot
    be removed (the pod's members lock, shared; ``pod rm`` holds it exclusive): a pod removed
    since the member joined it is podman's not-found error, and nothing is recorded."""

    def recorded() -> Any:
        from capsa.fsutil import remove_file
        from capsa.pod.records import not_found

        pods = pod_records(sess)
        with pods.members_lock(config.pod).shared():
            if not os.path.isfile(pods.dir(config.pod, "config.json")):
                remove_file(pods.members_lock(config.pod).path)  # (made again by this wait)
                raise not_found(config.pod)
            return create()

    return recorded


def new_from_container(sess: Session, name: str, o: dict[str, Any]) -> PodConfig:
    """``--pod new:NAME``: create pod NAME with what podman moves from the container to the pod
    (-p, --network and its address flags, --hostname); ``o`` loses them (the container then
    joins the pod with :func:`join`)."""
    if not name:
        raise UsageError("new pod name must be at least one character", hint="use --pod new:NAME")
    from capsa.engine.pods import PodOptions, create

    options = PodOptions(name=name, publish=list(o.get("publish") or []), network=o.get("network") or "",
                         hostname=o.get("hostname") or "", ip=o.get("ip") or "",
                         **{k: list(o.get(k) or []) for k in _NET_KEYS if k != "ip"})
    if o.get("publish_all"):
        raise UsageError("--publish-all cannot be used with --pod new:", hint="publish the ports with -p")
    pod = create(sess, options)
    for key in ("publish", "network", "hostname", *_NET_KEYS):
        o[key] = None
    return pod


def infra_first(sess: Session, config: ContainerConfig) -> Callable[[], None]:
    """Before a pod member starts: its pod's infra, unless it runs (:func:`begin_infra`:
    call the function returned before the member starts)."""
    from capsa.engine.pods import nothing_to_wait, begin_infra

    if not config.pod or config.extra.get("infra"):
        return nothing_to_wait
    from capsa.pod.records import PodNotFound

    try:
        pod = pod_records(sess).config(config.pod)
    except PodNotFound:
        raise UsageError(f"container {config.name} belongs to pod {config.pod[:12]}, which is gone",
                         hint=f"remove the container (capsa rm {config.name})") from None
    return begin_infra(sess, pod)


def infra_begun(sess: Session, store: Store, config: ContainerConfig) -> Any:
    """``run --pod``: the pod's infra handed to its monitor before the member is made, when the
    member's image is here (else nothing starts before the member exists); the function that
    waits for it, or None."""
    if config.rootfs is None:
        from capsa.errors import ImageNotFound

        try:
            with store.reading():
                store.find_image(config.image_name)
        except (ImageNotFound, UsageError):
            return None
    return infra_first(sess, config)


def without_pod_infras(sess: Session, configs: list[ContainerConfig]) -> list[ContainerConfig]:
    """``configs`` but the infra containers of pods that exist (``rm -a``: they go with their
    pod, ``pod rm``)."""
    pods = pod_records(sess)
    return [c for c in configs if not (c.extra.get("infra") and c.pod and os.path.isdir(pods.dir(c.pod)))]


def refuse_infra(records: ContainerRecords, config: ContainerConfig) -> None:
    """An infra container goes with its pod only (podman's error), unless the pod is gone."""
    from capsa.pod.records import PodRecords

    pods = PodRecords(os.path.dirname(records.root), os.path.dirname(records.runroot))
    if os.path.isdir(pods.dir(config.pod)):
        raise UsageError(f"container {config.id} is the infra container of pod {config.pod} and cannot be removed "
                         f"without removing the pod", hint=f"remove the pod: capsa pod rm {config.pod[:12]}")
