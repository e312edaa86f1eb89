"""The per-container mechanism under the engine's container operations (:mod:`capsa.engine.containers`):
create, start (handing the container to its monitor), the drivers a container uses, remove. The
monitor (:mod:`capsa.container.monitor`) carries a started container from there; stopping,
killing and waiting on it is :mod:`capsa.container.stopping`. ``sess`` is the engine's
:class:`~capsa.engine.session.Session` (only its configuration and drivers are used)."""
from __future__ import annotations

import os
import time

from capsa import plugins
from capsa.container.isodriver import recorded_isolation
from capsa.container.model import ContainerConfig
from capsa.container.records import UNREADABLE, ContainerRecords
from capsa.errors import CapsaError, IsolationError, StorageError, UsageError
from capsa.fsutil import atomic_write
from capsa.fastpath.record import asdict
from capsa.store.records import now_rfc3339

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    from capsa.engine.session import Session
    from capsa.store.store import Store

_ADJECTIVES = ("admiring", "brave", "clever", "dazzling", "eager", "festive", "gifted", "happy", "jolly", "keen",
               "loving", "modest", "nifty", "optimistic", "peaceful", "quirky", "relaxed", "serene", "trusting", "vibrant")
_NOUNS = ("archimedes", "babbage", "curie", "darwin", "euler", "fermi", "galileo", "hopper", "lovelace", "mendel",
          "noether", "pasteur", "ritchie", "shannon", "tesla", "turing", "volta", "wozniak", "yonath", "zuse")


def random_name(taken: Callable[[str], bool]) -> str:
    """An adjective_scientist name for which ``taken`` says no."""
    for _ in range(100):
        pick = int.from_bytes(os.urandom(4), "little")
        name = f"{_ADJECTIVES[pick % len(_ADJECTIVES)]}_{_NOUNS[(pick >> 16) % len(_NOUNS)]}"
        if not taken(name):
            return name
    return f"capsa_{os.urandom(4).hex()}"


def fire(hook: str, records: ContainerRecords, config: ContainerConfig, store: Store | None,
         image_config: dict[str, Any] | None = None, strict: bool = False, **kwargs: Any) -> None:
    """Call a container hook with the container's view, built only when a plugin implements
    the hook: ``capsa inspect``'s document (:func:`capsa.container.views.container_document`).
    A hook that raises warns (the operation goes on), or with ``strict`` fails it
    (:class:`capsa.plugins.HookFailed`)."""
    if not plugins.wants(hook):
        return
    from capsa.container.views import container_document

    view = container_document(records, config, store, image_config)
    if strict:
        plugins.call_or_fail(hook, container=view, **kwargs)
    else:
        plugins.call_each_warning(hook, container=view, **kwargs)


# -- create ---------------------------------------------------------------------------------------

def create(store: Store, records: ContainerRecords, config: ContainerConfig) -> ContainerConfig:
    """Record a container: its image's writable layer (or --rootfs) and its configuration.
    On error nothing is left."""
    config.created = config.created or now_rfc3339()
    with store.writing():
        if not config.name:
            config.name = random_name(records.name_taken)
        records.check_name(config.name)  # before anything is made for it
        if config.rootfs is None:
            image = store.find_image(config.image_name)
            config.image_id = image.id
            config.image_name = store.name_of(config.image_name, image)  # podman's ImageName
            image_config = store.config_of(image)
            if config.extra.pop("publish_all", False):  # -P: the image's (and --expose's) exposed ports, to free host ports
                from capsa.container.ports import publish_exposed

                publish_exposed(records, image_config, config)
            if "healthcheck" not in config.extra and (image_config.get("config") or {}).get("Healthcheck"):
                from capsa.container.health import take_image_check

                take_image_check(config, image_config)
            layer = store.layers.create_empty(image.top_layer)
            config.layer_id = layer.id
        try:
            records.add(config)
            if config.extra.get("log_path"):  # --log-driver none, --log-opt path=: ctr.log leads there
                os.symlink(config.extra["log_path"], records.log_path(config.id))
        except BaseException:
            if config.layer_id:
                store.layers.remove(config.layer_id)
            raise
    for mount in config.mounts:  # its named volumes exist from now on, as podman makes them at create
        if mount.type == "volume":
            from capsa.container.volumes import VolumeStore

            VolumeStore(store.root).ensure(mount.source)
    fire("capsa_container_created", records, config, store)
    return config


# -- start ----------------------------------------------------------------------------------------

def init_binary() -> str | None:
    for path in ("/usr/libexec/podman/catatonit", "/usr/bin/catatonit", "/usr/libexec/catatonit/catatonit"):
        if os.path.isfile(path):
            return path
    from shutil import which

    return which("catatonit")


def volume_dir(root: str | os.PathLike[str], name: str, container_id: str) -> Path:
    """A named volume's data directory (created on first use, as podman does); a volume with
    mount options has its filesystem mounted there, held for the container until its teardown
    releases it (:func:`capsa.container.volumes.release_volumes`)."""
    from capsa.container.volumes import VolumeStore

    vstore = VolumeStore(root)
    vstore.ensure(name)
    return vstore.hold(name, container_id)


def bundle_dir(records: ContainerRecords, container_id: str) -> str:
    """Where a container's OCI bundle lives (under the runroot: rewritten at every start)."""
    return records.run_dir(container_id, "bundle")


def prepare_bundle(root: str, store: Store, records: ContainerRecords, config: ContainerConfig) -> str:
    """Mount the container's root filesystem and write its OCI bundle; returns the bundle dir.
    ``start`` does this while its monitor loads; the monitor undoes the mount at teardown. On
    error nothing stays mounted. ``root`` is the store's root (named volumes live under it)."""
    from capsa.container.etcfiles import write_files
    from capsa.container.spec import build_spec
    from capsa.fastpath.jsonio import dumps

    bundle = bundle_dir(records, config.id)
    os.makedirs(bundle, exist_ok=True)
    storage = store.driver
    with store.reading():
        image_config = store.config_of(store.image_by_id(config.image_id)) if config.image_id else {}
    rootfs = os.path.realpath(config.rootfs) if config.rootfs else str(storage.mount(config.layer_id, volatile=config.remove))
    try:
        files = write_files(records.run_dir(config.id, "files"), config, config.image_name)
        netns_path = ""
        if config.network.startswith("container:"):
            netns_path, files = joined_namespace(records, config.network[len("container:"):], files)
        resolved = ContainerConfig(**{**asdict(config), "mounts": []})
        for mount in config.mounts:
            if mount.type == "volume":
                mount = type(mount)(mount.type, mount.destination, str(volume_dir(root, mount.source, config.id)),
                                    list(mount.options))
            elif mount.type == "image":
                from capsa.container.imagemount import image_mount

                mount = image_mount(store, mount)
            resolved.mounts.append(mount)
        spec = build_spec(resolved, image_config, rootfs, files, init_path=(config.extra.get("init_path") or init_binary()) if config.init else None,
                          netns_path=netns_path, ns_paths=joined_namespaces(records, config))
        fire("capsa_adjust_runtime_spec", records, config, store, image_config, strict=True, spec=spec)
        fire("capsa_container_prestart", records, config, store, image_config, strict=True, spec=spec)
        atomic_write(os.path.join(bundle, "config.json"), dumps(spec).encode(), durable=False)
    except BaseException:
        from capsa.container.volumes import release_volumes

        release_volumes(root, records, config.id, config.mounts)
        if config.layer_id and not config.rootfs:
            storage.unmount(config.layer_id)
        raise
    return bundle


def _names_of(records: ContainerRecords, config: ContainerConfig) -> dict[str, Any]:
    """What the monitor needs for names and addresses (:mod:`capsa.container.netnames`): the
    hosts file, its own line's names, the names to publish, ``--ip`` and ``--network-alias``."""
    from capsa.container.etcfiles import own_names

    net = config.extra.get("net") or {}
    aliases = list(net.get("aliases") or [])
    return {"hosts": records.run_dir(config.id, "files", "hosts"), "own": own_names(config),
            "name_list": [config.name, *aliases], "static_ip": net.get("ip", ""), "aliases": aliases}


def joined_namespace(records: ContainerRecords, target_id: str, files: Any) -> tuple[str, Any]:
    """``--network container:ID``: the path of the running target's network namespace, and
    ``files`` with the target's /etc/hosts and /etc/resolv.conf (shared, as podman shares them).
    The target must run: else UsageError (exit 125)."""
    from capsa.container.etcfiles import GeneratedFiles

    path = namespace_path(records, target_id, "net")
    if files is None:
        return path, None
    tfiles = records.run_dir(target_id, "files")
    hosts = os.path.join(tfiles, "hosts")
    resolv = os.path.join(tfiles, "resolv.conf")
    files = GeneratedFiles(hosts=hosts if os.path.exists(hosts) else files.hosts, hostname=files.hostname,
                           resolv_conf=resolv if os.path.exists(resolv) else files.resolv_conf,
                           containerenv=files.containerenv)
    return path, files


OCI_TYPES = {"ipc": "ipc", "uts": "uts", "pid": "pid", "cgroup": "cgroup"}  # ContainerConfig.namespaces keys -> OCI's


def joined_namespaces(records: ContainerRecords, config: ContainerConfig) -> dict[str, str]:
    """The namespaces other than the network's that ``config`` joins (``config.namespaces``):
    OCI type -> ``/proc/PID/ns/KIND`` of the running container it names (a pod's infra), or ""
    for the host's. The container named must run: else UsageError (exit 125)."""
    out: dict[str, str] = {}
    for kind, mode in config.namespaces.items():
        if kind not in OCI_TYPES:
            continue
        if mode == "host":
            out[OCI_TYPES[kind]] = ""
        elif mode.startswith("ns:"):  # (--pid/--ipc/--uts/--cgroupns ns:PATH)
            out[OCI_TYPES[kind]] = mode[len("ns:"):]
        elif mode.startswith("container:"):
            out[OCI_TYPES[kind]] = namespace_path(records, mode[len("container:"):], kind)
    return out


def namespace_path(records: ContainerRecords, target_id: str, kind: str) -> str:
    """``/proc/PID/ns/KIND`` of running container ``target_id``; UsageError (podman's "container
    state improper") when it does not run."""
    what = "network" if kind == "net" else kind
    try:
        target = records.config(target_id)
        state = records.state(target_id)
    except CapsaError:
        raise UsageError(f"cannot join the {what} namespace of container {target_id[:12]}: no such container",
                         hint="the container was removed; recreate this one" + (" with another --network" if kind == "net" else "")) from None
    pid = state.pid if state.status == "running" else STARTING.get(target_id, 0)
    path = f"/proc/{pid}/ns/{kind}"
    if not pid or not os.path.exists(path):
        raise UsageError(f"cannot join the {what} namespace of container {target.name}: container state improper",
                         hint=f"start it first (capsa start {target.name})")
    return path


def network_driver_name(config: Any, flag: str | None) -> str:
    """The network driver a container uses, which is its network mode: ``--network none`` or
    ``host`` (always installed), the one capsa.toml selects (``[network] driver``; ``private``
    means it), or any other installed network driver by name (``--network bridge``)."""
    selected = config.driver("network")
    if not flag or flag in ("private", selected):
        return selected
    if flag in ("none", "host"):
        return flag
    from capsa.entrypoints import DRIVER_GROUPS, entries_in

    installed = sorted({e.name for e in entries_in(DRIVER_GROUPS["network"])})
    if flag in installed:
        return flag
    raise UsageError(f"unknown network mode {flag!r}",
                     hint=f"use --network {' or '.join(installed)} (installed network drivers; [network] driver selects the default, now {selected!r})")


def monitor_drivers(sess: Session) -> dict[str, str]:
    """The drivers a container's monitor uses (kind -> name), for it to load early."""
    return {kind: sess.config.driver(kind) for kind in ("storage", "isolation", "network")}


def _hand_to_monitor(sess: Session, store: Store | None, records: ContainerRecords,
                     config: ContainerConfig, early_pid: bool = False) -> tuple[int, int]:
    """Give a monitor (pre-forked by ``run``, or a new one) this container, once its bundle is
    written here (while that monitor loads its drivers); returns (messages from it, go to it).
    On error the monitor is let go (it exits) and nothing stays mounted."""
    from capsa.container import monitor_fork

    cfg = sess.config
    from capsa.container.netattach import driver_for

    # the drivers this container's monitor uses (its own network driver, not the default one)
    handle = monitor_fork.take({**monitor_drivers(sess), "isolation": recorded_isolation(sess, config)["name"],
                                "network": driver_for(config.network)})
    try:
        if store is None:
            from capsa.store.store import Store

            store = Store(cfg.root, cfg.runroot, sess.driver("storage"))  # type: ignore[arg-type]
        bundle = prepare_bundle(cfg.root, store, records, config)
    except BaseException:
        handle.discard()
        raise
    try:
        handle.send({
            "id": config.id, "name": config.name, "root": cfg.root, "runroot": cfg.runroot, "bundle": bundle,
            "tty": config.tty, "interactive": config.interactive, "remove": config.remove, "early_pid": early_pid,
            "pidfiles": config.extra.get("pidfiles") or {},  # --pidfile, --conmon-pidfile
            "timeout": config.extra.get("timeout") or 0,  # --timeout
            "restart_policy": config.restart_policy, "restart_max": config.restart_max, "layer_id": config.layer_id,
            "volumes": [m.source for m in config.mounts if m.type == "volume"],
            "storage": {"name": cfg.driver("storage"), "options": cfg.driver_options("storage")},
            "isolation": recorded_isolation(sess, config),
            "network": {"name": driver_for(config.network), "options": cfg.driver_options("network", driver_for(config.network)),
                        "definition": config.extra.get("network_definition") or {},
                        "ports": config.extra.get("ports") or [], **_names_of(records, config)},
        })
    except OSError as exc:
        handle.discard()
        from capsa.container.volumes import release_volumes

        release_volumes(cfg.root, records, config.id, config.mounts)
        if config.layer_id and not config.rootfs:
            store.driver.unmount(config.layer_id)
        raise IsolationError(f"the container monitor could not be started: {exc.strerror}",
                             hint="see monitor.log in the container's runroot directory") from None
    return handle.messages, handle.go


class _Events:
    """The monitor's events on ``fd``: one JSON object per line (several may come at once)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""

    def next(self, timeout: float = 60.0) -> dict[str, Any]:
        import select

        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise IsolationError("the container monitor did not answer in time",
                                     hint="see monitor.log in the container's directory under the runroot")
            chunk = os.read(self.fd, 4096)
            if not chunk:
                raise IsolationError("the container monitor exited before starting the container",
                                     hint="see monitor.log in the container's directory under the runroot")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        from capsa.fastpath.jsonio import loads

        return loads(line)  # type: ignore[no-any-return]


def start(sess: Session, records: ContainerRecords, config: ContainerConfig, attach_output: bool,
          stdin: bool = False, store: Store | None = None, detach_keys: bytes | None = None,
          sig_proxy: bool = True, before_go: Callable[[], None] | None = None) -> int | None:
    """Start the container; with ``attach_output`` relay its stdio until it exits and return its exit
    code (None when the user detached: ``detach_keys``, ctrl-p ctrl-q when None). Raises when the
    container could not start. ``store``: the session's store, when the caller has it open already."""
    if UNREADABLE in config.extra:  # (a placeholder: see records.is_unreadable)
        raise StorageError(f"container {config.name} cannot be started: {config.extra[UNREADABLE]}",
                           hint="remove it with 'capsa rm -f', or run 'capsa system check --repair'")
    if store is None:
        from capsa.store.store import Store

        store = Store(sess.config.root, sess.config.runroot, sess.driver("storage"))  # type: ignore[arg-type]
    with records.lock(config.id).exclusive():
        state = records.state(config.id)
        if state.status in ("running", "paused", "stopping"):
            raise UsageError(f"container {config.name} is already running", hint="see 'capsa ps'")
        if state.stop_requested or state.error or state.restart_count:  # (a fresh container: no write)
            # a start asked for begins the restart policy's count again, as podman's does
            state.stop_requested, state.error, state.restart_count = False, "", 0
            records.set_state(config.id, state)  # (update_state would take the lock we hold)
        msg, go = _hand_to_monitor(sess, store, records, config)
    # The monitor says "listening" (its attach socket exists), then "created", then "started",
    # or "error" at any point. We attach (or not) and say go as soon as it listens, so that it
    # starts the container the moment it is created: no round trip through us in between.
    events = _Events(msg)
    try:
        try:
            event = events.next()
            sock = None
            if event.get("event") == "listening":
                if attach_output:
                    from capsa.container import attach

                    try:
                        sock = attach.connect(records.run_dir(config.id, "attach"))
                        if config.tty:  # before go: the process starts with our window size
                            attach.send_size(sock)
                    except OSError:  # the monitor closed it already: it failed, and says why next
                        sock = None
                if before_go is not None:  # (a pod member: its infra runs first; the member is made meanwhile)
                    try:
                        before_go()
                    except BaseException:
                        os.write(go, b"!")  # the monitor calls the start off
                        os.close(go)
                        go = -1
                        from capsa.container.stopping import wait_monitor_gone

                        wait_monitor_gone(records, config, timeout=10)
                        raise
                os.close(go)
                go = -1
                event = events.next()
        except IsolationError:  # the monitor died before taking the container: record it
            records.update_state(config.id, status="exited", exit_code=125, pid=0,
                                 error="the container monitor exited before starting the container")
            raise
        if attach_output and sock is None and event.get("event") != "error":
            raise IsolationError("cannot attach to the container's monitor",
                                 hint="see monitor.log in the container's runroot directory")
        if event.get("event") != "error":
            event = events.next()
        if event.get("event") == "error":  # the monitor tears down (network delete, runtime, mount): wait for it
            from capsa.container.stopping import wait_monitor_gone

            wait_monitor_gone(records, config, timeout=10)
            raise _start_error(event, "the container could not start")
        fire("capsa_container_poststart", records, config, store, pid=int(event.get("pid", 0)))
        if config.extra.get("healthcheck"):  # (its periodic checks)
            from capsa.container.healthtimer import spawn

            spawn(sess, records, config)
        if sock is None:
            return None
        from capsa.container import attach

        with sock:
            outcome = attach.session(sock, stdin=stdin, tty=config.tty, sig_proxy=sig_proxy,
                                     detach_keys=attach.DETACH_KEYS if detach_keys is None else detach_keys)
        from capsa.container.stopping import attached_exit

        return attached_exit(records, config, outcome)
    finally:
        if go >= 0:
            os.close(go)
        os.close(msg)


STARTING: dict[str, int] = {}  # container id -> pid: started in this process, not running yet (a pod's infra)


def start_background(sess: Session, records: ContainerRecords, config: ContainerConfig,
                     store: Store | None = None, early_pid: bool = False) -> Callable[[], None]:
    """:func:`start` without attaching, in two halves: the container is handed to its monitor
    now (it starts while the caller does other work: a pod's infra while its member is made),
    and the function returned waits until it started, raising as :func:`start` does. The caller
    must call it (once), whatever happens in between."""
    if UNREADABLE in config.extra:
        raise StorageError(f"container {config.name} cannot be started: {config.extra[UNREADABLE]}",
                           hint="remove it with 'capsa rm -f', or run 'capsa system check --repair'")
    with records.lock(config.id).exclusive():
        state = records.state(config.id)
        if state.status in ("running", "paused", "stopping"):
            raise UsageError(f"container {config.name} is already running", hint="see 'capsa ps'")
        if state.stop_requested or state.error or state.restart_count:
            state.stop_requested, state.error, state.restart_count = False, "", 0
            records.set_state(config.id, state)
        msg, go = _hand_to_monitor(sess, store, records, config, early_pid=early_pid)
    os.close(go)  # (nobody attaches: it may start as soon as it is created)
    events = _Events(msg)
    first: list[dict[str, Any]] = []

    def namespaces() -> int:
        """With ``early_pid``: wait until the container exists (its namespaces too, nothing
        runs yet); its pid, also in :data:`STARTING` (joined namespaces are found by it), or 0
        when it failed (``finish`` says why)."""
        while not first:
            try:
                event = events.next()
            except IsolationError:
                first.append({"event": "lost"})
                return 0
            if event.get("event") == "namespaces":
                STARTING[config.id] = int(event["pid"])
                return STARTING[config.id]
            if event.get("event") != "listening":
                first.append(event)
        return 0

    def finish() -> None:
        try:
            try:
                if first and first[0].get("event") == "lost":
                    raise IsolationError("the container monitor exited before starting the container",
                                         hint="see monitor.log in the container's runroot directory")
                event = first.pop() if first else events.next()
                while event.get("event") in ("listening", "namespaces"):
                    event = events.next()
            except IsolationError:
                records.update_state(config.id, status="exited", exit_code=125, pid=0,
                                     error="the container monitor exited before starting the container")
                raise
            if event.get("event") != "error":
                event = events.next()
            if event.get("event") == "error":
                from capsa.container.stopping import wait_monitor_gone

                wait_monitor_gone(records, config, timeout=10)
                raise _start_error(event, "the container could not start")
            fire("capsa_container_poststart", records, config, store, pid=int(event.get("pid", 0)))
            if config.extra.get("healthcheck"):  # (its periodic checks)
                from capsa.container.healthtimer import spawn

                spawn(sess, records, config)
        finally:
            STARTING.pop(config.id, None)
            os.close(msg)

    finish.namespaces = namespaces  # type: ignore[attr-defined]
    return finish


def _start_error(event: dict[str, Any], default: str) -> CapsaError:
    """The monitor's error event as an exception: a driver that could not be loaded is a
    DriverError (``run`` keeps its 125, as podman's for a missing OCI runtime); any other failure
    to create or start the container an IsolationError (``run`` reports it as 126/127)."""
    from capsa.errors import DriverError

    cls = DriverError if event.get("driver") else IsolationError
    return cls(event.get("message", default), hint=event.get("hint", ""), exit_code=event.get("code"))
