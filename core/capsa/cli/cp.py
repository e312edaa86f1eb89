"""``cp`` (also ``container cp``): copy files and directories between a container and the host."""
from __future__ import annotations

import sys

from capsa.cli.context import session
from capsa.engine import cp as engine
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    import typer

    from capsa.cli.options import Annotated, Optional


def cp(
    ctx: typer.Context,
    args: Annotated[Optional[list[str]], typer.Argument(help="[CONTAINER:]SRC_PATH [CONTAINER:]DEST_PATH ('-': a tar stream)")] = None,
    archive: Annotated[bool, typer.Option("--archive/--no-archive", "-a", help="Chown copied files to the primary uid/gid of the destination container (--archive=false: keep the source's owners)")] = True,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Allow to overwrite directories with non-directories and vice versa")] = False,
) -> None:
    """Copy files/folders between a container and the local filesystem."""
    words = list(args or [])
    if len(words) != 2:
        raise UsageError(f"accepts 2 arg(s), received {len(words)}",
                         hint="capsa cp [options] [CONTAINER:]SRC_PATH [CONTAINER:]DEST_PATH")
    source, dest = words
    if dest == "-":
        sys.stdout.flush()
    engine.copy(session(ctx), source, dest, archive=archive, overwrite=overwrite,
                stdin=sys.stdin.buffer if source == "-" else None,
                stdout=sys.stdout.buffer if dest == "-" else None)


def register(app: typer.Typer) -> None:
    app.command("cp")(cp)
    groups = {g.name: g.typer_instance for g in app.registered_groups}
    if "container" in groups:
        groups["container"].command("cp")(cp)
