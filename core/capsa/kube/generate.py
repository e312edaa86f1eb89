"""``kube generate``: Kubernetes documents (as dicts) from capsa's records, then their YAML.

Pure: the engine (:mod:`capsa.engine.kubegen`) gathers what this needs - each container's
config, its image's name and config, the uid/gid its ``-u`` resolves to, the kind of each bind
source (Directory, File, DirectoryOrCreate) - and this turns it into what podman 4.3 writes
(libpod/kube.go, pkg/domain/infra/abi/generate.go): a Pod per pod (members only: the infra
container is never a container of the YAML), one Pod for the containers outside pods, a Service
(NodePort) per Pod with ``-s``, a PersistentVolumeClaim per named volume. See
docs/kube-generate.md for every field and where it comes from.
"""
from __future__ import annotations

from capsa.fastpath.record import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import random
    from typing import Any

    from capsa.container.model import ContainerConfig, MountSpec
    from capsa.pod.model import PodConfig

HEADER = """# Save the output of this file and use kubectl create -f to import
# it into Kubernetes.
#
# Created with capsa-{version}
"""
SELINUX_NOTE = """
# NOTE: If you generated this yaml from an unprivileged and rootless podman container on an SELinux
# enabled system, check the podman generate kube man page for steps to follow to ensure that your pod/container
# has the right permissions to access the volumes added.
"""
SHARING_NOTE = """
# NOTE: The namespace sharing for a pod has been modified by the user and is not the same as the
# default settings for kubernetes. This can lead to unexpected behavior when running the generated
# kube yaml in a kubernetes cluster.
"""
# What podman compares a container's capabilities with (runtime-tools' default set, in its order):
# a default capsa or podman container (11 capabilities) shows these three dropped.
KUBE_DEFAULT_CAPS = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
DEFAULT_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "xterm",
               "container": "capsa"}
RESTART = {"always": "Always", "on-failure": "OnFailure", "no": "Never"}
MAX_ANNOTATION = 63  # podman truncates annotation values to Kubernetes' label limit
BINARY_SUFFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


@record
class Member:
    """One container to write: its config, its image's name and config (the image config's
    ``config`` object: Env, Cmd, Entrypoint, WorkingDir, User), the [uid, gid] its ``-u``
    resolves to (None: no ``-u``, or the image's user), each bind source's hostPath type."""

    config: ContainerConfig
    image: str
    image_config: dict[str, Any] = field(default_factory=dict)
    user_ids: list[int] | None = None
    path_types: dict[str, str] = field(default_factory=dict)


def kube_name(name: str) -> str:
    """podman's removeUnderscores: ``my_ctr`` -> ``myctr``."""
    return name.replace("_", "")


def bytes_quantity(value: int) -> str:
    """A byte count as Kubernetes writes it: the largest exact binary suffix (``64Mi``)."""
    power = 0
    while power < len(BINARY_SUFFIXES) - 1 and value and value % (1024 ** (power + 1)) == 0:
        power += 1
    return f"{value // 1024 ** power}{BINARY_SUFFIXES[power]}"


def cpu_quantity(cpus: float) -> str | None:
    """``--cpus`` as a CPU quantity (``1500m``, ``2``); None below 1m, as podman."""
    quota = round(cpus * 100000)
    milli = int(1000 * quota / 100000)
    if milli < 1:
        return None
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def command_and_args(config: ContainerConfig, image: dict[str, Any]) -> tuple[list[str], list[str]]:
    """``command`` and ``args`` that make Kubernetes run what the container runs (capsa's
    :func:`capsa.container.spec.resolve_args`): the entrypoint as command and the rest as
    args, as podman; the command is left out when the image supplies the same."""
    image_ep = list(image.get("Entrypoint") or [])
    image_cmd = list(image.get("Cmd") or [])
    entrypoint = list(config.entrypoint) if config.entrypoint is not None else image_ep
    if entrypoint == [""]:
        entrypoint = []
    cmd = list(config.cmd or [])
    if not cmd and not config.entrypoint:
        cmd = image_cmd
    if entrypoint:
        command, args = entrypoint, cmd
        if command == image_ep and (args or not image_cmd):
            command = []
    else:
        command, args = cmd, []
        if command == image_cmd and not image_ep:
            command = []
    return command, args


def env_vars(config: ContainerConfig, image: dict[str, Any]) -> list[dict[str, str]]:
    """``-e``/``--env-file`` values that differ from what the container would get without them:
    the image's value, else the default (a default the image overrides is written)."""
    image_env = dict(item.partition("=")[::2] for item in image.get("Env") or [])
    out: dict[str, str] = {}
    for item in config.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            continue
        if key in image_env:
            same = image_env[key] == value
        else:
            same = DEFAULT_ENV.get(key) == value or (key == "container" and value == "podman")
        if same:
            out.pop(key, None)
            continue
        out[key] = value
    return [{"name": k, "value": v} for k, v in out.items()]


def container_ports(ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """capsa's published ports (``extra["ports"]``) as ContainerPorts."""
    out = []
    for p in ports:
        entry: dict[str, Any] = {"containerPort": int(p["container_port"])}
        if p.get("host_port"):
            entry["hostPort"] = int(p["host_port"])
        if p.get("host_ip"):
            entry["hostIP"] = p["host_ip"]
        protocol = str(p.get("protocol") or "tcp").upper()
        if protocol != "TCP":
            entry["protocol"] = protocol
        out.append(entry)
    return out


def capabilities(config: ContainerConfig) -> dict[str, list[str]]:
    """add/drop relative to :data:`KUBE_DEFAULT_CAPS`, as podman writes them."""
    from capsa.security.caps import resolve

    caps = resolve(config.cap_add, config.cap_drop, False)
    out: dict[str, list[str]] = {}
    add = [c for c in caps if c not in KUBE_DEFAULT_CAPS]
    drop = [c for c in KUBE_DEFAULT_CAPS if c not in caps]
    if add:
        out["add"] = add
    if drop:
        out["drop"] = drop
    return out


def security_context(member: Member) -> dict[str, Any]:
    config = member.config
    sc: dict[str, Any] = {}
    if config.privileged:
        sc["privileged"] = True
    else:
        sc["capabilities"] = capabilities(config)
    if config.no_new_privileges:
        sc["allowPrivilegeEscalation"] = False
    if config.read_only:
        sc["readOnlyRootFilesystem"] = True
    if member.user_ids is not None:
        sc["runAsUser"], sc["runAsGroup"] = member.user_ids
    return sc


def volume_path_name(source: str) -> str:
    """podman's name of a hostPath volume: the path with slashes as dashes (``/`` is ``root``)."""
    return "root" if source == "/" else source.strip("/").replace("/", "-")


def volumes_of(member: Member) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, str]]:
    """volumeMounts, volumes and the ``bind-mount-options`` annotations of a container: binds
    (hostPath, named ``<path>-host-<index>``) then named volumes (persistentVolumeClaim, named
    ``<volume>-pvc``), as podman orders them; ``--tmpfs`` mounts become emptyDir (Memory)."""
    mounts: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    annotations: dict[str, str] = {}
    binds = [m for m in member.config.mounts if m.type in ("bind", "tmpfs")]
    named = [m for m in member.config.mounts if m.type == "volume"]
    for index, m in enumerate(binds):
        ro = "ro" in m.options
        if m.type == "tmpfs":
            name = f"tmpfs-{index}"
            volumes.append({"name": name, "emptyDir": {"medium": "Memory"}})
        else:
            name = f"{volume_path_name(m.source)}-host-{index}"
            kind = member.path_types.get(m.source, "DirectoryOrCreate")
            volumes.append({"name": name, "hostPath": {"path": m.source, "type": kind}})
            label = next((o for o in m.options if o in ("z", "Z")), None)
            if label:
                annotations[m.source] = label
        mounts.append(_mount(name, m, ro))
    for m in named:
        ro = "ro" in m.options
        name = f"{m.source}-pvc"
        claim: dict[str, Any] = {"claimName": m.source}
        if ro:
            claim["readOnly"] = True
        volumes.append({"name": name, "persistentVolumeClaim": claim})
        mounts.append(_mount(name, m, ro))
    return mounts, volumes, annotations


def _mount(name: str, m: MountSpec, ro: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"mountPath": m.destination, "name": name}
    if ro:
        out["readOnly"] = True
    return out


def container_doc(member: Member) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, str]]:
    """One container of a Pod's spec, its volumes and its bind-mount annotations."""
    config, image = member.config, member.image_config
    doc: dict[str, Any] = {"name": kube_name(config.name), "image": member.image}
    command, args = command_and_args(config, image)
    if command:
        doc["command"] = command
    if args:
        doc["args"] = args
    env = env_vars(config, image)
    if env:
        doc["env"] = env
    workdir = config.workdir
    if workdir and workdir != (image.get("WorkingDir") or "/"):  # ("/" too, over an image's own)
        doc["workingDir"] = workdir
    ports = container_ports(config.extra.get("ports") or [])
    if ports:
        doc["ports"] = ports
    limits: dict[str, str] = {}
    if config.memory:
        limits["memory"] = bytes_quantity(config.memory)
    if config.cpus:
        cpu = cpu_quantity(config.cpus)
        if cpu:
            limits["cpu"] = cpu
    if limits:
        doc["resources"] = {"limits": limits}
    doc["securityContext"] = security_context(member)
    if config.interactive:
        doc["stdin"] = True
    if config.tty:
        doc["tty"] = True
    mounts, volumes, annotations = volumes_of(member)
    if mounts:
        doc["volumeMounts"] = mounts
    return doc, volumes, annotations


def truncate(value: str, warnings: list[str] | None = None) -> str:
    """An annotation value cut to 63 characters, podman's warning added to ``warnings`` when cut."""
    value = value.strip()
    if len(value) < MAX_ANNOTATION:
        return value
    cut = value[:MAX_ANNOTATION]
    if warnings is not None:
        warnings.append(f'Truncation Annotation: "{value}" to "{cut}": Kubernetes only allows {MAX_ANNOTATION} characters')
    return cut


def container_annotations(config: ContainerConfig, sandbox_id: str | None,
                          warnings: list[str] | None = None) -> dict[str, str]:
    """The pod annotations podman writes for a container (``KEY/NAME``): its ``--annotation``s
    and podman's own (TTY, autoremove, init, privileged, publish-all; in a pod its type and
    sandbox)."""
    name = kube_name(config.name)
    own = {
        "io.kubernetes.cri-o.TTY": "true" if config.tty else "false",
        "io.podman.annotations.autoremove": "TRUE" if config.remove else "FALSE",
        "io.podman.annotations.init": "TRUE" if config.init else "FALSE",
        "io.podman.annotations.privileged": "TRUE" if config.privileged else "FALSE",
        "io.podman.annotations.publish-all": "TRUE" if config.extra.get("publish_all") else "FALSE",
    }
    if sandbox_id is not None:
        own["io.kubernetes.cri-o.ContainerType"] = "container"
        own["io.kubernetes.cri-o.SandboxID"] = sandbox_id
    own.update(config.annotations)
    out = {f"{k}/{name}": truncate(str(v), warnings) for k, v in own.items()}
    for key, value in config.labels.items():  # auto-update labels become annotations too
        if "io.containers.autoupdate" in key:
            out[f"{key}/{name}"] = truncate(value, warnings)
    return out


def dns_config(nets: list[dict[str, Any]]) -> dict[str, Any]:
    """``dnsConfig`` from ``--dns``, ``--dns-search``, ``--dns-option`` (``extra["net"]`` of the
    infra, or of each container outside pods, merged without repeats)."""
    out: dict[str, list[Any]] = {}
    for net in nets:
        for key, name in (("dns", "nameservers"), ("dns_search", "searches")):
            for value in net.get(key) or []:
                if value not in out.setdefault(name, []):
                    out[name].append(value)
        for option in net.get("dns_options") or []:
            key, sep, value = option.partition(":")
            out.setdefault("options", []).append({"name": key, "value": value} if sep else {"name": key})
    return out


def host_aliases(net: dict[str, Any]) -> list[dict[str, Any]]:
    """``hostAliases`` from a pod's ``--add-host`` (its infra's ``extra["net"]["add_hosts"]``)."""
    return [{"hostnames": names.split(), "ip": ip} for names, ip in net.get("add_hosts") or []]


def pod_document(name: str, members: list[Member], now: str, *, pod: PodConfig | None = None,
                 pod_ports: list[dict[str, Any]] | None = None, host_network: bool = False,
                 infra_net: dict[str, Any] | None = None, warnings: list[str] | None = None) -> dict[str, Any]:
    """A Pod of ``members`` (not the infra container). With ``pod``: the pod's hostname, its
    published ports ``pod_ports`` on the first member (members sharing the pod's network have
    none of their own), shareProcessNamespace; without: containers outside a pod, their own
    ports, hostname of the first that set one."""
    annotations: dict[str, str] = {}
    containers: list[dict[str, Any]] = []
    volumes: dict[str, dict[str, Any]] = {}
    hostname = ""
    shares_net = pod is not None and "net" in pod.share
    first = True
    for member in members:
        config = member.config
        annotations.update(container_annotations(config, pod.id if pod is not None else None, warnings))
        doc, vols, binds = container_doc(member)
        for source, label in binds.items():
            annotations[f"bind-mount-options:{source}"] = label
        if pod is None and not hostname and config.hostname and config.hostname not in config.id:
            hostname = config.hostname
        if shares_net:
            doc.pop("ports", None)
            if first and pod_ports:
                doc["ports"] = container_ports(pod_ports)
                first = False
        containers.append(doc)
        _add_volumes(volumes, vols, doc)
    if pod is not None:
        hostname = (pod.hostname or pod.name) if "uts" in pod.share else ""  # (else each member has its own)
        for doc in containers:  # (podman marshals a pod's containers with their empty resources)
            doc.setdefault("resources", {})
    metadata: dict[str, Any] = {"creationTimestamp": now, "labels": {"app": kube_name(name)}, "name": name}
    if annotations:
        metadata["annotations"] = annotations
    spec: dict[str, Any] = {"automountServiceAccountToken": False, "containers": containers,
                            "enableServiceLinks": False}
    if hostname:
        spec["hostname"] = hostname
    dns = dns_config([infra_net or {}] if pod is not None else [m.config.extra.get("net") or {} for m in members])
    if dns:
        spec["dnsConfig"] = dns
    aliases = host_aliases(infra_net or {})
    if aliases:
        spec["hostAliases"] = aliases
    if host_network:
        spec["hostNetwork"] = True
    if volumes:
        spec["volumes"] = _valid_volume_names(list(volumes.values()), containers)
    if members:
        policy = members[0].config.restart_policy
        spec["restartPolicy"] = RESTART.get(policy, "Never")
    if pod is not None and "pid" in pod.share:
        spec["shareProcessNamespace"] = True
    doc = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
    if pod is not None:
        doc["status"] = {}
    return doc


def _add_volumes(volumes: dict[str, dict[str, Any]], vols: list[dict[str, Any]], doc: dict[str, Any]) -> None:
    """Add a container's ``vols`` to the Pod's ``volumes`` (by name): the same host path or claim
    is shared, but a name already taken by another volume (an emptyDir - each container's
    tmpfs is its own - or another path whose name reads alike: ``/a-b``, ``/a/b``) gets a
    suffix, and ``doc``'s volumeMounts follow it."""
    for vol in vols:
        name = vol["name"]
        taken = volumes.get(name)
        if taken is None or (taken == vol and "emptyDir" not in vol):
            volumes.setdefault(name, vol)
            continue
        n = 1
        while f"{name}-{n}" in volumes:
            n += 1
        volumes[f"{name}-{n}"] = {**vol, "name": f"{name}-{n}"}
        for mount in doc.get("volumeMounts") or []:
            if mount["name"] == name:
                mount["name"] = f"{name}-{n}"


def volume_label(name: str) -> str:
    """``name`` as Kubernetes accepts a volume's name (a DNS-1123 label: ``[a-z0-9-]``, at most
    63 characters): kept when it is one (podman's names), else lower-cased, other characters as
    ``-``, and cut to 54 characters with 8 hex digits of its hash (distinct names stay distinct)."""
    import hashlib
    import re

    if re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name):
        return name
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{label[:54].strip('-')}-{digest}".lstrip("-")


def _valid_volume_names(volumes: list[dict[str, Any]], containers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``volumes`` under names Kubernetes accepts (:func:`volume_label`), the containers'
    volumeMounts following them."""
    names = {v["name"]: volume_label(v["name"]) for v in volumes}
    for doc in containers:
        for mount in doc.get("volumeMounts") or []:
            mount["name"] = names.get(mount["name"], mount["name"])
    return [{**v, "name": names[v["name"]]} for v in volumes]


def containers_pod_name(configs: list[ContainerConfig]) -> str:
    """The Pod name of containers outside pods: the first one's, ``-pod`` added when it is a
    container's name too (always, for one container)."""
    name = kube_name(configs[0].name)
    return name + "-pod" if name in {kube_name(c.name) for c in configs} else name


def service_document(pod_doc: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The NodePort Service of a Pod: one port per ContainerPort, a random free node port in
    30000-32767 each, selecting the Pod's ``app`` label."""
    used: set[int] = set()
    ports = []
    for container in pod_doc["spec"]["containers"]:
        for cp in container.get("ports") or []:
            while True:
                node_port = rng.randint(30000, 32767)
                if node_port not in used:
                    used.add(node_port)
                    break
            port: dict[str, Any] = {"name": str(cp["containerPort"]), "nodePort": node_port,
                                    "port": cp["containerPort"], "targetPort": cp["containerPort"]}
            if cp.get("protocol"):
                port["protocol"] = cp["protocol"]
            ports.append(port)
    meta = pod_doc["metadata"]
    spec: dict[str, Any] = {"selector": {"app": meta["labels"]["app"]}, "type": "NodePort"}
    if ports:
        spec["ports"] = ports
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"creationTimestamp": meta["creationTimestamp"], "labels": dict(meta["labels"]),
                         "name": meta["name"]},
            "spec": spec}


VOLUME_OPTION_ANNOTATIONS = {"o": "volume.podman.io/mount-options", "device": "volume.podman.io/device",
                             "type": "volume.podman.io/type", "UID": "volume.podman.io/uid",
                             "GID": "volume.podman.io/gid"}


def pvc_document(volume: dict[str, Any], now: str) -> dict[str, Any]:
    """A named volume (its ``volume inspect`` record) as a PersistentVolumeClaim, as podman."""
    annotations = {"volume.podman.io/driver": volume.get("Driver") or "local"}
    for key, value in (volume.get("Options") or {}).items():
        if key in VOLUME_OPTION_ANNOTATIONS:
            annotations[VOLUME_OPTION_ANNOTATIONS[key]] = value
    metadata: dict[str, Any] = {"annotations": annotations, "creationTimestamp": now, "name": volume["Name"]}
    if volume.get("Labels"):
        metadata["labels"] = dict(volume["Labels"])
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata,
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            "status": {}}


def dump(document: dict[str, Any]) -> str:
    """One document as podman writes it (keys sorted, block style, quoted strings in double
    quotes: ``"false"``, ``"80"``)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def choose_scalar_style(self) -> str | None:
            style = super().choose_scalar_style()
            return '"' if style == "'" else style

    return yaml.dump(document, Dumper=Dumper, default_flow_style=False, sort_keys=True, width=1 << 30)


def render(parts: list[dict[str, Any] | str], version: str) -> str:
    """The output: podman's header, then each part (a document, or a note comment), separated
    by ``---`` lines."""
    return HEADER.format(version=version) + "---\n".join(p if isinstance(p, str) else dump(p) for p in parts)
