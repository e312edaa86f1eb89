"""Container commands: ``create``, ``run``, ``start``, ``stop``, ``kill``, ``rm``, ``wait``, the
``container`` group (``exists``, ``prune``, ``inspect``) and their podman aliases."""
from __future__ import annotations

import sys

from capsa.cli import output
from capsa.cli.context import Exit, session
from capsa.engine import containers as engine
from capsa.errors import EXIT_ENGINE, CapsaError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    from typing import Any

    import typer

    from capsa.cli.options import Annotated, ContainersArg, FormatOpt, Optional

NOHELP_H = {"help_option_names": ["--help"], "allow_interspersed_args": False}


RUN_DOC = """Run a command in a new container.

Examples:
  capsa run busybox ls -alF /etc
  capsa run --network=host busybox wget -qO- http://localhost:8080
  capsa run --volume /var/hostdir:/var/ctrdir -i -t busybox /bin/sh
"""
CREATE_DOC = """Create but do not start a container.

Examples:
  capsa create busybox ls
  capsa create --annotation HELLO=WORLD busybox ls
  capsa create -t -i --name myctr busybox ls
"""


def _launch_command(name: str) -> Any:
    """The typer command for ``run`` or ``create``, built from :data:`capsa.cli.runflags.FLAGS`
    (the flags' one declaration); ``main()`` usually runs these commands without typer."""
    import inspect as pyinspect

    from capsa.cli import launch, runflags

    kinds = {runflags.BOOL: bool, runflags.STR: Optional[str], runflags.MULTI: Optional[list[str]], runflags.INT: Optional[int],
             runflags.FLOAT: Optional[float]}
    P = pyinspect.Parameter
    params = [
        P("ctx", P.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        P("image", P.POSITIONAL_OR_KEYWORD, annotation=Annotated[str, typer.Argument(
            help="Image (or, with --rootfs, a root filesystem directory)")]),
        P("command", P.POSITIONAL_OR_KEYWORD, default=None, annotation=Annotated[Optional[list[str]], typer.Argument(
            help="Command and arguments")]),
    ]
    for param, names, kind, default, help_ in runflags.FLAGS:
        if name == "create" and param in runflags.CREATE_ONLY_SKIPS:
            continue
        typ = int if kind == runflags.INT and default is not None else kinds[kind]
        params.append(P(param, P.POSITIONAL_OR_KEYWORD, default=default,
                        annotation=Annotated[typ, typer.Option(*names, help=help_)]))

    def command(ctx: typer.Context, image: str, command: Optional[list[str]] = None, **options: Any) -> None:
        code = launch.launch(session(ctx), image, list(command or []), options, create_only=name == "create")
        if code:
            raise Exit(code)

    command.__doc__ = CREATE_DOC if name == "create" else RUN_DOC
    command.__name__ = name
    command.__signature__ = pyinspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command


def _select(ctx: typer.Context, refs: list[str] | None, **how: Any) -> list[tuple[Any, str]]:
    """The targets of a command and the label of each (see :func:`capsa.engine.selecting.select`)."""
    from capsa.engine.selecting import select

    return select(session(ctx), list(refs or []), **how)


def _go_on(failures: list[str], code: int = EXIT_ENGINE) -> None:
    """After acting on every target (as podman): one ``Error:`` line per failure, then exit."""
    for message in failures:
        print(f"Error: {message}", file=sys.stderr)
    if failures:
        raise Exit(code)


def start(
    ctx: typer.Context,
    refs: ContainersArg = None,
    attach: Annotated[bool, typer.Option("--attach", "-a", help="Attach the container's output")] = False,
    interactive: Annotated[bool, typer.Option("--interactive", "-i", help="Attach the container's STDIN")] = False,
    detach_keys: Annotated[Optional[str], typer.Option("--detach-keys", help="Select the key sequence for detaching a container (default ctrl-p,ctrl-q)")] = None,
    sig_proxy: Annotated[bool, typer.Option("--sig-proxy/--no-sig-proxy", help="Proxy received signals to the process (with --attach)")] = True,
    all: Annotated[bool, typer.Option("--all", help="Start all containers regardless of their state or configuration")] = False,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="Filter what containers start (ps's filters)")] = None,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
) -> None:
    """Start one or more containers.

    Examples:
      capsa start 860a4b231279 5421ab43b45
      capsa start --interactive --attach ctrID
    """
    keys = None
    if detach_keys is not None:
        from capsa.engine.attach import detach_keys as parse_keys

        keys = parse_keys(detach_keys)
    if all and refs:
        raise UsageError("either start all containers or the container(s) provided in the arguments",
                         hint="leave out the names, or --all")
    if not (refs or all or latest or filter):
        raise UsageError("start requires at least one argument", hint="or use --all, --filter or --latest")
    if attach and (all or filter):
        raise UsageError("you cannot start and attach multiple containers at once", hint="start them one at a time with -a")
    sess = session(ctx)
    targets = _select(ctx, refs, all_=all, latest_=latest, filters=list(filter or []))
    if attach and len(targets) > 1:
        raise UsageError("you cannot start and attach multiple containers at once", hint="start them one at a time with -a")
    failures = []
    for config, label in targets:
        if engine.is_running(sess, config):
            if attach:  # podman-start(1): a running container is simply attached to
                from capsa.engine.attach import attach as attach_running

                code = attach_running(sess, config, stdin=interactive, keys=keys, sig_proxy=sig_proxy)
                if code:
                    raise Exit(code)
                return
            continue  # (as podman: nothing to do, nothing printed)
        if attach:
            code = engine.start(sess, config, attach=attach, stdin=interactive, detach_keys=keys, sig_proxy=sig_proxy)
            if code:
                raise Exit(code)
            return
        try:
            engine.start(sess, config, detach_keys=keys, sig_proxy=sig_proxy)
        except CapsaError as exc:
            if not (all or filter):
                raise
            failures.append(f"unable to start container {config.id!r}: {exc.message}")
            continue
        output.write(f"{label}\n")
    _go_on(failures)


def stop(
    ctx: typer.Context,
    refs: ContainersArg = None,
    time_: Annotated[Optional[int], typer.Option("--time", "-t", "--timeout", help="Seconds to wait for stop before killing the container")] = None,
    all: Annotated[bool, typer.Option("--all", "-a", help="Stop all running containers")] = False,
    cidfile: Annotated[Optional[list[str]], typer.Option("--cidfile", help="Read the container ID from the file")] = None,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="Filter what containers stop (ps's filters)")] = None,
    ignore: Annotated[bool, typer.Option("--ignore", "-i", help="Ignore errors when a specified container is missing")] = False,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
) -> None:
    """Stop one or more containers: the stop signal, then SIGKILL after the timeout.

    Examples:
      capsa stop ctrID
      capsa stop --all
      capsa stop --time 2 mywebserver 6e534f14da9d
    """
    sess = session(ctx)
    targets = _select(ctx, refs, all_=all, latest_=latest, filters=list(filter or []), cidfiles=list(cidfile or []),
                      ignore=ignore)
    names = []
    for config, label in targets:
        if (all or filter) and engine.is_paused(sess, config):
            continue  # (as podman's stop --all: a paused container is not stopped)
        warning = engine.stop(sess, config, time_)
        if warning:
            output.go_warning(warning)
        names.append(label)
    output.write("".join(f"{n}\n" for n in names))


def kill(
    ctx: typer.Context,
    refs: ContainersArg = None,
    signal: Annotated[str, typer.Option("--signal", "-s", help="Signal to send to the container")] = "SIGKILL",
    all: Annotated[bool, typer.Option("--all", "-a", help="Signal all running containers")] = False,
    cidfile: Annotated[Optional[list[str]], typer.Option("--cidfile", help="Read the container ID from the file")] = None,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
) -> None:
    """Kill one or more running containers with a signal."""
    sess = session(ctx)
    engine.check_signal(signal)
    targets = _select(ctx, refs, all_=all, latest_=latest, cidfiles=list(cidfile or []))
    if all:
        running = {c.id for c in engine.running_only(sess, [c for c, _ in targets])}
        targets = [(c, label) for c, label in targets if c.id in running]
    engine.kill(sess, [c for c, _ in targets], signal)
    output.write("".join(f"{label}\n" for _, label in targets))


def rm(
    ctx: typer.Context,
    refs: ContainersArg = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Stop and remove running containers")] = False,
    all: Annotated[bool, typer.Option("--all", "-a", help="Remove all containers")] = False,
    volumes: Annotated[bool, typer.Option("--volumes", "-v", help="Remove anonymous volumes of the containers")] = False,
    time_: Annotated[Optional[int], typer.Option("--time", "-t", help="Seconds to wait before killing (with -f)")] = None,
    cidfile: Annotated[Optional[list[str]], typer.Option("--cidfile", help="Read the container ID from the file")] = None,
    depend: Annotated[bool, typer.Option("--depend", help="Remove the containers and the containers that depend on them")] = False,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", help="Filter what containers are removed (ps's filters)")] = None,
    ignore: Annotated[bool, typer.Option("--ignore", "-i", help="Ignore errors when a specified container is missing")] = False,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
) -> None:
    """Remove one or more containers.

    Examples:
      capsa rm ctrID
      capsa rm mywebserver myflaskserver 860a4b23
      capsa rm --force --all
      capsa rm -f c684f0d469f2
    """
    sess = session(ctx)
    targets = _select(ctx, refs, all_=all, latest_=latest, filters=list(filter or []), cidfiles=list(cidfile or []),
                      ignore=ignore or force, not_found_exit=1)  # (podman-rm(1): 1 for no such container)
    if all:  # (a pod's infra container goes with its pod: capsa pod rm)
        kept = {c.id for c in engine.without_pod_infras(sess, [c for c, _ in targets])}
        targets = [(c, label) for c, label in targets if c.id in kept]
    if depend:  # (podman prints full ids then)
        from capsa.engine.selecting import with_dependents

        targets = [(c, c.id) for c, _ in with_dependents(sess, targets)]
    labels = {c.id: label for c, label in targets}
    removed = engine.remove(sess, [c for c, _ in targets], force, volumes, 0 if time_ is None else time_)
    output.write("".join(f"{labels.get(i, i)}\n" for i in removed))


WAIT_CONDITIONS = ("configured", "created", "exited", "paused", "removing", "running", "stopped", "stopping",
                   "unknown")  # (podman 4.3's container states)


def wait(
    ctx: typer.Context,
    refs: ContainersArg = None,
    condition: Annotated[Optional[list[str]], typer.Option("--condition", help="Condition to wait on (default stopped): created, exited, paused, running, stopped, stopping, ...")] = None,
    interval: Annotated[str, typer.Option("--interval", "-i", help="Time interval to wait before polling for completion (a duration; plain numbers are milliseconds)")] = "250ms",
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
) -> None:
    """Block until one or more containers reach a condition (stopped), then print their exit codes
    (-1 for one that has not exited)."""
    conditions = list(condition or ["stopped"])
    for c in conditions:
        if c not in WAIT_CONDITIONS:
            raise UsageError(f"unknown container state: {c}: invalid argument", hint=f"use one of {', '.join(WAIT_CONDITIONS)}")
    seconds = engine.poll_interval(interval)
    if not refs and not latest:
        raise UsageError('"capsa wait" requires a name, id, or the "--latest" flag', hint="capsa wait CONTAINER")
    sess = session(ctx)
    targets = _select(ctx, refs, latest_=latest)
    codes = [engine.wait(sess, config, conditions, seconds) for config, _ in targets]
    output.write("".join(f"{c}\n" for c in codes))


def port(
    ctx: typer.Context,
    args: Annotated[Optional[list[str]], typer.Argument(help="CONTAINER, then a PRIVATE_PORT or PORT/PROTO (with --all or --latest: just the port)")] = None,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Display port information for all containers")] = False,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
) -> None:
    """List port mappings or a specific mapping for the container."""
    words = list(args or [])
    if all_ and latest:
        raise UsageError("--all and --latest cannot be used together", hint="use one of them")
    refs = None if (all_ or latest) else words[:1]
    private = words[0] if (all_ or latest) and words else words[1] if len(words) > 1 else ""
    if not (all_ or latest) and not refs:
        raise UsageError("you must supply a running container name or id", hint="capsa port CONTAINER [PRIVATE_PORT[/PROTO]]")
    if len(words) > (1 if all_ or latest else 2):
        raise UsageError("too many arguments", hint="capsa port CONTAINER [PRIVATE_PORT[/PROTO]]")
    if private:
        number, _, proto = private.partition("/")
        if not number.isdigit() or proto not in ("", "tcp", "udp"):
            raise UsageError(f"invalid port {private!r}", hint="give PRIVATE_PORT[/tcp|/udp], e.g. 80/tcp")
    sess = session(ctx)
    configs = engine.find(sess, refs, all_=all_, latest=latest)
    lines = []
    for config in configs:
        found = engine.port_lines(config, private)
        if private and not found and not all_:
            raise UsageError(f'failed to find published port "{private}"', hint="capsa port CONTAINER lists them")
        lines += [f"{config.id[:12]}\t{line}" if all_ else line for line in found]
    output.write("".join(f"{line}\n" for line in lines))


def exists(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Container name or id")],
    external: Annotated[bool, typer.Option("--external", help="Check for external containers as well: a build's RUN containers")] = False,
) -> None:
    """Check if a container exists: exit 0 if it does, 1 if not."""
    if not engine.exists(session(ctx), ref, external):
        raise Exit(1)


def prune(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not prompt for confirmation")] = False,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", help="Provide filter values (label=, label!=, until=)")] = None,
) -> None:
    """Remove all stopped containers."""
    from capsa.engine import container_ops
    from capsa.engine.selecting import prune_filter

    keep = prune_filter(list(filter or []))  # (bad filters: before the prompt)
    if not force:
        sys.stderr.write("WARNING! This will remove all non running containers.\nAre you sure you want to continue? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return
    gone = container_ops.prune(session(ctx), keep)
    output.write("".join(f"{i}\n" for i in gone))


def container_inspect(
    ctx: typer.Context,
    refs: Annotated[Optional[list[str]], typer.Argument(help="Containers")] = None,
    format: FormatOpt = None,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
    size: Annotated[bool, typer.Option("--size", "-s", help="Display the total file size (SizeRw, SizeRootFs)")] = False,
) -> None:
    """Display the configuration of one or more containers."""
    from capsa.cli.inspect import inspect_objects

    inspect_objects(ctx, list(refs or []), "container", format, latest, size)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Manage containers", no_args_is_help=True)
    run, create = _launch_command("run"), _launch_command("create")
    for target in (app, group):
        target.command("run", context_settings=NOHELP_H)(run)
        target.command("create", context_settings=NOHELP_H)(create)
        for name, fn in (("start", start), ("stop", stop), ("kill", kill), ("rm", rm), ("wait", wait),
                         ("port", port)):
            target.command(name)(fn)
    for name, fn in (("exists", exists), ("prune", prune), ("inspect", container_inspect)):
        group.command(name)(fn)
    app.add_typer(group, name="container")
