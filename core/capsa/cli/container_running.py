"""Commands on running containers: ``pause``, ``unpause``, ``top`` and ``stats``, also under
``capsa container``."""
from __future__ import annotations

from capsa.cli import output
from capsa.cli.context import Exit, session
from capsa.engine import running as engine
from capsa.errors import EXIT_ENGINE, CapsaError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    import typer

    from capsa.cli.options import Annotated, ContainersArg, Optional


def _cidfile_ids(paths: list[str]) -> list[str]:
    ids = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                ids.append(fh.read().strip())
        except OSError as exc:
            raise UsageError(f"reading CIDFile {path}: {exc.strerror}", hint="give a file 'run --cidfile' wrote") from None
    return ids


def _each(ctx: typer.Context, refs: list[str], all_: bool, latest: bool, cidfile: list[str], filters: list[str],
          wanted: str, act: object) -> None:
    """Act on every target, on through them all (as podman): the ids done on stdout, one
    error line each on stderr, exit 125 at the end if one failed."""
    from capsa.cli.container_more import _report

    sess = session(ctx)
    names = list(refs) + _cidfile_ids(cidfile)
    configs = engine.targets(sess, names, all_, latest, filters, wanted)
    failed = False
    for i, config in enumerate(configs):
        try:
            act(sess, config)  # type: ignore[operator]
        except CapsaError as exc:
            _report(exc)
            failed = True
            continue
        output.write(f"{names[i] if names and not latest else config.id}\n")
    if failed:
        raise Exit(EXIT_ENGINE)


def pause(
    ctx: typer.Context,
    refs: ContainersArg = None,
    all: Annotated[bool, typer.Option("--all", "-a", help="Pause all running containers")] = False,
    cidfile: Annotated[Optional[list[str]], typer.Option("--cidfile", help="Read the container ID from the file")] = None,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="Filter what containers pause (ps's filters)")] = None,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
) -> None:
    """Pause all the processes in one or more containers."""
    _each(ctx, list(refs or []), all, latest, list(cidfile or []), list(filter or []), "running", engine.pause)


def unpause(
    ctx: typer.Context,
    refs: ContainersArg = None,
    all: Annotated[bool, typer.Option("--all", "-a", help="Unpause all paused containers")] = False,
    cidfile: Annotated[Optional[list[str]], typer.Option("--cidfile", help="Read the container ID from the file")] = None,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="Filter what containers unpause (ps's filters)")] = None,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
) -> None:
    """Unpause the processes in one or more containers."""
    _each(ctx, list(refs or []), all, latest, list(cidfile or []), list(filter or []), "paused", engine.unpause)


def register(app: typer.Typer) -> None:
    group = next(g.typer_instance for g in app.registered_groups if g.name == "container")
    for target in (app, group):
        target.command("pause")(pause)
        target.command("unpause")(unpause)
