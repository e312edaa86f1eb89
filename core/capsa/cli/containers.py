"""Container commands: ``create``, ``run``, ``start``, ``stop``, ``kill``, ``rm``, ``wait``, the
``container`` group (``exists``, ``prune``, ``inspect``) and their podman aliases."""
from __future__ import annotations

import inspect as pyinspect
import os
import sys
from typing import Annotated, Any, Optional

import typer

from capsa.cli import output
from capsa.cli.output import FormatOpt
from capsa.cli.state import Session, open_store, session
from capsa.errors import CapsaError, UsageError

Multi = Optional[list[str]]
ContainersArg = Annotated[Optional[list[str]], typer.Argument(help="Containers by name or id", show_default=False)]
NOHELP_H = {"help_option_names": ["--help"], "allow_interspersed_args": False}


def records_of(sess: Session) -> Any:
    from capsa.container.records import ContainerRecords

    cfg = sess.config
    return ContainerRecords(cfg.root, cfg.runroot)


def _config(sess: Session, image: str, command: list[str], o: dict[str, Any]) -> Any:
    """Every flag checked and turned into a ContainerConfig (nothing is written here)."""
    from capsa.container import flags
    from capsa.container.model import ContainerConfig

    import re

    if o["name"] and not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", o["name"]):
        raise UsageError(f"names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument {o['name']!r}",
                         hint="choose another --name")
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
        from capsa.container.lifecycle import signal_number

        signal_number(o["stop_signal"])
    config = ContainerConfig(
        id=os.urandom(32).hex(), name=o["name"] or "", image_id=None, image_name=image,
        rootfs=os.path.abspath(image) if o["rootfs"] else None,
        entrypoint=entrypoint,
        cmd=list(command) or None, env=flags.parse_env(o["env"] or [], o["env_file"] or []), workdir=o["workdir"] or "",
        user=o["user"] or "", hostname=o["hostname"] or "", tty=o["tty"], interactive=o["interactive"], mounts=mounts,
        read_only=o["read_only"], cap_add=list(o["cap_add"] or []), cap_drop=list(o["cap_drop"] or []),
        privileged=o["privileged"], memory=memory, memory_swap=swap, cpus=o["cpus"], cpu_shares=o["cpu_shares"],
        pids_limit=o["pids_limit"], ulimits=list(o["ulimit"] or []), labels=flags.parse_labels(o["label"] or []),
        stop_signal=o["stop_signal"] or "", stop_timeout=o["stop_timeout"], restart_policy=policy, restart_max=retries,
        init=o["init"], remove=bool(o.get("rm")), network=o["network"] or "none", cgroup_parent=o["cgroup_parent"] or "",
    )
    flags.parse_security_opts(o["security_opt"] or [], config)
    if config.network not in ("none", "host", "private"):
        raise UsageError(f"network mode {config.network!r} is not available yet", hint="use --network none or host")
    return config


def run(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(help="Image (or, with --rootfs, a root filesystem directory)")],
    command: Annotated[Optional[list[str]], typer.Argument(help="Command and arguments")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Assign a name to the container")] = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Run the container in the background and print its id")] = False,
    rm: Annotated[bool, typer.Option("--rm", help="Remove the container when it exits")] = False,
    interactive: Annotated[bool, typer.Option("--interactive", "-i", help="Keep STDIN open")] = False,
    tty: Annotated[bool, typer.Option("--tty", "-t", help="Allocate a pseudo-TTY")] = False,
    env: Annotated[Multi, typer.Option("--env", "-e", help="Set environment variables")] = None,
    env_file: Annotated[Multi, typer.Option("--env-file", help="Read in a file of environment variables")] = None,
    workdir: Annotated[Optional[str], typer.Option("--workdir", "-w", help="Working directory inside the container")] = None,
    user: Annotated[Optional[str], typer.Option("--user", "-u", help="Username or UID (format: <name|uid>[:<group|gid>])")] = None,
    entrypoint: Annotated[Optional[str], typer.Option("--entrypoint", help="Overwrite the default ENTRYPOINT of the image")] = None,
    hostname: Annotated[Optional[str], typer.Option("--hostname", "-h", help="Set container hostname")] = None,
    volume: Annotated[Multi, typer.Option("--volume", "-v", help="Bind mount a volume: SRC:DST[:ro]")] = None,
    mount: Annotated[Multi, typer.Option("--mount", help="Attach a filesystem mount: type=bind|volume|tmpfs,...")] = None,
    tmpfs: Annotated[Multi, typer.Option("--tmpfs", help="Mount a temporary filesystem: DST[:OPTS]")] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="Make the container's root filesystem read-only")] = False,
    memory: Annotated[Optional[str], typer.Option("--memory", "-m", help="Memory limit (e.g. 512m)")] = None,
    memory_swap: Annotated[Optional[str], typer.Option("--memory-swap", help="Memory plus swap limit; -1 unlimited")] = None,
    cpus: Annotated[Optional[float], typer.Option("--cpus", help="Number of CPUs")] = None,
    cpu_shares: Annotated[Optional[int], typer.Option("--cpu-shares", "-c", help="CPU shares (relative weight)")] = None,
    pids_limit: Annotated[int, typer.Option("--pids-limit", help="Tune container pids limit (-1 for unlimited)")] = 1024,
    ulimit: Annotated[Multi, typer.Option("--ulimit", help="Ulimit options: NAME=SOFT[:HARD]")] = None,
    label: Annotated[Multi, typer.Option("--label", "-l", help="Set metadata on the container")] = None,
    stop_signal: Annotated[Optional[str], typer.Option("--stop-signal", help="Signal to stop the container")] = None,
    stop_timeout: Annotated[int, typer.Option("--stop-timeout", help="Seconds to wait before forcibly stopping")] = 10,
    restart: Annotated[Optional[str], typer.Option("--restart", help="Restart policy: no, on-failure[:N], always")] = None,
    cap_add: Annotated[Multi, typer.Option("--cap-add", help="Add capabilities")] = None,
    cap_drop: Annotated[Multi, typer.Option("--cap-drop", help="Drop capabilities")] = None,
    privileged: Annotated[bool, typer.Option("--privileged", help="Give extended privileges to the container")] = False,
    security_opt: Annotated[Multi, typer.Option("--security-opt", help="seccomp=unconfined|PROFILE.json, no-new-privileges")] = None,
    init: Annotated[bool, typer.Option("--init", help="Run an init inside the container that forwards signals and reaps processes")] = False,
    rootfs: Annotated[bool, typer.Option("--rootfs", help="The first argument is an exploded root filesystem, not an image")] = False,
    network: Annotated[Optional[str], typer.Option("--network", "--net", help="Network mode: none or host")] = None,
    cgroup_parent: Annotated[Optional[str], typer.Option("--cgroup-parent", help="Cgroup (under capsa's own) for the container")] = None,
) -> None:
    """Run a command in a new container."""
    _launch(dict(locals()), create_only=False)


def _launch(o: dict[str, Any], create_only: bool) -> None:
    from capsa.container import lifecycle

    ctx, detach, interactive = o["ctx"], o.get("detach", True), o["interactive"]
    sess = session(ctx)
    config = _config(sess, o["image"], list(o["command"] or []), o)
    store = open_store(sess)
    records = records_of(sess)
    config = lifecycle.create(store, records, config)
    if create_only:
        output.write(f"{config.id}\n")
        return
    try:
        code = lifecycle.start(sess, store, records, config, attach_output=not detach, stdin=interactive)
    except CapsaError:
        _discard(sess, store, records, config)
        raise
    if detach:
        output.write(f"{config.id}\n")
        return
    if code is None:
        return  # detached from a tty session
    if code:
        raise typer.Exit(code)


def _discard(sess: Session, store: Any, records: Any, config: Any) -> None:
    """Undo a container whose start failed (``run`` leaves nothing behind); a failure to undo it
    is reported beside the start error, not instead of it."""
    from capsa.container import lifecycle

    try:
        lifecycle.remove(sess, store, records, config, force=True, timeout=0)
    except CapsaError as exc:
        print(f"Warning: removing the container that failed to start: {exc.message}", file=sys.stderr)


def _create_from_run() -> Any:
    """``create`` takes every ``run`` flag but --detach, and only records the container."""
    signature = pyinspect.signature(run, eval_str=True)
    params = [p for n, p in signature.parameters.items() if n != "detach"]

    def create(**kwargs: Any) -> None:
        """Create but do not start a container."""
        _launch(dict(kwargs, detach=True), create_only=True)

    create.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    create.__annotations__ = {k: v for k, v in run.__annotations__.items() if k != "detach"}
    return create


def _targets(sess: Session, refs: list[str] | None, all_: bool, latest: bool = False) -> list[Any]:
    records = records_of(sess)
    if all_:
        return records.all()
    if latest:
        found = sorted(records.all(), key=lambda c: c.created)
        return found[-1:]
    if not refs:
        raise UsageError("give at least one container name or id", hint="or use --all")
    return [records.find(ref) for ref in refs]


def start(
    ctx: typer.Context,
    refs: ContainersArg = None,
    attach: Annotated[bool, typer.Option("--attach", "-a", help="Attach the container's output")] = False,
    interactive: Annotated[bool, typer.Option("--interactive", "-i", help="Attach the container's STDIN")] = False,
) -> None:
    """Start one or more containers."""
    from capsa.container import lifecycle

    sess = session(ctx)
    store, records = open_store(sess), records_of(sess)
    targets = _targets(sess, refs, False)
    if attach and len(targets) > 1:
        raise UsageError("you cannot attach to more than one container", hint="start them one at a time with -a")
    for config in targets:
        state = records.state(config.id)
        if state.status in lifecycle.ACTIVE and lifecycle._alive(state.monitor_pid):
            output.write(f"{(refs or [config.name])[0]}\n")
            continue
        code = lifecycle.start(sess, store, records, config, attach_output=attach, stdin=interactive)
        if attach:
            if code:
                raise typer.Exit(code)
            return
        output.write(f"{config.name if refs is None else refs[targets.index(config)]}\n")


def stop(
    ctx: typer.Context,
    refs: ContainersArg = None,
    time_: Annotated[Optional[int], typer.Option("--time", "-t", help="Seconds to wait before killing the container")] = None,
    all: Annotated[bool, typer.Option("--all", "-a", help="Stop all running containers")] = False,
) -> None:
    """Stop one or more containers: the stop signal, then SIGKILL after the timeout."""
    from capsa.container import lifecycle

    sess = session(ctx)
    records = records_of(sess)
    targets = _targets(sess, refs, all)
    names = []
    for config in targets:
        signal_name = config.stop_signal or _image_stop_signal(sess, config) or "SIGTERM"
        timeout = config.stop_timeout if time_ is None else time_
        lifecycle.stop(sess, records, config, timeout, signal_name)
        names.append(config.id if all else refs[targets.index(config)] if refs else config.name)
    output.write("".join(f"{n}\n" for n in names))


def _image_stop_signal(sess: Session, config: Any) -> str:
    if not config.image_id:
        return ""
    store = open_store(sess)
    with store.reading():
        try:
            return (store.config_of(store.find_image(config.image_id)).get("config") or {}).get("StopSignal", "")
        except CapsaError:
            return ""


def kill(
    ctx: typer.Context,
    refs: ContainersArg = None,
    signal: Annotated[str, typer.Option("--signal", "-s", help="Signal to send to the container")] = "SIGKILL",
    all: Annotated[bool, typer.Option("--all", "-a", help="Signal all running containers")] = False,
) -> None:
    """Kill one or more running containers with a signal."""
    from capsa.container import lifecycle

    sess = session(ctx)
    records = records_of(sess)
    lifecycle.signal_number(signal)
    targets = [c for c in _targets(sess, refs, all) if not all or records.state(c.id).status == "running"]
    for config in targets:
        lifecycle.kill(sess, records, config, signal)
    output.write("".join(f"{refs[i] if refs else c.id}\n" for i, c in enumerate(targets)))


def rm(
    ctx: typer.Context,
    refs: ContainersArg = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Stop and remove running containers")] = False,
    all: Annotated[bool, typer.Option("--all", "-a", help="Remove all containers")] = False,
    volumes: Annotated[bool, typer.Option("--volumes", "-v", help="Remove anonymous volumes of the containers")] = False,
    time_: Annotated[Optional[int], typer.Option("--time", "-t", help="Seconds to wait before killing (with -f)")] = None,
) -> None:
    """Remove one or more containers."""
    from capsa.container import lifecycle

    sess = session(ctx)
    store, records = open_store(sess), records_of(sess)
    removed, missing = [], 0
    if all:
        targets = records.all()
    else:
        targets = []
        for ref in refs or []:
            try:
                targets.append(records.find(ref))
            except CapsaError as exc:
                if force:
                    continue
                print(f"Error: {exc.message}", file=sys.stderr)
                missing += 1
        if not refs:
            raise UsageError("give at least one container name or id", hint="or use --all")
    for config in targets:
        lifecycle.remove(sess, store, records, config, force, 0 if time_ is None else time_)
        if volumes:
            lifecycle.remove_anonymous_volumes(sess.config.root, config)
        removed.append(config.id)
    output.write("".join(f"{i}\n" for i in removed))
    if missing:
        raise typer.Exit(1)


def wait(
    ctx: typer.Context,
    refs: ContainersArg = None,
    condition: Annotated[str, typer.Option("--condition", help="Condition to wait on: stopped or exited")] = "stopped",
) -> None:
    """Block until one or more containers stop, then print their exit codes."""
    from capsa.container import lifecycle

    if condition not in ("stopped", "exited"):
        raise UsageError(f"invalid condition {condition!r}", hint="use stopped or exited")
    sess = session(ctx)
    records = records_of(sess)
    codes = []
    for config in _targets(sess, refs, False):
        state = lifecycle.wait_exited(records, config)
        codes.append(state.exit_code if state is not None else -1)
    output.write("".join(f"{c}\n" for c in codes))


def exists(ctx: typer.Context, ref: Annotated[str, typer.Argument(help="Container name or id")]) -> None:
    """Check if a container exists: exit 0 if it does, 1 if not."""
    try:
        records_of(session(ctx)).find(ref)
    except CapsaError:
        raise typer.Exit(1) from None


def prune(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not prompt for confirmation")] = False,
) -> None:
    """Remove all stopped containers."""
    from capsa.container import lifecycle

    if not force:
        sys.stderr.write("WARNING! This will remove all non running containers.\nAre you sure you want to continue? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return
    sess = session(ctx)
    store, records = open_store(sess), records_of(sess)
    gone = []
    for config in records.all():
        if not lifecycle._alive(records.state(config.id).monitor_pid):  # not running
            lifecycle.remove(sess, store, records, config, force=False)
            gone.append(config.id)
    output.write("".join(f"{i}\n" for i in gone))


def container_inspect(ctx: typer.Context, refs: Annotated[list[str], typer.Argument(help="Containers")],
                      format: FormatOpt = None) -> None:
    """Display the configuration of one or more containers."""
    from capsa.cli.inspect import inspect_objects

    inspect_objects(ctx, refs, "container", format)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Manage containers", no_args_is_help=True)
    create = _create_from_run()
    for target in (app, group):
        target.command("run", context_settings=NOHELP_H)(run)
        target.command("create", context_settings=NOHELP_H)(create)
        for name, fn in (("start", start), ("stop", stop), ("kill", kill), ("rm", rm), ("wait", wait)):
            target.command(name)(fn)
    for name, fn in (("exists", exists), ("prune", prune), ("inspect", container_inspect)):
        group.command(name)(fn)
    app.add_typer(group, name="container")
