"""Container commands ``rename`` and ``restart``, also under ``capsa container``."""
from __future__ import annotations

from capsa.cli import output
from capsa.cli.context import session
from capsa.engine import container_ops as engine
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
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


def _cidfile_ids(paths: list[str]) -> list[str]:
    ids = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                ids.append(fh.read().strip())
        except OSError as exc:
            raise UsageError(f"reading CIDFile {path}: {exc.strerror}", hint="give a file 'run --cidfile' wrote") from None
    return ids


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
    names = list(refs or []) + _cidfile_ids(list(cidfile or []))
    targets = engine.restart_targets(sess, names or None, all, latest, running, list(filter or []))
    for config in targets:
        warning = engine.restart(sess, config, time_)
        if warning:
            output.warn(warning)
        output.write(f"{config.id}\n")


def register(app: typer.Typer) -> None:
    group = next(g.typer_instance for g in app.registered_groups if g.name == "container")
    for target in (app, group):
        target.command("rename")(rename)
        target.command("restart")(restart)
