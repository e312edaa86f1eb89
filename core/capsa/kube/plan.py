"""Kubernetes YAML -> a plan of pods, containers and volumes: the pure half of ``kube play``.

:func:`read` takes the text of one or more YAML documents (Pod, Deployment, ConfigMap,
PersistentVolumeClaim) and returns a :class:`Plan`, every document checked before the caller
makes anything: invalid YAML (with its line), a missing or ill-typed required field (with its
path, e.g. ``spec.containers[1].image``) raise UsageError (exit 125). A field capsa does not
support is named once in ``Plan.warnings`` and otherwise ignored. No I/O here: host paths are
checked by the engine (:mod:`capsa.engine.kubeplay`) before it creates anything.
"""
from __future__ import annotations

import re

from capsa.errors import UsageError
from capsa.fastpath.record import field, record
from capsa.kube.fields import Node, invalid, quantity

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HOSTPATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket")
RESTART = {"Always": "always", "OnFailure": "on-failure", "Never": "no"}
PULL = {"Always": "always", "IfNotPresent": "missing", "Never": "never"}
_NAME = r"[a-zA-Z0-9][a-zA-Z0-9_.-]*"
_HOSTNAME = re.compile(r"(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?")
GENERATOR_ANNOTATIONS = ("io.kubernetes.cri-o.", "io.podman.annotations.")


def _cap(name: str) -> str:
    """``CAP_NET_ADMIN`` (Kubernetes' spelling, as kube generate writes it) -> ``NET_ADMIN``, as
    ``--cap-add`` records it."""
    upper = name.strip().upper()
    return upper[4:] if upper.startswith("CAP_") else upper


@record
class VolumePlan:
    """A pod's ``spec.volumes[i]``: kind ``bind`` (hostPath: ``source`` the path, ``host_type``
    its type), ``volume`` (persistentVolumeClaim, or a hostPath without a slash: ``source`` the
    named volume), ``tmpfs`` (emptyDir with medium Memory) or ``emptydir`` (a volume named
    ``source`` made for the pod)."""

    name: str
    kind: str
    source: str = ""
    host_type: str = ""
    read_only: bool = False
    path: str = ""  # of the field, for errors about the host path


@record
class MountPlan:
    volume: str  # the name in spec.volumes
    destination: str
    read_only: bool = False


@record
class ContainerPlan:
    name: str  # <pod>-<container>, as podman names them
    short: str  # the name in the YAML
    image: str
    command: list[str] | None = None  # the entrypoint (Kubernetes' command)
    args: list[str] | None = None  # its arguments (Kubernetes' args)
    env: list[str] = field(default_factory=list)  # KEY=VALUE, in order
    workdir: str = ""
    user: str = ""  # uid[:gid]
    mounts: list[MountPlan] = field(default_factory=list)
    memory: int | None = None  # bytes
    cpus: float | None = None
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    read_only: bool = False
    no_new_privileges: bool = False
    tty: bool = False
    stdin: bool = False
    init: bool = False  # (podman's annotation io.podman.annotations.init/<container>: TRUE)
    pull: str = "missing"
    restart: str = "no"
    annotations: dict[str, str] = field(default_factory=dict)
    path: str = ""  # spec.containers[i], for errors


@record
class PodPlan:
    name: str
    hostname: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    publish: list[str] = field(default_factory=list)  # [hostIP:]hostPort:containerPort/proto
    host_network: bool = False
    containers: list[ContainerPlan] = field(default_factory=list)
    volumes: dict[str, VolumePlan] = field(default_factory=dict)
    where: str = ""  # the document, for errors


@record
class Plan:
    pods: list[PodPlan] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)  # PersistentVolumeClaims: named volumes to make
    claim_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def load(text: str, source: str) -> list[Any]:
    """The YAML documents of ``text`` (empty ones dropped); invalid YAML: exit 125 with its line."""
    import yaml

    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UsageError(f"{source}: invalid YAML{where}: {problem}", hint="fix the YAML; nothing was created") from None


def configmaps(docs: list[Any], source: str, only: bool = False) -> dict[str, dict[str, str]]:
    """The data of the ConfigMaps among ``docs``; ``only``: every document must be one
    (``--configmap FILE``)."""
    out: dict[str, dict[str, str]] = {}
    for n, doc in enumerate(docs, 1):
        kind = doc.get("kind") if isinstance(doc, dict) else None
        if kind != "ConfigMap":
            if only:
                raise UsageError(f"{source}: document {n} is a {kind or 'document without kind'}, not a ConfigMap",
                                 hint="--configmap takes files of ConfigMap documents")
            continue
        node = Node(doc, "", f"{source}: document {n} (ConfigMap)")
        meta = node.node("metadata", required=True)
        assert meta is not None
        name = meta.get("name", str, required=True)
        out[name] = node.string_map("data")
    return out


def read(text: str, source: str = "YAML", extra_configmaps: dict[str, dict[str, str]] | None = None,
         lenient: bool = False) -> Plan:
    """The plan of every document of ``text`` (see the module docstring). ``lenient`` (for
    ``kube down``, which only needs the names): ConfigMap references are not resolved."""
    docs = load(text, source)
    maps: dict[str, dict[str, str]] | None = dict(extra_configmaps or {})
    maps.update(configmaps(docs, source))  # type: ignore[union-attr]
    if lenient:
        maps = None
    plan = Plan()
    seen: set[str] = set()
    kinds: set[str] = set()

    def warn(paths: list[str], where: str) -> None:
        for path in paths:
            message = f"{where}: {path} is not supported by capsa: ignored"
            if message not in seen:
                seen.add(message)
                plan.warnings.append(message)

    for n, doc in enumerate(docs, 1):
        where = f"{source}: document {n}"
        top = Node(doc, "", where)
        kind = top.get("kind", str, required=True)
        top.ignore("apiVersion", "status")
        meta = top.node("metadata", required=True)
        assert meta is not None
        name = meta.get("name", str, required=True)
        where = f"{source}: document {n} ({kind} {name!r})"
        kinds.add(kind)
        top.where = meta.where = where
        meta.ignore("namespace", "creationTimestamp", "uid", "resourceVersion", "generation")
        if kind == "ConfigMap":
            top.ignore("data")
            meta.ignore("labels", "annotations")
        elif kind == "PersistentVolumeClaim":
            _check_name(name, where, "metadata.name")
            top.ignore("spec")
            plan.claims.append(name)
            plan.claim_labels[name] = meta.string_map("labels")
            meta.ignore("annotations")
        elif kind == "Pod":
            spec = top.node("spec", required=True)
            assert spec is not None
            plan.pods.append(_pod(name, meta, spec, maps, warn, where))
        elif kind == "Deployment":
            spec = top.node("spec", required=True)
            assert spec is not None
            replicas = spec.get("replicas", int, 1)
            if replicas < 0:
                raise invalid(where, "spec.replicas", "must not be negative")
            spec.ignore("selector", "strategy", "revisionHistoryLimit", "minReadySeconds", "progressDeadlineSeconds")
            template = spec.node("template", required=True)
            assert template is not None
            tmeta = template.node("metadata") or Node({}, "spec.template.metadata", where)
            tspec = template.node("spec", required=True)
            assert tspec is not None
            meta.string_map("labels"), meta.string_map("annotations")
            for i in range(replicas):
                tmeta.read.clear()
                tspec.read.clear()
                plan.pods.append(_pod(f"{name}-pod-{i}", tmeta, tspec, maps, warn, where))
            warn(template.unknown() + spec.unknown(), where)
        else:
            plan.warnings.append(f"{where}: kind {kind!r} is not supported by capsa: ignored")
            continue
        warn(meta.unknown() + top.unknown(), where)
    if not lenient and not kinds & {"Pod", "Deployment", "PersistentVolumeClaim"}:  # (podman 4.3's errors)
        if "ConfigMap" in kinds:
            raise UsageError(f"{source}: ConfigMaps are not a standalone object and must be used in a container",
                             hint="give ConfigMaps with --configmap FILE, next to a YAML of pods")
        raise UsageError(f"{source}: YAML document does not contain any supported kube kind",
                         hint="kube play reads Pod, Deployment, PersistentVolumeClaim and ConfigMap documents")
    names = [p.name for p in plan.pods]
    for pod_name in names:
        if names.count(pod_name) > 1:
            raise UsageError(f"{source}: two pods are named {pod_name!r}", hint="give each pod a name of its own")
    return plan


def _check_name(name: str, where: str, path: str) -> None:
    if not re.fullmatch(_NAME, name):
        raise invalid(where, path, f"{name!r} is not a valid name: names must match {_NAME}")


def _pod(name: str, meta: Node, spec: Node, maps: dict[str, dict[str, str]], warn: Any, where: str) -> PodPlan:
    _check_name(name, where, "metadata.name")
    meta.ignore("name", "namespace", "creationTimestamp", "uid", "resourceVersion")
    pod = PodPlan(name=name, labels=meta.string_map("labels"), annotations=meta.string_map("annotations"), where=where)
    pod.hostname = spec.get("hostname", str, "")
    if pod.hostname and not _HOSTNAME.fullmatch(pod.hostname):  # (it is written into /etc/hosts)
        raise invalid(where, spec.sub("hostname"), f"{pod.hostname!r} is not a valid hostname: "
                      "letters, digits, '-' and '.', at most 253 characters")
    pod.host_network = spec.get("hostNetwork", bool, False)
    restart = spec.get("restartPolicy", str, "Always")
    if restart not in RESTART:
        raise invalid(where, spec.sub("restartPolicy"), f"must be Always, OnFailure or Never, not {restart!r}")
    pod_ids: tuple[int | None, int | None] = (None, None)
    psc = spec.node("securityContext")
    if psc is not None:
        pod_ids = _ids(psc)
        warn(psc.unknown(), where)
    for vol in spec.nodes("volumes"):
        v = _volume(vol, warn, where)
        if v is not None:
            if v.name in pod.volumes:
                raise invalid(where, vol.sub("name"), f"{v.name!r} is used by two volumes")
            pod.volumes[v.name] = v
    spec.ignore("dnsPolicy", "enableServiceLinks", "terminationGracePeriodSeconds", "schedulerName",
                "automountServiceAccountToken")
    short_names: set[str] = set()
    nodes = spec.nodes("containers", required=True)
    names = [str(n.data.get("name")) for n in nodes]
    for ctr in nodes:
        c = _container(name, ctr, pod, maps, warn, where, RESTART[restart], pod_ids, names)
        if c.short in short_names:
            raise invalid(where, ctr.sub("name"), f"{c.short!r} names two containers")
        short_names.add(c.short)
        pod.containers.append(c)
    warn(spec.unknown(), where)
    return pod


def container_annotations(annotations: dict[str, str], short: str, names: list[str]) -> dict[str, str]:
    """The pod's annotations a container gets: ``KEY/<container>`` (what ``kube generate``
    writes for one container of the pod) as ``KEY`` for that container only, not for the
    others; the rest for every container."""
    out = {}
    for key, value in annotations.items():
        base, _, owner = key.rpartition("/")
        if base and owner in names:
            if owner == short:
                out[base] = value
            continue
        out[key] = value
    return out


def _user(sc: Node, pod: tuple[int | None, int | None] = (None, None)) -> str:
    """``uid[:gid]`` of a securityContext; a container's field left out is the pod's (``pod``)."""
    uid, gid = _ids(sc)
    uid = pod[0] if uid is None else uid
    gid = pod[1] if gid is None else gid
    if uid is None:
        return "" if gid is None else f"0:{gid}"
    return str(uid) if gid is None else f"{uid}:{gid}"


def _ids(sc: Node) -> tuple[int | None, int | None]:
    sc.ignore("runAsNonRoot")
    return sc.get("runAsUser", int), sc.get("runAsGroup", int)


def _volume(vol: Node, warn: Any, where: str) -> VolumePlan | None:
    name = vol.get("name", str, required=True)
    _check_name(name, where, vol.sub("name"))  # (an emptyDir's volume is named <pod>-<name>)
    host = vol.node("hostPath")
    claim = vol.node("persistentVolumeClaim")
    empty = None
    if "emptyDir" in vol.data:  # (``emptyDir: {}``: present, though empty)
        vol.read.add("emptyDir")
        empty = Node(vol.data["emptyDir"] or {}, vol.sub("emptyDir"), where)
    out = None
    if host is not None:
        path = host.get("path", str, required=True)
        kind = host.get("type", str, "")
        if kind not in HOSTPATH_TYPES:
            raise invalid(where, host.sub("type"), f"{kind!r} is not supported (supported: "
                          f"{', '.join(repr(t) for t in HOSTPATH_TYPES)})")
        if path.startswith("/"):
            out = VolumePlan(name, "bind", path, kind, path=host.sub("path"))
        elif "/" in path:
            raise invalid(where, host.sub("path"), f"must be an absolute path, not {path!r}")
        else:  # as podman: a hostPath without a slash names a volume
            _check_name(path, where, host.sub("path"))
            out = VolumePlan(name, "volume", path, path=host.sub("path"))
        warn(host.unknown(), where)
    elif claim is not None:
        claim_name = claim.get("claimName", str, required=True)
        _check_name(claim_name, where, claim.sub("claimName"))
        out = VolumePlan(name, "volume", claim_name, read_only=claim.get("readOnly", bool, False))
        warn(claim.unknown(), where)
    elif empty is not None:
        medium = empty.get("medium", str, "")
        empty.ignore("sizeLimit")
        out = VolumePlan(name, "tmpfs" if medium == "Memory" else "emptydir")
    warn(vol.unknown(), where)
    return out


def _container(pod: str, ctr: Node, pod_plan: PodPlan, maps: dict[str, dict[str, str]] | None, warn: Any, where: str,
               restart: str, pod_ids: tuple[int | None, int | None], names: list[str]) -> ContainerPlan:
    short = ctr.get("name", str, required=True)
    _check_name(short, where, ctr.sub("name"))
    c = ContainerPlan(name=f"{pod}-{short}", short=short, image=ctr.get("image", str, required=True),
                      restart=restart, path=ctr.path, annotations=container_annotations(pod_plan.annotations, short, names))
    c.command = ctr.strings("command")
    c.args = ctr.strings("args")
    c.workdir = ctr.get("workingDir", str, "")
    if c.workdir and not c.workdir.startswith("/"):
        raise invalid(where, ctr.sub("workingDir"), f"must be an absolute path, not {c.workdir!r}")
    c.tty = ctr.get("tty", bool, False) or c.annotations.get("io.kubernetes.cri-o.TTY", "").lower() == "true"
    c.init = c.annotations.get("io.podman.annotations.init", "").upper() == "TRUE"
    c.stdin = ctr.get("stdin", bool, False)
    ctr.ignore("stdinOnce", "terminationMessagePath", "terminationMessagePolicy")
    policy = ctr.get("imagePullPolicy", str, "IfNotPresent")
    if policy not in PULL:
        raise invalid(where, ctr.sub("imagePullPolicy"), f"must be Always, IfNotPresent or Never, not {policy!r}")
    c.pull = PULL[policy]
    for ref in ctr.nodes("envFrom"):
        c.env.extend(_env_from(ref, maps, warn, where))
    for item in ctr.nodes("env"):
        value = _env(item, maps, warn, where)
        if value is not None:
            c.env.append(value)
    for port in ctr.nodes("ports"):
        spec = _port(port, where)
        if spec:
            pod_plan.publish.append(spec)
        warn(port.unknown(), where)
    for mount in ctr.nodes("volumeMounts"):
        volume = mount.get("name", str, required=True)
        dest = mount.get("mountPath", str, required=True)
        if not dest.startswith("/"):
            raise invalid(where, mount.sub("mountPath"), f"must be an absolute path, not {dest!r}")
        if volume not in pod_plan.volumes:
            raise invalid(where, mount.sub("name"), f"names no volume of spec.volumes: {volume!r}")
        c.mounts.append(MountPlan(volume, dest, mount.get("readOnly", bool, False)))
        warn(mount.unknown(), where)
    resources = ctr.node("resources")
    if resources is not None:
        limits = resources.node("limits")
        if limits is not None:
            mem = limits.get("memory", str)
            if mem is not None:
                c.memory = int(quantity(mem, where, limits.sub("memory")))
                if c.memory < 6 * 1024 * 1024:
                    raise invalid(where, limits.sub("memory"), "is below the minimum memory limit of 6MB")
            cpu = limits.get("cpu", str)
            if cpu is not None:
                c.cpus = quantity(cpu, where, limits.sub("cpu"))
                if c.cpus <= 0:
                    raise invalid(where, limits.sub("cpu"), "must be positive")
            warn(limits.unknown(), where)
        warn(resources.unknown(), where)
    sc = ctr.node("securityContext")
    c.user = _user(sc or Node({}, "", where), pod_ids)
    if sc is not None:
        c.privileged = sc.get("privileged", bool, False)
        c.read_only = sc.get("readOnlyRootFilesystem", bool, False)
        c.no_new_privileges = sc.get("allowPrivilegeEscalation", bool, True) is False
        caps = sc.node("capabilities")
        if caps is not None:
            c.cap_add = [_cap(n) for n in caps.strings("add") or []]
            c.cap_drop = [_cap(n) for n in caps.strings("drop") or []]
            warn(caps.unknown(), where)
        warn(sc.unknown(), where)
    if c.annotations.get("io.podman.annotations.privileged", "").upper() == "TRUE":
        c.privileged = True
    # what podman's and capsa's kube generate write about the container they came from (read
    # above; the SandboxID is the old pod's): not the new container's annotations
    c.annotations = {k: v for k, v in c.annotations.items() if not k.startswith(GENERATOR_ANNOTATIONS)}
    warn(ctr.unknown(), where)
    return c


def _env(item: Node, maps: dict[str, dict[str, str]], warn: Any, where: str) -> str | None:
    name = item.get("name", str, required=True)
    value = item.get("value", str)
    source = item.node("valueFrom")
    if source is None:
        return f"{name}={value or ''}"
    ref = source.node("configMapKeyRef")
    warn(source.unknown(), where)
    if ref is None:
        return None
    map_name = ref.get("name", str, required=True)
    key = ref.get("key", str, required=True)
    optional = ref.get("optional", bool, False)
    warn(ref.unknown(), where)
    if maps is None:
        return None
    data = maps.get(map_name)
    if data is None or key not in data:
        if optional:
            return None
        problem = f"ConfigMap {map_name!r} not found" if data is None else f"ConfigMap {map_name!r} has no key {key!r}"
        raise UsageError(f"{where}: {ref.path}: {problem}",
                         hint="add the ConfigMap to the YAML or give it with --configmap FILE, or mark it optional: true")
    return f"{name}={data[key]}"


def _env_from(ref: Node, maps: dict[str, dict[str, str]], warn: Any, where: str) -> list[str]:
    prefix = ref.get("prefix", str, "")
    cm = ref.node("configMapRef")
    warn(ref.unknown(), where)
    if cm is None:
        return []
    map_name = cm.get("name", str, required=True)
    optional = cm.get("optional", bool, False)
    warn(cm.unknown(), where)
    if maps is None:
        return []
    if map_name not in maps:
        if optional:
            return []
        raise UsageError(f"{where}: {cm.path}: ConfigMap {map_name!r} not found",
                         hint="add the ConfigMap to the YAML or give it with --configmap FILE, or mark it optional: true")
    return [f"{prefix}{k}={v}" for k, v in maps[map_name].items()]


def _port(port: Node, where: str) -> str:
    """The ``-p`` spec of a published port ("" when it has no hostPort: not published, as podman)."""
    container = port.get("containerPort", int, required=True)
    host = port.get("hostPort", int)
    proto = port.get("protocol", str, "TCP")
    ip = port.get("hostIP", str, "")
    port.ignore("name")
    if proto.upper() not in ("TCP", "UDP", "SCTP"):
        raise invalid(where, port.sub("protocol"), f"must be TCP, UDP or SCTP, not {proto!r}")
    for value, key in ((container, "containerPort"), (host, "hostPort")):
        if value is not None and not 0 < value < 65536:
            raise invalid(where, port.sub(key), f"{value} is not a port number (1-65535)")
    if not host:
        return ""
    return f"{ip + ':' if ip else ''}{host}:{container}/{proto.lower()}"
