"""Operations on pods: create (the record and its infra container), find, members, the infra
started on demand, remove. The other pod operations (start, stop, ps, inspect...) are in
:mod:`capsa.engine.podlife`; a container joins a pod at ``create``/``run --pod``
(:mod:`capsa.engine.podjoin`: ``join``, ``new_from_container``, also reachable from here).

A pod is a :class:`~capsa.pod.model.PodConfig` record and an infra container (a container whose
``extra["infra"]`` is true, its ``pod`` the pod's id) running the host's catatonit in pause mode
from a root filesystem made locally (:mod:`capsa.pod.infra`); it holds the namespaces the pod
shares for the pod's whole life. Nothing runs at ``pod create``.
"""
from __future__ import annotations

import os

from capsa.engine.session import container_records, pod_records
from capsa.errors import CapsaError, UsageError
from capsa.fastpath.record import field, record
from capsa.pod.model import DEFAULT_SHARE, SHAREABLE, PodConfig
from capsa.pod.records import PodNotFound  # (re-exported: the pod commands catch it)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from capsa.container.model import ContainerConfig
    from capsa.engine.session import Session

EXIT_POLICIES = ("continue", "stop")
_NET_KEYS = ("ip", "add_host", "dns", "dns_search", "dns_option", "network_alias")


@record
class PodOptions:
    """``pod create``'s flags (and what ``run --pod new:NAME`` and ``kube play`` give): None or
    empty means podman's default."""

    name: str = ""
    publish: list[str] = field(default_factory=list)  # -p specs (the infra publishes them)
    share: str | None = None  # podman's --share syntax: "ipc,net", "+pid", "none", "" (None: the default)
    hostname: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    network: str = ""  # --network ("" : the default network)
    infra: bool = True
    infra_command: list[str] = field(default_factory=list)
    infra_name: str = ""
    infra_image: str = ""  # a local image for the infra instead of the host's catatonit
    infra_conmon_pidfile: str = ""
    pod_id_file: str = ""
    replace: bool = False
    exit_policy: str = "continue"
    ip: str = ""
    add_host: list[str] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_option: list[str] = field(default_factory=list)
    network_alias: list[str] = field(default_factory=list)
    cgroup_parent: str = ""
    share_parent: bool = True  # members take the pod's cgroup_parent
    security_opt: list[str] = field(default_factory=list)  # the infra container's
    volumes: list[str] = field(default_factory=list)  # -v specs every member gets
    extra: dict[str, Any] = field(default_factory=dict)  # kept in PodConfig.extra (e.g. create_command)


def parse_share(value: str | None) -> list[str]:
    """podman's ``--share``: a comma list of namespaces; ``+a,b`` adds to the default
    (ipc, net, uts); ``none`` or ``""`` shares nothing. Sorted; podman's error otherwise."""
    if value is None:
        return sorted(DEFAULT_SHARE)
    value = value.strip()
    if value in ("", "none"):
        return []
    names = set(DEFAULT_SHARE) if value.startswith("+") else set()
    for item in value.lstrip("+").split(","):
        item = item.strip()
        if item not in SHAREABLE:
            raise UsageError(f"invalid kernel namespace to share: {item}. Options are: cgroup, ipc, net, pid, uts or none",
                             hint="e.g. --share ipc,net,uts, or --share +pid to add pid to the default")
        names.add(item)
    return sorted(names)


def _check(sess: Session, options: PodOptions, share: list[str]) -> None:
    """Every check that needs no record written: bad input makes nothing."""
    from capsa.fastpath.names import is_safe_name

    if options.name and not is_safe_name(options.name):
        raise UsageError("running pod create option: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument",
                         hint=f"{options.name!r}: choose another --name")
    if options.exit_policy not in EXIT_POLICIES:
        raise UsageError(f'running pod create option: invalid pod exit policy: "{options.exit_policy}"', hint="use --exit-policy continue or stop")
    if not options.infra:
        if options.publish:
            raise UsageError("you must have an infra container to publish port bindings to the host",
                             hint="drop --infra=false, or publish ports on each container")
        if share:
            raise UsageError(f"cannot set share({','.join(share)}) namespaces without an infra container",
                             hint="add --share none, or drop --infra=false")
        for flag, value in (("--network", options.network), ("--infra-command", options.infra_command),
                            ("--infra-name", options.infra_name), ("--infra-image", options.infra_image),
                            ("--infra-conmon-pidfile", options.infra_conmon_pidfile), ("--hostname", options.hostname),
                            *((f"--{k.replace('_', '-')}", getattr(options, k)) for k in _NET_KEYS)):
            if value:
                raise UsageError(f"cannot set {flag} without an infra container", hint="drop --infra=false")
    if options.publish and "net" not in share:
        raise UsageError("you must share the network namespace to publish ports on the pod",
                         hint="add net to --share, or publish ports on each container")
    if options.hostname and "uts" not in share:
        raise UsageError("cannot set the pod's hostname without sharing the uts namespace", hint="add uts to --share")
    if "cgroup" in share and not options.cgroup_parent:
        pass  # (podman refuses --share cgroup with its pod cgroup; capsa makes none: see docs/pods.md)
    if options.pod_id_file and os.path.exists(options.pod_id_file):
        raise UsageError(f"pod id file exists. Ensure another pod is not using it or delete {options.pod_id_file}",
                         hint="remove the file, or give another --pod-id-file")
    if options.infra_conmon_pidfile and not os.path.isdir(os.path.dirname(os.path.abspath(options.infra_conmon_pidfile))):
        raise UsageError(f"--infra-conmon-pidfile {options.infra_conmon_pidfile}: no such directory",
                         hint="give a file in an existing directory")


def create(sess: Session, options: PodOptions) -> PodConfig:
    """Record the pod and its infra container (nothing starts: the pod is Created, as podman's).
    Bad input creates nothing; with ``replace`` a pod of the same name is removed first."""
    from capsa.container import lifecycle
    from capsa.store.records import now_rfc3339

    share = parse_share(options.share) if options.infra or options.share is not None else []
    _check(sess, options, share)
    pods = pod_records(sess)
    pod = PodConfig(id=os.urandom(32).hex(), name=options.name, created=now_rfc3339(), share=share,
                    hostname=options.hostname, labels=dict(options.labels), network=options.network,
                    publish=list(options.publish), infra_command=list(options.infra_command),
                    infra_name=options.infra_name, exit_policy=options.exit_policy, extra=dict(options.extra))
    if options.cgroup_parent and options.share_parent:
        pod.extra["cgroup_parent"] = options.cgroup_parent
    if options.volumes:
        from capsa.container.flags import parse_volume

        for spec in options.volumes:
            parse_volume(spec)  # (checked now: a bad one makes no pod)
        pod.extra["volumes"] = list(options.volumes)
    if options.infra_conmon_pidfile:
        pod.extra["infra_conmon_pidfile"] = os.path.abspath(options.infra_conmon_pidfile)
    infra = _infra_config(sess, pod, options) if options.infra else None
    with pods.store_lock().exclusive():
        if not pod.name:
            pod.name = lifecycle.random_name(pods.name_taken)
        replaced = pods.find(pod.name) if options.replace and pods.name_taken(pod.name) else None
        if infra is not None:
            infra.name = infra.name or f"{pod.id[:12]}-infra"
            pod.infra_id, pod.infra_image = infra.id, infra.image_name
            if replaced is None or infra.name not in {m.name for m in members(sess, replaced)}:
                container_records(sess).check_name(infra.name)  # (before the old pod goes)
        if replaced is not None:
            remove(sess, replaced, force=True, timeout=None)
            if infra is not None:
                container_records(sess).check_name(infra.name)
        pods.add(pod)
        try:
            if infra is not None:
                from capsa.engine import containers

                containers.create(sess, infra)
            if options.pod_id_file:
                _write_new(options.pod_id_file, pod.id + "\n")
        except BaseException:
            pods.remove(pod.id)
            if infra is not None and infra.created and os.path.isdir(container_records(sess).dir(infra.id)):
                _remove_container(sess, infra, force=True, timeout=0)
            raise
    return pod


def _write_new(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _infra_config(sess: Session, pod: PodConfig, options: PodOptions) -> ContainerConfig:
    """The infra container's configuration (checked: ports, network, names and addresses); it
    holds every namespace the pod shares, and publishes the pod's ports."""
    from capsa.container.model import ContainerConfig
    from capsa.engine import containers

    image_name, rootfs = options.infra_image, None
    command = list(options.infra_command)
    if not image_name:
        from capsa.pod.infra import INFRA_COMMAND, ensure_rootfs

        rootfs = ensure_rootfs(sess.config.root)
        image_name, command = rootfs, command or list(INFRA_COMMAND)
    config = ContainerConfig(id=os.urandom(32).hex(), name=options.infra_name, image_id=None, image_name=image_name,
                             rootfs=rootfs, entrypoint=command or None, cmd=None,
                             hostname=(options.hostname or pod.name) if "uts" in pod.share else "",
                             read_only=rootfs is not None, network="none", pod=pod.id,
                             cgroup_parent=options.cgroup_parent, stop_timeout=10,
                             extra={"infra": True, "read_only_tmpfs": False})
    if rootfs is not None:
        config.stop_signal = "SIGKILL"  # catatonit -P holds namespaces, nothing to wind down
    if "net" in pod.share or options.network or options.publish:
        mode, definition = containers.network_mode(sess, options.network or None, starting=False)
        config.network = mode
        if definition is not None:
            config.extra["network_definition"] = definition
        if options.publish:
            warning = containers.publish(sess, config, list(options.publish), False)
            if warning:
                raise UsageError(f"cannot publish ports with --network {options.network}",
                                 hint="publish ports on a pod with a network of its own (not none, host or container:)")
        o = {k: getattr(options, k) for k in _NET_KEYS}
        if any(o.values()):
            containers.network_options(sess, config, o, definition)
    if options.security_opt:
        from capsa.container.flags import parse_security_opts

        parse_security_opts(options.security_opt, config)
    return config


# -- finding pods and their members ---------------------------------------------------------------

def check_targets(refs: list[str], all_: bool, latest: bool, id_files: bool = False) -> None:
    """podman 4.3's checks of POD arguments against ``--all``, ``--latest`` and ``--pod-id-file``,
    in its order and words (every pod command that takes them: rm, start, stop, restart, kill,
    pause, unpause); a ``UsageError`` (exit 125)."""
    if id_files and (all_ or latest):
        raise UsageError("--all, --latest, and --pod-id-file cannot be used together", hint="use one of them")
    if all_ and latest:
        raise UsageError("--all and --latest cannot be used together", hint="use one of them")
    if refs and all_:
        raise UsageError("no arguments are needed with --all", hint="leave out the pods, or --all")
    if refs and latest:
        raise UsageError("--latest and containers cannot be used together", hint="leave out the pods, or --latest")
    if refs and id_files:
        raise UsageError("no arguments are needed with --latest or --pod-id-file", hint="leave out the pods")
    if not (refs or all_ or latest or id_files):
        raise UsageError("you must provide at least one name or id", hint="or use --all or --latest")


def read_id_files(paths: list[str]) -> list[str]:
    """The pod ids in ``--pod-id-file`` files (``pod create --pod-id-file`` wrote them)."""
    from capsa.fsutil import read_id_files as read

    return read(paths, lambda path, exc: UsageError(
        f"reading pod ID file: open {path}: {(exc.strerror or str(exc)).lower()}",
        hint="give the file 'capsa pod create --pod-id-file' wrote"))


def find(sess: Session, refs: list[str] | None, all_: bool = False, latest: bool = False) -> list[PodConfig]:
    """The pods ``refs`` name (every one with ``all_``, the newest with ``latest``); PodNotFound
    (podman's message) for an unknown one."""
    pods = pod_records(sess)
    if all_:
        return pods.all()
    if latest:
        return pods.all()[-1:]
    if not refs:
        raise UsageError("specify one or more pods (name or ID)", hint="or use --all / --latest")
    return [pods.find(ref) for ref in refs]


def members(sess: Session, pod: PodConfig, infra: bool = True) -> list[ContainerConfig]:
    """The pod's containers: the infra first (unless ``infra`` is false), then by creation time."""
    found = pod_records(sess).members(container_records(sess), pod.id)
    return found if infra else [c for c in found if not c.extra.get("infra")]


def ensure_infra(sess: Session, pod: PodConfig) -> None:
    """Start the pod's infra container unless it runs (nothing with ``--infra=false``)."""
    begin_infra(sess, pod)()


def begin_infra(sess: Session, pod: PodConfig) -> Callable[[], None]:
    """:func:`ensure_infra` in two halves: the infra is handed to its monitor now, and the
    function returned (to be called, whatever happens meanwhile) waits until it runs, raising
    when it could not start; its ``namespaces()`` waits only until the infra exists (its pid,
    0 when it did not start), so that a member can be made to join it meanwhile. The pod's lock
    is held in between."""
    if not pod.infra_id:
        return nothing_to_wait
    from capsa.container import lifecycle
    from capsa.container.records import ContainerNotFound
    from capsa.engine import containers

    records = container_records(sess)
    lock = pod_records(sess).lock(pod.id)
    lock.acquire()
    try:
        try:
            infra = records.config(pod.infra_id)
        except ContainerNotFound:
            raise UsageError(f"the infra container of pod {pod.name} is gone",
                             hint=f"remove the pod (capsa pod rm -f {pod.name}) and create it again") from None
        if containers.is_running(sess, infra):
            lock.release()
            return nothing_to_wait
        from capsa import plugins

        plugins.load_hook_plugins()
        started = lifecycle.start_background(sess, records, infra, early_pid=True)
    except BaseException:
        lock.release()
        raise
    done: list[bool] = []

    def finish() -> None:
        if done:
            return
        done.append(True)
        try:
            started()
        except CapsaError as exc:
            containers.record_start_failure(records, infra, exc)
            raise
        finally:
            lock.release()
        pidfile = pod.extra.get("infra_conmon_pidfile")
        if pidfile:
            from capsa.fsutil import atomic_write

            atomic_write(pidfile, f"{records.state(infra.id).monitor_pid}".encode(), durable=False)

    finish.namespaces = started.namespaces  # type: ignore[attr-defined]  # (its pid, once it exists)
    return finish


def nothing_to_wait() -> None:
    """What :func:`begin_infra` returns when no infra is to start."""
    return None


nothing_to_wait.namespaces = lambda: 0  # type: ignore[attr-defined]


# -- remove ---------------------------------------------------------------------------------------

def remove(sess: Session, pod: PodConfig, force: bool, timeout: int | None) -> None:
    """``pod rm``: the members, then the infra, then the record. Without ``force`` a pod with a
    running (or paused) container is refused, as podman (exit 125), before anything is removed;
    with it they are stopped (SIGKILL at once when ``timeout`` is None or 0, as ``rm -f``; else
    the stop signal, SIGKILL after ``timeout`` seconds: :func:`_stop_all`). ``pod rm``'s
    members lock is held meanwhile: no member is recorded in the pod (podjoin.recording_member)."""
    from capsa.engine import containers

    pods = pod_records(sess)
    with pods.lock(pod.id).exclusive(), pods.members_lock(pod.id).exclusive():  # (no member joins meanwhile)
        found = members(sess, pod)
        infra = [c for c in found if c.extra.get("infra")]
        others = [c for c in found if not c.extra.get("infra")]
        if not force:
            running = [c for c in others if containers.is_running(sess, c)]
            if running:
                lines = [f"removing container {c.id} from pod {pod.id}: cannot remove container {c.id} as it is "
                         f"running - running or paused containers cannot be removed without force: container state "
                         f"improper" for c in running]
                lines += [f"removing container {c.id} from pod {pod.id}: a container that depends on container "
                          f"{c.id} still exists: dependency exists" for c in infra]  # (podman 4.3's words)
                message = lines[0] if len(lines) == 1 else f"{len(lines)} errors occurred:\n" + "".join(
                    f"\t* {line}\n" for line in lines)
                raise UsageError(message, hint=f"stop the pod first (capsa pod stop {pod.name}), or use pod rm -f")
        if force:
            _stop_all(sess, others + infra, timeout)
        for config in others:  # (the infra last: the others joined its namespaces)
            _remove_container(sess, config, force=True, timeout=timeout)
        for config in infra:
            _remove_container(sess, config, force=True, timeout=0 if timeout is None else timeout)
        pods.remove(pod.id)


def _stop_all(sess: Session, configs: list[ContainerConfig], timeout: int | None) -> None:
    """Stop every running container of ``configs`` at once (``pod rm -f``): each its stop
    signal, then SIGKILL to those still running after ``timeout`` seconds (None or 0: SIGKILL
    at once, as ``rm -f``); their monitors tear them down side by side."""
    from capsa.container.isodriver import isolation_driver
    from capsa.container.pausing import thaw_after_signal
    from capsa.container.stopping import request_stop, wait_exited
    from capsa.engine.containers import stop_signal
    from capsa.signals import signal_number

    records = container_records(sess)
    live = []
    for config in configs:
        state = request_stop(records, config.id)
        if state is None:
            continue
        iso = isolation_driver(sess, config)
        sig = signal_number(stop_signal(sess, config)) if timeout else 9
        try:
            iso.kill(config.id, sig)
            if state.status == "paused":
                thaw_after_signal(iso, records, config)
        except CapsaError:
            pass  # (exiting already)
        live.append((config, iso))
    import time

    deadline = time.monotonic() + (timeout or 0)
    for config, iso in live:
        if timeout and wait_exited(records, config, max(0.0, deadline - time.monotonic())) is None:
            try:
                iso.kill(config.id, 9)
                thaw_after_signal(iso, records, config)
            except CapsaError:
                pass


def _remove_container(sess: Session, config: ContainerConfig, force: bool, timeout: int | None) -> None:
    from capsa.container import removal
    from capsa.container.records import ContainerNotFound
    from capsa.engine.session import open_store

    records = container_records(sess)
    try:
        removal.remove(sess, open_store(sess), records, config, force,
                       config.stop_timeout if timeout is None else timeout)
    except ContainerNotFound:
        pass  # gone meanwhile (its own --rm)
    except CapsaError:
        raise


from capsa.engine.podjoin import infra_first, join, new_from_container  # noqa: E402,F401  (the member side)
