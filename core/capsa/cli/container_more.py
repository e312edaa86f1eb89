"""Container commands ``rename``, ``restart``, ``mount`` and ``unmount`` (``umount``), also under
``capsa container``."""
from __future__ import annotations

from capsa.cli import output
from capsa.cli.context import Exit, cidfile_ids, session
from capsa.engine import container_ops as engine
from capsa.errors import EXIT_ENGINE, CapsaError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    from typing import Any

    import typer

    from capsa.cli.options import Annotated, ContainersArg, Optional


def rename(
    ctx: typer.Context,
    args: Annotated[Optional[list[str]], typer.Argument(help="CONTAINER, then its NEWNAME")] = None,
) -> None:
    """Rename an existing container."""
    words = list(args or [])
    if len(words) != 2:
        raise UsageError(f"accepts 2 arg(s), received {len(words)}", hint="capsa rename CONTAINER NEWNAME")
    engine.rename(session(ctx), words[0], words[1])


def restart(
    ctx: typer.Context,
    refs: ContainersArg = None,
    time_: Annotated[Optional[int], typer.Option("--time", "-t", help="Seconds to wait before forcibly stopping the container")] = None,
    all: Annotated[bool, typer.Option("--all", "-a", help="Restart all containers regardless of their current state")] = False,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
    running: Annotated[bool, typer.Option("--running", help="Restart all containers that are already in the running state")] = False,
    cidfile: Annotated[Optional[list[str]], typer.Option("--cidfile", help="Read the container ID from the file")] = None,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="Filter what containers restart (ps's filters)")] = None,
) -> None:
    """Restart one or more containers: a running one is stopped, then started."""
    if time_ is not None and time_ < 0:
        raise UsageError(f"invalid --time {time_}: it must not be negative", hint="give seconds, e.g. -t 5")
    sess = session(ctx)
    names = list(refs or []) + cidfile_ids(list(cidfile or []))
    targets = engine.restart_targets(sess, names or None, all, latest, running, list(filter or []))
    labels = list(refs) if refs else []  # (as podman: what was typed, else the full id)
    failed = False
    for i, config in enumerate(targets):  # (as podman: on through every one, 125 at the end if one failed)
        try:
            warning = engine.restart(sess, config, time_)
        except CapsaError as exc:
            _report(exc)
            failed = True
            continue
        if warning:
            output.go_warning(warning)
        output.write(f"{labels[i] if i < len(labels) else config.id}\n")
    if failed:
        raise Exit(EXIT_ENGINE)


def _report(exc: CapsaError) -> None:
    """One container's error, in the words ``main`` would print it, so that the others go on."""
    import sys

    print(f"Error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(exc.hint, file=sys.stderr)


def _targets(ctx: typer.Context, refs: list[str] | None, all_: bool, latest: bool) -> list[Any]:
    """The containers named, every one (``all_``) or the newest (``latest``): one way only."""
    from capsa.engine import containers as base

    if all_ and refs:
        raise UsageError("when using the --all switch, you may not pass any containers names or IDs",
                         hint="leave out the names or --all")
    if latest and (refs or all_):
        raise UsageError("--latest and containers given by name or id or --all cannot be used together",
                         hint="use one of them")
    return base.find(session(ctx), refs, all_=all_, latest=latest)


def mount(
    ctx: typer.Context,
    refs: ContainersArg = None,
    all: Annotated[bool, typer.Option("--all", "-a", help="Mount all containers")] = False,
    format: Annotated[Optional[str], typer.Option("--format", help="Print the mounted containers in this format (json)")] = None,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Do not truncate the container ids")] = False,
) -> None:
    """Mount a working container's root filesystem; without a container, list the mounted ones."""
    sess = session(ctx)
    if refs or all or latest:
        paths = [engine.mount(sess, config) for config in _targets(ctx, refs, all, latest)]
        output.write("".join(f"{p}\n" for p in paths))
        return
    if format not in (None, "", "json", "{{json .}}"):
        raise UsageError(f"unknown --format argument: {format!r}", hint="use --format json")
    rows = engine.mounted(sess)
    if format:
        from capsa.formatting import to_json

        doc = [{"id": c.id, "names": [c.name], "mountpoint": p} for c, p in rows]
        output.write(to_json(doc, indent=4) + "\n")
        return
    output.write("".join(f"{c.id if no_trunc else c.id[:12]}\t{p}\n" for c, p in rows))


def unmount(
    ctx: typer.Context,
    refs: ContainersArg = None,
    all: Annotated[bool, typer.Option("--all", "-a", help="Unmount all of the currently mounted containers")] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Force the complete unmount of the containers' root filesystem")] = False,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
) -> None:
    """Unmount a working container's root filesystem (a running container stays mounted)."""
    sess = session(ctx)
    if not (refs or all or latest):
        raise UsageError("container ID must be specified", hint="or use --all or --latest")
    if all and (refs or latest):
        raise UsageError("when using the --all switch, you may not pass any containers names or IDs or --latest",
                         hint="leave out the names or --all")
    if all:
        configs = [c for c, _ in engine.mounted(sess)]
    else:
        configs = _targets(ctx, refs, all, latest)
    done = [c.id for c in configs if engine.unmount(sess, c, force)]
    output.write("".join(f"{i}\n" for i in done))


def register(app: typer.Typer) -> None:
    group = next(g.typer_instance for g in app.registered_groups if g.name == "container")
    for target in (app, group):
        target.command("rename")(rename)
        target.command("restart")(restart)
        target.command("mount")(mount)
        target.command("unmount")(unmount)
        target.command("umount")(unmount)
