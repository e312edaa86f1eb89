"""``kube play`` and ``kube down``: a checked :class:`~capsa.kube.plan.Plan` made real (pods,
their containers, volumes) or taken down.

Contract of :func:`play`: everything that can be checked is checked before anything is made
(host paths and their types, names in use, images present or pulled); then volumes, pods and
containers are made, and started unless ``start`` is false. If making or starting fails midway,
whatever this call made is removed again (pods with their containers, volumes, host paths it
created) and the error is raised: nothing half-made stays. Containers are named
``<pod>-<container>`` and their configs come from :func:`capsa.container.flags` through the
``make_config`` of the ``create`` path (one way to make a container config).
"""
from __future__ import annotations

import os
import stat
from contextlib import contextmanager

from capsa.errors import CapsaError, ImageNotFound, UsageError
from capsa.fastpath.record import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator

    from capsa.container.model import ContainerConfig
    from capsa.engine.session import Session
    from capsa.kube.plan import ContainerPlan, Plan, PodPlan
    from capsa.pod.model import PodConfig
    from capsa.registry.progress import Progress

    MakeConfig = Callable[[Session, PodConfig, str, list[str], dict[str, Any]], ContainerConfig]


@record
class PlayOptions:
    """The flags of ``kube play`` that reach the engine."""

    start: bool = True
    replace: bool = False
    network: str = ""  # --network: every pod's network ("" : the YAML's, else the default)
    publish: list[str] = field(default_factory=list)  # --publish: more ports on every pod
    ips: list[str] = field(default_factory=list)  # --ip: the pods' addresses, in their order
    annotations: dict[str, str] = field(default_factory=dict)  # --annotation
    seccomp_root: str = "/var/lib/kubelet/seccomp"
    remote: Any = None  # RemoteOptions for the pulls of missing images
    quiet: bool = False


@record
class PlayReport:
    volumes: list[str] = field(default_factory=list)  # the volumes made (PersistentVolumeClaims)
    pods: list[tuple[str, list[str]]] = field(default_factory=list)  # (pod id, its containers' ids)


@record
class _Made:
    pods: list[Any] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


def read_plan(text: str, source: str, configmaps: list[tuple[str, str]], lenient: bool = False) -> Plan:
    """The plan of the YAML ``text`` (read from ``source``), every document checked, with the
    ConfigMaps of ``configmaps`` ((text, path) of ``--configmap`` files) beside its own;
    ``lenient`` (``kube down``): a YAML whose ConfigMaps are gone still names its pods."""
    from capsa.kube import plan as kube

    maps: dict[str, dict[str, str]] = {}
    for map_text, path in configmaps:
        maps.update(kube.configmaps(kube.load(map_text, path), path, only=True))
    return kube.read(text, source, maps, lenient=True) if lenient else kube.read(text, source, maps)


def check_host_paths(plan: Plan) -> list[tuple[str, str]]:
    """Every hostPath of the plan checked against its type; the (path, "dir"|"file") that an
    ``...OrCreate`` type will create. Raises UsageError naming the field."""
    create: list[tuple[str, str]] = []
    for pod in plan.pods:
        for vol in pod.volumes.values():
            if vol.kind != "bind":
                continue
            path, kind = vol.source, vol.host_type
            bad = f"{pod.where}: {vol.path}"
            try:
                st = os.stat(path)
            except FileNotFoundError:
                st = None
            except OSError as exc:
                raise UsageError(f"{bad}: {path}: {exc.strerror}", hint="fix the hostPath") from None
            if st is None:
                if kind in ("DirectoryOrCreate", "FileOrCreate"):
                    create.append((path, "dir" if kind == "DirectoryOrCreate" else "file"))
                    continue
                raise UsageError(f"{bad}: {path}: no such file or directory",
                                 hint="create it, or use type DirectoryOrCreate or FileOrCreate")
            if kind in ("Directory", "DirectoryOrCreate") and not stat.S_ISDIR(st.st_mode):
                raise UsageError(f"{bad}: {path} is not a directory", hint=f"hostPath type {kind} needs a directory")
            if kind in ("File", "FileOrCreate") and not stat.S_ISREG(st.st_mode):
                raise UsageError(f"{bad}: {path} is not a file", hint=f"hostPath type {kind} needs a regular file")
            if kind == "Socket" and not stat.S_ISSOCK(st.st_mode):
                raise UsageError(f"{bad}: checking HostPathSocket: path {path} is not a socket",
                                 hint="hostPath type Socket needs a unix socket")
    return list(dict.fromkeys(create))


def _check_names(sess: Session, plan: Plan, replace: bool) -> list[PodConfig]:
    """The existing pods ``--replace`` will remove; a name in use without it: exit 125."""
    from capsa.engine.session import container_records, pod_records

    pods = pod_records(sess)
    replaced = []
    for pod in plan.pods:
        if pods.name_taken(pod.name):
            if not replace:
                raise UsageError(f"{pod.where}: a pod named {pod.name!r} already exists",
                                 hint="remove it (capsa pod rm -f), or use --replace")
            replaced.append(pods.find(pod.name))
    replaced_ids = {p.id for p in replaced}
    records = container_records(sess)
    taken = {c.name: c for c in records.all()}
    for pod in plan.pods:
        for ctr in pod.containers:
            other = taken.get(ctr.name)
            if other is not None and other.pod not in replaced_ids:
                raise UsageError(f"{pod.where}: {ctr.path}.name: the container name {ctr.name!r} is already in use",
                                 hint="remove that container (capsa rm -f), or rename the pod or container")
    return replaced


def _stale_emptydirs(sess: Session, plan: Plan, replaced: list[PodConfig]) -> list[str]:
    """The emptyDir volumes of the plan left by an earlier pod of the same name (``pod rm``
    keeps them; ``--replace`` replaces their pod): removed before the pods are made. One that
    a container outside the replaced pods uses: exit 125, nothing done."""
    from capsa.engine import volumes

    wanted = {emptydir_name(p.name, v.name): p for p in plan.pods for v in p.volumes.values() if v.kind == "emptydir"}
    present = {v["Name"] for v in volumes.volume_store(sess).all()}
    ours = {f"{p.name}-{c.short}" for p in plan.pods for c in p.containers}
    users = volumes.users(sess)
    stale = [name for name in wanted if name in present]
    for name in stale:
        others = [u for u in users.get(name, []) if u not in ours]
        if others:
            raise UsageError(f"{wanted[name].where}: the emptyDir volume {name!r} is in use by {', '.join(others)}",
                             hint="remove those containers or that volume first")
    return stale


def _pull_images(sess: Session, plan: Plan, options: PlayOptions, progress: Progress | None) -> None:
    """Pull what is missing (or what ``imagePullPolicy: Always`` asks for), before anything is made."""
    from capsa.engine import pull

    remote = options.remote or pull.RemoteOptions()
    platform = pull.wanted_platform(None, None, None, None)
    done: set[tuple[str, str]] = set()
    for pod in plan.pods:
        for ctr in pod.containers:
            if (ctr.image, ctr.pull) in done:
                continue
            done.add((ctr.image, ctr.pull))
            try:
                pulled = pull.pull_for_container(sess, ctr.image, ctr.pull, remote, platform, progress or pull.no_progress)
                if pulled is None and not _has_image(sess, ctr.image):
                    raise ImageNotFound(f"{ctr.image}: image not known", hint="pull or build it first, "
                                        "or let kube play pull it (imagePullPolicy IfNotPresent or Always)")
            except CapsaError as exc:
                exc.args = (f"{pod.where}: {ctr.path}.image: {exc.message}",)
                exc.message = exc.args[0]
                raise


def _has_image(sess: Session, name: str) -> bool:
    from capsa.engine.session import open_store

    store = open_store(sess)
    with store.reading():
        try:
            store.find_image(name)
        except ImageNotFound:
            return False
    return True


def container_options(pod: PodPlan, ctr: ContainerPlan, options: PlayOptions) -> tuple[str, list[str], dict[str, Any]]:
    """The image, command and ``create`` flags (runflags' parameter names) of one container."""
    import json

    volumes, tmpfs = [], []
    for mount in ctr.mounts:
        vol = pod.volumes[mount.volume]
        ro = ":ro" if mount.read_only or vol.read_only else ""
        if vol.kind == "tmpfs":
            tmpfs.append(mount.destination + (":ro" if ro else ""))
        elif vol.kind == "emptydir":
            volumes.append(f"{emptydir_name(pod.name, vol.name)}:{mount.destination}{ro}")
        else:
            volumes.append(f"{vol.source}:{mount.destination}{ro}")
    o: dict[str, Any] = {
        "name": ctr.name, "env": list(ctr.env), "workdir": ctr.workdir or None, "user": ctr.user or None,
        "volume": volumes, "tmpfs": tmpfs, "read_only": ctr.read_only,
        "memory": str(ctr.memory) if ctr.memory is not None else None, "cpus": ctr.cpus,
        "cap_add": list(ctr.cap_add), "cap_drop": _held_drops(ctr), "privileged": ctr.privileged,
        "security_opt": (["no-new-privileges"] if ctr.no_new_privileges else []) + _seccomp(pod, ctr, options),
        "restart": ctr.restart, "tty": ctr.tty, "interactive": ctr.stdin, "init": ctr.init, "pull": "never",
        "entrypoint": json.dumps(ctr.command) if ctr.command is not None else None,
    }
    return ctr.image, list(ctr.args or []), o


def _held_drops(ctr: ContainerPlan) -> list[str]:
    """The drops that take something away: ``kube generate`` (podman's too) lists capabilities
    an older default set had (MKNOD, NET_RAW, AUDIT_WRITE); dropping one a container does not
    hold is a no-op, so it is not recorded."""
    from capsa.security.caps import DEFAULT_CAPS, canonical

    held = set(DEFAULT_CAPS) | {canonical(n) for n in ctr.cap_add}
    return [n for n in ctr.cap_drop if n.upper() == "ALL" or canonical(n) in held]


def _seccomp(pod: PodPlan, ctr: ContainerPlan, options: PlayOptions) -> list[str]:
    """The seccomp profile of the pod's or the container's annotation (Kubernetes' alpha
    annotations, which ``kube generate`` writes): unconfined, runtime/default or localhost/FILE
    (under --seccomp-profile-root)."""
    value = pod.annotations.get(f"container.seccomp.security.alpha.kubernetes.io/{ctr.short}") \
        or pod.annotations.get("seccomp.security.alpha.kubernetes.io/pod", "")
    if not value or value in ("runtime/default", "docker/default"):
        return []
    if value == "unconfined":
        return ["seccomp=unconfined"]
    if value.startswith("localhost/"):
        return [f"seccomp={os.path.join(options.seccomp_root, value[len('localhost/'):])}"]
    raise UsageError(f"{pod.where}: metadata.annotations: invalid seccomp profile {value!r}",
                     hint="use unconfined, runtime/default or localhost/FILE")


def emptydir_name(pod: str, volume: str) -> str:
    """The volume an emptyDir of a pod is (made with the pod, removed by ``kube down``)."""
    return f"{pod}-{volume}"


def play(sess: Session, plan: Plan, options: PlayOptions, make_config: MakeConfig,
         progress: Progress | None = None) -> PlayReport:
    """Make the plan real (see the module docstring)."""
    from capsa.engine import pods, volumes

    if len(options.ips) > len(plan.pods):
        raise UsageError(f"--ip is given {len(options.ips)} times for {len(plan.pods)} pods",
                         hint="give at most one address per pod, in the order of the YAML")
    to_create = check_host_paths(plan)
    for pod in plan.pods:  # every container flag checked before anything is made
        for ctr in pod.containers:
            _seccomp(pod, ctr, options)
    replaced = _check_names(sess, plan, options.replace)
    stale = _stale_emptydirs(sess, plan, replaced)
    _pull_images(sess, plan, options, progress)
    for pod in replaced:
        pods.remove(sess, pod, force=True, timeout=None)
    if stale:  # an emptyDir starts empty with its pod
        volumes.remove(sess, stale, force=False, all_volumes=False)
    report, made = PlayReport(), _Made()
    store = volumes.volume_store(sess)
    try:
        for path, kind in to_create:
            _create_host_path(path, kind, made)
        existing = {v["Name"] for v in store.all()}
        for claim in plan.claims:
            if claim not in existing:
                volumes.create(sess, claim, plan.claim_labels.get(claim, {}), {}, exist_ok=True)
                made.volumes.append(claim)
                existing.add(claim)
            report.volumes.append(claim)
        for pod in plan.pods:
            for vol in pod.volumes.values():
                name = emptydir_name(pod.name, vol.name) if vol.kind == "emptydir" else vol.source
                if vol.kind in ("emptydir", "volume") and name not in existing:
                    volumes.create(sess, name, {}, {}, exist_ok=True)
                    made.volumes.append(name)
                    existing.add(name)
        for n, pod in enumerate(plan.pods):
            with _about(pod.where):
                report.pods.append(_make_pod(sess, pod, options, make_config, made, options.ips[n] if n < len(options.ips) else ""))
        if options.start:
            for pod, config in zip(plan.pods, made.pods):
                with _about(pod.where):
                    _start(sess, config)
    except BaseException:
        _undo(sess, made)
        raise
    return report


def _create_host_path(path: str, kind: str, made: _Made) -> None:
    """A ``DirectoryOrCreate``/``FileOrCreate`` path, with its missing parents (each recorded
    in ``made``, outermost first, so that an undo removes them again)."""
    if os.path.lexists(path):  # (made meanwhile as the parent of another)
        return
    missing, parent = [], os.path.dirname(os.path.abspath(path))
    while parent != "/" and not os.path.exists(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    for directory in reversed(missing):
        os.mkdir(directory, 0o755)
        made.paths.append(directory)
    if kind == "dir":
        os.mkdir(path, 0o755)
    else:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    made.paths.append(path)


def _make_pod(sess: Session, pod: PodPlan, options: PlayOptions, make_config: MakeConfig, made: _Made,
              ip: str) -> tuple[str, list[str]]:
    """One pod and its containers (recorded in ``made`` as soon as they exist)."""
    from capsa.engine import containers, pods

    config = pods.create(sess, pods.PodOptions(
        name=pod.name, publish=pod.publish + list(options.publish), hostname=pod.hostname,
        labels=dict(pod.labels), network="host" if pod.host_network else options.network, ip=ip))
    made.pods.append(config)
    ids = []
    for ctr in pod.containers:
        image, command, o = container_options(pod, ctr, options)
        cconfig = make_config(sess, config, image, command, o)
        cconfig.annotations.update(ctr.annotations)
        cconfig.annotations.update(options.annotations)
        if ctr.command is not None and ctr.args is None:
            cconfig.cmd = []  # Kubernetes: a command without args drops the image's Cmd
        containers.create(sess, cconfig)
        ids.append(cconfig.id)
    return config.id, ids


@contextmanager
def _about(where: str) -> Iterator[None]:
    """An error while making or starting a pod names the document it comes from."""
    try:
        yield
    except CapsaError as exc:
        if not exc.message.startswith(where):
            exc.message = f"{where}: {exc.message}"
            exc.args = (exc.message,)
        raise


def _start(sess: Session, pod: PodConfig) -> None:
    from capsa.engine import containers, pods

    pods.ensure_infra(sess, pod)
    for member in pods.members(sess, pod, infra=False):
        containers.start(sess, member)


def _undo(sess: Session, made: _Made) -> None:
    """Remove what a failed play made, newest first, best effort."""
    import logging

    from capsa.engine import pods, volumes

    log = logging.getLogger("capsa.kube")
    for pod in reversed(made.pods):
        try:
            pods.remove(sess, pod, force=True, timeout=0)
        except CapsaError as exc:
            log.warning("kube play: removing pod %s again: %s", pod.name, exc)
    if made.volumes:
        try:
            volumes.remove(sess, made.volumes, force=True, all_volumes=False)
        except CapsaError as exc:
            log.warning("kube play: removing volumes %s again: %s", made.volumes, exc)
    for path in reversed(made.paths):
        try:
            os.rmdir(path) if os.path.isdir(path) else os.unlink(path)
        except OSError:
            pass


def down(sess: Session, plan: Plan) -> tuple[list[str], list[str]]:
    """``kube down``: stop and remove the pods the plan names (and their emptyDir volumes);
    the ids stopped and removed. A pod that does not exist is podman's error (PodNotFound)
    before anything is stopped."""
    from capsa.engine import containers, pods, volumes
    from capsa.engine.session import pod_records

    records = pod_records(sess)
    found = [records.find(p.name) for p in plan.pods]  # (one missing: podman's error, exit 125, nothing done)
    stopped, removed = [], []
    for pod in found:
        for member in reversed(pods.members(sess, pod, infra=True)):
            if containers.is_running(sess, member):
                containers.stop(sess, member)
        stopped.append(pod.id)
    for pod in found:
        pods.remove(sess, pod, force=True, timeout=None)
        removed.append(pod.id)
    empties = [emptydir_name(p.name, v.name) for p in plan.pods for v in p.volumes.values() if v.kind == "emptydir"]
    existing = {v["Name"] for v in volumes.volume_store(sess).all()}
    used = volumes.users(sess)  # (a container outside the pods still mounts it: it stays)
    gone = [name for name in empties if name in existing and not used.get(name)]
    if gone:
        volumes.remove(sess, gone, force=True, all_volumes=False)
    return stopped, removed
