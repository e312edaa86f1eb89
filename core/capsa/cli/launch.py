"""``run`` and ``create``: from their flags to a recorded (and, for ``run``, started) container.

:func:`main` is the whole command without typer: ``main()`` sends ``run``/``create`` here
directly, since building the typer command costs more than the container (see
:mod:`capsa.cli.runflags`). The typer commands in :mod:`capsa.cli.containers` (``--help``,
completion) end up in :func:`launch` too.
"""
from __future__ import annotations

import os

from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.engine.session import Session

    from capsa.container.model import ContainerConfig


def main(command: str, args: list[str], before: int | None = None) -> int:
    """``capsa [GLOBAL FLAGS] run|create ARGS``: ``args`` are the global flags, then the words
    after the command; ``before`` counts the first (see :func:`capsa.cli.runflags.parse`)."""
    from capsa.cli import runflags
    from capsa.engine.session import Session, global_options

    options, image, cmd = runflags.parse(command, args, before=before)
    sess = Session(global_options(options))
    if options["noout"] and (command == "create" or options.get("detach")):  # (podman's: the container's own output stays)
        from capsa.cli.main import silence_stdout

        silence_stdout()
    if options["log_level"]:
        sess.set_log_level(options["log_level"].lower())
    try:
        return launch(sess, image, cmd, options, create_only=command == "create")
    finally:
        sess.close()


def launch(sess: Session, image: str, command: list[str], o: dict[str, Any], create_only: bool) -> int:
    """Create the container and, unless ``create_only``, start it (:mod:`capsa.engine.containers`):
    detached (its id is printed) or attached (the container's exit code is returned). A
    container that fails to start stays, exited (126), unless --rm."""
    from capsa.engine import containers

    keys = None
    if o.get("detach_keys") is not None:  # (checked before anything is made)
        from capsa.engine.attach import detach_keys

        keys = detach_keys(o["detach_keys"])
    in_pod = bool(o.get("pod") or o.get("pod_id_file"))
    if not create_only:  # first of all: the monitor loads its drivers while we make the container
        # (a pod's infra, when it starts first, takes it: it warms up the pod's network driver)
        if in_pod:
            from capsa.engine.podjoin import first_network

            containers.prepare_run(sess, first_network(sess, o))
        else:
            containers.prepare_run(sess, o["network"])
    detach = o.get("detach", True)
    config = container_config(image, command, o)
    new_pod = _join_pod(sess, config, o) if in_pod else None
    if any(mode.startswith("container:") for mode in config.namespaces.values()) and not in_pod:
        from capsa.engine.nsjoin import resolve_namespace_targets

        resolve_namespace_targets(sess, config)
    definition = None
    if not config.network.startswith("container:") or not config.pod:
        config.network, definition = containers.network_mode(sess, o["network"], starting=not create_only)
    if definition is not None:
        config.extra["network_definition"] = definition
    if new_pod is None:
        return _made(sess, image, command, o, create_only, config, definition, keys, detach)
    try:
        return _made(sess, image, command, o, create_only, config, definition, keys, detach)
    except BaseException:  # (--pod new:NAME: the pod goes with the container that could not be made)
        from capsa.engine import pods

        if not containers.exists(sess, config.id):
            pods.remove(sess, new_pod, force=True, timeout=0)
        raise


def _join_pod(sess: Session, config: ContainerConfig, o: dict[str, Any]) -> Any:
    """``--pod NAME|ID``, ``--pod new:NAME``, ``--pod-id-file``: ``config`` joins the pod
    (:func:`capsa.engine.pods.join`); returns the pod when this command created it, else None."""
    from capsa.engine import pods

    ref, new = o.get("pod") or "", None
    if o.get("pod_id_file"):
        if ref:
            raise UsageError("cannot specify both --pod and --pod-id-file", hint="give one of them")
        ref = pods.read_id_files([o["pod_id_file"]])[0]
    if ref.startswith("new:"):
        new = pods.new_from_container(sess, ref[len("new:"):], o)
        ref = new.id
    try:
        pods.join(sess, config, ref, o)
    except BaseException:
        if new is not None:
            pods.remove(sess, new, force=True, timeout=0)
        raise
    return new


def _made(sess: Session, image: str, command: list[str], o: dict[str, Any], create_only: bool, config: ContainerConfig,
          definition: Any, keys: Any, detach: bool) -> int:
    from capsa.engine import containers

    if o.get("publish") or o.get("publish_all"):
        _publish(sess, config, o)
    if any(o.get(k) for k in ("ip", "add_host", "dns", "dns_search", "dns_option", "network_alias")):
        containers.network_options(sess, config, o, definition)
    policy = o.get("pull") or "missing"
    if config.rootfs is None and policy in ("always", "newer"):
        pulled = _pull(sess, image, o, policy)
        if pulled is not None:
            config.image_name = pulled
    if o.get("volumes_from") or o.get("requires"):
        _other_containers(sess, config, list(o.get("volumes_from") or []), list(o.get("requires") or []))
    if o.get("replace") and config.name:
        _replace(sess, config.name)
    if create_only:
        config = _missing_pulled(sess, image, o, policy, config, lambda: containers.create(sess, config))
        _write_cidfile(config)
        _write(f"{config.id}\n")
        return 0
    attach = config.extra.get("attach")
    if attach:
        from capsa.container.flags import parse_attach

        parse_attach(attach)
    stdin = o["interactive"] or bool(attach and "stdin" in attach)
    with _only_streams(attach if not detach else None):
        code = _missing_pulled(sess, image, o, policy, config,
                               lambda: containers.run(sess, config, attach=not detach, stdin=stdin,
                                                      detach_keys=keys, sig_proxy=o.get("sig_proxy", True) is not False))
    if detach:
        _write(f"{config.id}\n")
        return 0
    if o.get("rmi"):
        _remove_image(sess, config, image)
    return code or 0  # None: detached from a tty session


def _other_containers(sess: Session, config: ContainerConfig, volumes_from: list[str], requires: list[str]) -> None:
    """``--volumes-from CTR[:ro|rw][,z]`` (its bind and volume mounts, unless a mount of this
    container has the destination; tmpfs are not shared, as podman) and ``--requires CTR,...``
    (recorded by id: they are started before this container, :func:`capsa.engine.containers.start_required`)."""
    from capsa.container.model import MountSpec
    from capsa.engine import containers
    from capsa.errors import CapsaError

    for item in volumes_from:
        ref, _, opts = item.partition(":")
        options = [o for o in opts.split(",") if o]
        bad = [o for o in options if o not in ("ro", "rw", "z")]
        if bad:
            raise UsageError(f'invalid option "{bad[0]}" specified - volumes from another container can only use z,ro,rw options',
                             hint="use --volumes-from CONTAINER[:ro|rw]")
        try:
            other = containers.find(sess, [ref])[0]
        except CapsaError as exc:
            raise UsageError(f'looking up container "{ref}" for volumes-from: {exc.message}', hint="see 'capsa ps -a'") from None
        taken = {m.destination for m in config.mounts}
        mode = [o for o in options if o in ("ro", "rw")][-1:]
        for m in other.mounts:
            if m.type in ("bind", "volume") and m.destination not in taken:
                kept = [x for x in m.options if x not in ("ro", "rw")] + (mode or [x for x in m.options if x in ("ro", "rw")])
                config.mounts.append(MountSpec(m.type, m.destination, m.source, kept))
    ids = []
    for item in requires:
        for ref in [r for r in item.split(",") if r]:
            try:
                ids.append(containers.find(sess, [ref])[0].id)
            except CapsaError as exc:
                raise UsageError(f'"{ref}" is not a valid container, cannot be used as a dependency: {exc.message}',
                                 hint="see 'capsa ps -a'") from None
    if ids:
        config.extra["requires"] = ids


def _replace(sess: Session, name: str) -> None:
    """``--replace``: the container of that name, if any, is removed first (stopped as ``rm -f``
    stops it, with its stop timeout), and its name printed, as podman does."""
    from capsa.engine import containers

    if containers.exists(sess, name):
        found = [c for c in containers.find(sess, [name]) if c.name == name]
        if found:
            containers.remove(sess, found, force=True, volumes=False, timeout=found[0].stop_timeout)
            _write(f"{name}\n")


def _write_cidfile(config: ContainerConfig) -> None:
    """``create --cidfile``: the id once the container exists (``run``'s monitor writes it at start)."""
    path = (config.extra.get("pidfiles") or {}).get("cidfile")
    if path:
        with open(path, "w") as fh:
            fh.write(config.id)


def _remove_image(sess: Session, config: ContainerConfig, image: str) -> None:
    """``--rmi`` (attached ``run`` only, as podman 4.3's: it does not imply ``--rm``, and ``-d``
    ignores it): the image as the user named it is removed after the container (untagged when
    it has other names); one a container still uses (this one too, without ``--rm``) is kept,
    with a warning, and ``run`` still exits with the container's code (podman's)."""
    from capsa.cli.output import warn
    from capsa.engine import images
    from capsa.errors import CapsaError

    if config.image_id:
        try:
            images.remove_images(sess, [image], force=False, all_images=False)
        except CapsaError as exc:
            warn(f"--rmi: {exc.message}")


class _only_streams:
    """``run -a STREAM...`` (attached): the container's streams not named do not reach ours
    (standard output or error pointed at /dev/null while it runs)."""

    def __init__(self, attach: list[str] | None) -> None:
        self.hidden = [fd for fd, name in ((1, "stdout"), (2, "stderr")) if attach and name not in attach]
        self.saved: list[tuple[int, int]] = []

    def __enter__(self) -> None:
        import sys

        for fd in self.hidden:
            (sys.stdout if fd == 1 else sys.stderr).flush()
            null = os.open(os.devnull, os.O_WRONLY)
            self.saved.append((fd, os.dup(fd)))
            os.dup2(null, fd)
            os.close(null)

    def __exit__(self, *exc: object) -> None:
        for fd, saved in self.saved:
            os.dup2(saved, fd)
            os.close(saved)


def _publish(sess: Session, config: ContainerConfig, o: dict[str, Any]) -> None:
    """``-p``/``-P`` (see :func:`capsa.engine.containers.publish`); on a network mode without a
    namespace of its own they are discarded with podman's warning."""
    import sys

    from capsa.engine.containers import publish

    warning = publish(sess, config, list(o.get("publish") or []), bool(o.get("publish_all")))
    if warning:
        sys.stderr.write(warning + "\n")


def _missing_pulled(sess: Session, image: str, o: dict[str, Any], policy: str, config: ContainerConfig, make: Any) -> Any:
    """``make()``; when it finds no image and ``--pull missing`` (the default) allows it, pull
    the image and ``make()`` again. Nothing registry-related is imported unless that happens."""
    from capsa.errors import AmbiguousImage, ImageNotFound

    try:
        return make()
    except ImageNotFound as exc:
        if policy != "missing" or config.rootfs is not None or isinstance(exc, AmbiguousImage):
            raise
    pulled = _pull(sess, image, o, policy, present=False)
    if pulled is not None:
        config.image_name = pulled
    return make()


def _pull(sess: Session, image: str, o: dict[str, Any], policy: str, present: bool | None = None) -> str | None:
    """Pull ``image`` as ``--pull policy`` says, its progress on standard error (podman's);
    the pulled image's id, or None when nothing was pulled."""
    import sys

    from capsa.cli.pull import interactive_terminal, progress_for
    from capsa.engine import pull as engine

    platform = engine.wanted_platform(o.get("platform"), o.get("os"), o.get("arch"), o.get("variant"))
    remote = engine.RemoteOptions(tls_verify=o.get("tls_verify"), authfile=o.get("authfile"))
    with progress_for(bool(o.get("quiet")), sys.stderr) as progress:
        return engine.pull_for_container(sess, image, policy, remote, platform, progress, present=present,
                                         interactive=interactive_terminal())


def _write(text: str) -> None:
    from capsa.cli.output import write

    write(text)


def container_config(image: str, command: list[str], o: dict[str, Any]) -> ContainerConfig:
    """Every flag checked and turned into a ContainerConfig (nothing is written here)."""
    from capsa.container import flags
    from capsa.container.model import ContainerConfig
    from capsa.fastpath.names import is_safe_name

    if o["name"] and not is_safe_name(o["name"]):  # podman's container names
        raise UsageError(f"names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument {o['name']!r}",
                         hint="choose another --name")
    if o["device"]:  # checked now, as podman's create does: a bad one makes no container
        from capsa.container.hostdevices import host_device

        for item in o["device"]:
            host_device(item)
    entrypoint = None
    if o["entrypoint"] is not None:
        entrypoint = [o["entrypoint"]]
        if o["entrypoint"].startswith("["):
            try:
                entrypoint = __import__("json").loads(o["entrypoint"])
            except ValueError:
                entrypoint = None
            if not (isinstance(entrypoint, list) and all(isinstance(x, str) for x in entrypoint)):
                raise UsageError(f"invalid --entrypoint {o['entrypoint']!r}", hint='use a command, or a JSON list like \'["/bin/sh", "-c"]\'')
    if o.get("pull", "missing") not in ("missing", "always", "never", "newer"):
        raise UsageError(f'unsupported pull policy "{o["pull"]}"', hint="--pull takes missing, always, never or newer")
    if o["rootfs"] and not os.path.isdir(image):
        raise UsageError(f"--rootfs {image}: no such directory", hint="give the path of an exploded root filesystem")
    mounts = [flags.parse_volume(v) for v in o["volume"] or []]
    mounts += [flags.parse_mount(m) for m in o["mount"] or []]
    mounts += [flags.parse_tmpfs(t) for t in o["tmpfs"] or []]
    policy, retries = flags.parse_restart(o["restart"] or "no")
    if policy != "no" and o.get("rm"):
        raise UsageError("the --rm option conflicts with --restart", hint="use one of them")
    flags.check_ulimits(o["ulimit"] or [])
    memory = flags.parse_size(o["memory"], "--memory") if o["memory"] else None
    memory = memory or None  # (--memory 0: no limit, as podman)
    if memory is not None and memory < 6 * 1024 * 1024:
        raise UsageError("minimum memory limit allowed is 6MB", hint="give --memory 6m or more")
    swap = None
    if o["memory_swap"]:
        swap = -1 if o["memory_swap"] == "-1" else flags.parse_size(o["memory_swap"], "--memory-swap")
        if memory is None:
            raise UsageError("you must provide a memory limit when providing a memory swap limit", hint="add --memory")
        if swap != -1 and swap < memory:
            raise UsageError("--memory-swap must be at least --memory", hint="memory-swap is memory plus swap")
    if o["cpus"] is not None and o["cpus"] <= 0:
        raise UsageError(f"invalid --cpus {o['cpus']}", hint="give a positive number of CPUs, e.g. --cpus 0.5")
    if o["stop_signal"]:
        from capsa.engine.containers import check_signal

        check_signal(o["stop_signal"])
    config = ContainerConfig(
        id=os.urandom(32).hex(), name=o["name"] or "", image_id=None, image_name=image,
        rootfs=os.path.abspath(image) if o["rootfs"] else None,
        entrypoint=entrypoint,
        cmd=list(command) or None, env=flags.parse_env(o["env"] or [], o["env_file"] or []), workdir=o["workdir"] or "",
        user=o["user"] or "", hostname=o["hostname"] or "", tty=o["tty"], interactive=o["interactive"], mounts=mounts,
        read_only=o["read_only"], cap_add=list(o["cap_add"] or []), cap_drop=list(o["cap_drop"] or []),
        privileged=o["privileged"], devices=list(o["device"] or []), memory=memory, memory_swap=swap, cpus=o["cpus"], cpu_shares=o["cpu_shares"],
        pids_limit=o["pids_limit"], ulimits=list(o["ulimit"] or []), labels=flags.parse_labels(o["label"] or []),
        stop_signal=o["stop_signal"] or "", stop_timeout=o["stop_timeout"], restart_policy=policy, restart_max=retries,
        init=o["init"], remove=bool(o.get("rm")), network=o["network"] or "", cgroup_parent=o["cgroup_parent"] or "",
    )
    flags.parse_security_opts(o["security_opt"] or [], config)
    if any(o.get(key) not in (None, False, []) for key in RESOURCE_FLAGS):
        flags.apply_resource_flags(o, config)
    _behaviour(config, o)
    return config


# the options of capsa.container.resflags (--cpu-period ... --health-cmd): checked only when given
RESOURCE_FLAGS = ("device_cgroup_rule", "device_read_bps", "device_read_iops", "device_write_bps", "device_write_iops",
                  "blkio_weight", "blkio_weight_device", "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime",
                  "cpuset_cpus", "cpuset_mems", "memory_reservation", "memory_swappiness", "kernel_memory",
                  "oom_kill_disable", "oom_score_adj", "shm_size", "sysctl", "pid", "ipc", "uts", "cgroupns",
                  "cgroups", "cgroup_conf", "group_add", "health_cmd", "health_interval", "health_retries", "health_start_period",
                  "health_timeout", "health_on_failure", "no_healthcheck")


def _behaviour(config: ContainerConfig, o: dict[str, Any]) -> None:
    """The run/create flags of issue 15 (podman-run(1)) that shape the container's record."""
    from capsa.container import flags
    from capsa.container.model import MountSpec

    extra = config.extra
    flags.check_choices(o, extra)
    if o.get("attach"):  # (``create`` records them unchecked, as podman's)
        extra["attach"] = [a.lower() for a in o["attach"]]
    for item in o.get("annotation") or []:
        key, sep, value = item.partition("=")
        if not key or not sep:
            raise UsageError(f"annotation {item!r} must be KEY=VALUE", hint="use --annotation KEY=VALUE")
        config.annotations[key] = value
    if o.get("label_file"):
        config.labels = {**flags.parse_labels(flags.read_label_files(o["label_file"])), **config.labels}
    host = flags.host_env(o.get("http_proxy", True) is not False, bool(o.get("env_host")))
    if host:
        given = {item.partition("=")[0] for item in config.env}
        config.env = [item for item in host if item.partition("=")[0] not in given] + config.env
    if o.get("env_merge"):
        extra["env_merge"] = list(o["env_merge"])
    if o.get("unsetenv"):
        extra["unsetenv"] = list(o["unsetenv"])
    if o.get("unsetenv_all"):
        extra["unsetenv_all"] = True
    if o.get("umask") is not None:
        extra["umask"] = flags.parse_umask(o["umask"])
    if o.get("tz"):
        extra["tz"] = o["tz"]
        config.mounts.append(MountSpec("bind", "/etc/localtime", flags.timezone_file(o["tz"]), ["ro"]))
    if o.get("read_only_tmpfs") is False:
        extra["read_only_tmpfs"] = False
    if o.get("no_hosts"):
        extra["no_hosts"] = True
    if o.get("init_path"):
        if not os.path.isfile(o["init_path"]):
            raise UsageError(f"container-init binary not found on the host: stat {o['init_path']}: no such file or directory",
                             hint="give --init-path the path of catatonit (or another init)")
        extra["init_path"] = os.path.abspath(o["init_path"])
    if o.get("expose"):
        extra["expose"] = flags.parse_expose(o["expose"])
    if o.get("chrootdirs"):
        extra["chrootdirs"] = [os.path.normpath("/" + d) for item in o["chrootdirs"] for d in item.split(",") if d]
    if o.get("personality"):
        extra["personality"] = o["personality"]
    if o.get("timeout"):
        if o["timeout"] < 0:
            raise UsageError(f"invalid --timeout {o['timeout']}", hint="give a number of seconds (0: no limit)")
        extra["timeout"] = o["timeout"]
    if o.get("passwd") is False:
        extra["passwd"] = False
    if o.get("passwd_entry"):
        extra["passwd_entry"] = o["passwd_entry"]
    if o.get("hostuser"):
        extra["hostuser"] = list(o["hostuser"])
    pidfiles = {}
    for key in ("cidfile", "pidfile", "conmon_pidfile"):
        if o.get(key):
            path = os.path.abspath(o[key])
            if key == "cidfile" and os.path.exists(path):
                raise UsageError(f"container id file exists. Ensure another container is not using it or delete {path}",
                                 hint="remove the file, or give another --cidfile")
            if not os.path.isdir(os.path.dirname(path)):
                raise UsageError(f"--{key.replace('_', '-')} {o[key]}: no such directory", hint="create its directory first")
            pidfiles[key] = path
    if pidfiles:
        extra["pidfiles"] = pidfiles
