"""``kube generate`` (podman's ``generate kube``): gather the records the YAML is made of -
containers (outside pods: one Pod together), pods (their members, not the infra), named
volumes (PersistentVolumeClaims) - with their images' configs, and hand them to
:mod:`capsa.kube.generate`. Reads only: nothing on disk changes (``-f`` writes a new file)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from capsa.engine.session import container_records, open_store
from capsa.errors import CapsaError, StorageError, UsageError

if TYPE_CHECKING:
    import random
    from collections.abc import Callable

    from capsa.container.model import ContainerConfig
    from capsa.container.records import ContainerRecords
    from capsa.engine.session import Session
    from capsa.kube.generate import Member
    from capsa.pod.model import PodConfig
    from capsa.store.store import Store


class NameNotFound(StorageError):
    """A name or id that is no container, pod or volume."""


def _pod_records(sess: Session) -> Any:
    from capsa.engine.session import pod_records  # (podcore's)

    return pod_records(sess)


def lookup(sess: Session, refs: list[str]) -> tuple[list[ContainerConfig], list[PodConfig], list[dict[str, Any]]]:
    """The containers, pods and volumes ``refs`` name, looked up in podman's order (a container,
    else a pod, else a volume). A name that is none, or a container of a pod, raises."""
    from capsa.container.records import ContainerNotFound
    from capsa.container.volumes import VolumeNotFound
    from capsa.engine.volumes import volume_store
    from capsa.pod.records import PodNotFound

    records, pods, volumes = container_records(sess), _pod_records(sess), volume_store(sess)
    found_ctrs: list[ContainerConfig] = []
    found_pods: list[PodConfig] = []
    found_vols: list[dict[str, Any]] = []
    for ref in refs:
        try:
            config = records.find(ref)
        except ContainerNotFound:
            pass
        else:
            if config.pod:
                raise UsageError(f"container {config.id} is associated with pod {config.pod}: use generate on the pod itself",
                                 hint="give the pod's name instead")
            found_ctrs.append(config)
            continue
        try:
            found_pods.append(pods.find(ref))
            continue
        except PodNotFound:
            pass
        try:
            found_vols.append(volumes.record(ref))
            continue
        except (VolumeNotFound, CapsaError):
            pass
        raise NameNotFound(f'name or ID "{ref}" not found',
                           hint="see `capsa ps -a`, `capsa pod ps` and `capsa volume ls`")
    return found_ctrs, found_pods, found_vols


def _path_type(path: str) -> str:
    import os

    try:
        return "Directory" if os.path.isdir(path) else "File" if os.path.exists(path) else "DirectoryOrCreate"
    except OSError:
        return "DirectoryOrCreate"


def _user_ids(sess: Session, config: ContainerConfig, image_user: str) -> list[int] | None:
    """The [uid, gid] ``-u`` resolves to in the container's own /etc/passwd and /etc/group
    (its layer mounted for the look-up, as podman); None when it is the image's user."""
    from contextlib import ExitStack

    if not config.user or config.user == image_user:
        return None
    from capsa.container.userinfo import resolve_user
    from capsa.engine.containerfs import pin

    with ExitStack() as stack:
        user = resolve_user(pin(sess, config, stack), config.user)
    return [user.uid, user.gid]


def member(sess: Session, store: Store, config: ContainerConfig) -> Member:
    """What :mod:`capsa.kube.generate` needs of one container."""
    from capsa.kube.generate import Member

    if not config.image_id:
        raise UsageError(f"container {config.name} runs from --rootfs {config.image_name}: Kubernetes YAML needs an image",
                         hint="create the container from an image to generate its YAML")
    with store.reading():
        image = store.image_by_id(config.image_id)
        name = store.name_of(config.image_name, image)
        image_config = (store.config_of(image).get("config") or {})
    binds = {m.source: _path_type(m.source) for m in config.mounts if m.type == "bind"}
    return Member(config=config, image=name, image_config=image_config,
                  user_ids=_user_ids(sess, config, str(image_config.get("User") or "")), path_types=binds)


def _pod_parts(sess: Session, store: Store, records: ContainerRecords, pod: PodConfig,
               now: str, warnings: list[str]) -> dict[str, Any]:
    from capsa.kube.generate import pod_document

    all_members = _pod_records(sess).members(records, pod.id)
    members = [c for c in all_members if not c.extra.get("infra")]
    if not all_members:
        raise UsageError(f"pod {pod.id} has no containers", hint="add a container with `capsa create --pod`")
    if not members:
        raise UsageError(f"pod {pod.id} only has an infra container", hint="add a container with `capsa create --pod`")
    infra = next((c for c in all_members if c.extra.get("infra")), None)
    ports: list[dict[str, Any]] = []
    host_network = pod.network == "host"
    infra_net: dict[str, Any] = {}
    if infra is not None:
        infra_net = dict(infra.extra.get("net") or {})
        ports = list(infra.extra.get("ports") or [])
        host_network = host_network or infra.network == "host"
    if not ports and pod.publish:
        from capsa.container.ports import parse_one

        ports = [m for spec in pod.publish for m in parse_one(spec)]
    return pod_document(pod.name, [member(sess, store, c) for c in members], now, pod=pod, pod_ports=ports,
                        host_network=host_network, infra_net=infra_net, warnings=warnings)


def generate(sess: Session, refs: list[str], service: bool, now: str | None = None,
             rng: random.Random | None = None, warn: Callable[[str], None] | None = None) -> str:
    """The YAML ``kube generate REFS`` prints (``service``: with a NodePort Service per Pod):
    podman's order - the namespace-sharing note, PersistentVolumeClaims, Services, then Pods.
    ``warn`` receives podman's warnings (an annotation value cut to 63 characters)."""
    import datetime
    import random as random_mod

    from capsa import __version__
    from capsa.kube import generate as gen

    if not refs:
        raise UsageError("requires at least 1 arg(s), only received 0", hint="give a container, pod or volume")
    now = now or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    rng = rng or random_mod.Random()
    ctrs, pods, vols = lookup(sess, refs)
    warnings: list[str] = []
    store, records = open_store(sess), container_records(sess)
    content: list[dict[str, Any] | str] = []
    pod_content: list[dict[str, Any]] = []
    if any(not {"ipc", "net", "uts"} <= set(p.share) for p in pods):
        content.append(gen.SHARING_NOTE)
    content.extend(gen.pvc_document(v, now) for v in vols)
    for pod in pods:
        doc = _pod_parts(sess, store, records, pod, now, warnings)
        pod_content.append(doc)
        if service:
            content.append(gen.service_document(doc, rng))
    if ctrs:
        members = [member(sess, store, c) for c in ctrs]
        doc = gen.pod_document(gen.containers_pod_name(ctrs), members, now,
                               host_network=all(c.network == "host" for c in ctrs), warnings=warnings)
        if doc["spec"].get("volumes"):
            content.append(gen.SELINUX_NOTE)
        pod_content.append(doc)
        if service:
            content.append(gen.service_document(doc, rng))
    for message in warnings if warn is not None else []:
        warn(message)
    return gen.render(content + pod_content, __version__)  # type: ignore[operator]


def write_new(path: str, text: str) -> None:
    """``-f``: write ``text`` to a file that must not exist yet (podman refuses to replace one)."""
    import os

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise UsageError(f'cannot write to "{path}"; file exists', hint="give a new file name, or remove it first") from None
    except OSError as exc:
        raise UsageError(f'cannot write to "{path}": {exc.strerror}', hint="give a writable path") from None
    with os.fdopen(fd, "w") as out:
        out.write(text)
