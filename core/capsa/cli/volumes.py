"""``volume create|ls|inspect|rm|prune``."""
from __future__ import annotations

from capsa.cli import output
from capsa.cli.context import session
from capsa.engine import volumes as engine
TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    import typer

    from capsa.cli.options import Annotated, FormatOpt, Optional, QuietOpt


def create(
    ctx: typer.Context,
    name: Annotated[Optional[str], typer.Argument(help="Volume name (default: a random id)")] = None,
    label: Annotated[Optional[list[str]], typer.Option("--label", "-l", help="Set metadata for a volume")] = None,
    opt: Annotated[Optional[list[str]], typer.Option("--opt", "-o", help="Driver options")] = None,
    ignore: Annotated[bool, typer.Option("--ignore", help="Do not fail if the volume already exists")] = False,
) -> None:
    """Create a new volume.

    Examples:
      capsa volume create myvol
      capsa volume create
      capsa volume create --label foo=bar myvol
    """
    from capsa.container.flags import parse_labels

    record = engine.create(session(ctx), name, parse_labels(label or []), parse_labels(opt or []), ignore)
    output.write(f"{record['Name']}\n")


def ls(ctx: typer.Context, quiet: QuietOpt = False, format: FormatOpt = None,
       filter: Annotated[Optional[list[str]], typer.Option("--filter", help="name=, label=, dangling=true|false")] = None) -> None:
    """List volumes."""
    records = engine.list_volumes(session(ctx), list(filter or []))
    if format == "json":
        output.emit_one(records, "json", str)
        return
    output.emit_list(records, format, "table {{.Driver}}\t{{.Name}}", {"Driver": "DRIVER", "Name": "VOLUME NAME"},
                     quiet_field="Name", quiet=quiet)


def inspect(ctx: typer.Context, names: Annotated[list[str], typer.Argument(help="Volumes")], format: FormatOpt = None) -> None:
    """Display detailed information on one or more volumes."""
    docs = engine.inspect(session(ctx), names)
    if format and format != "json":
        for doc in docs:
            output.emit_one(doc, format, str)
    else:
        output.emit_one(docs, "json", str)


def rm(ctx: typer.Context, names: Annotated[Optional[list[str]], typer.Argument(help="Volumes")] = None,
       force: Annotated[bool, typer.Option("--force", "-f", help="Remove the volume even when containers use it: they are removed first")] = False,
       all: Annotated[bool, typer.Option("--all", "-a", help="Remove all volumes")] = False) -> None:
    """Remove one or more volumes."""
    removed = engine.remove(session(ctx), list(names or []), force, all)
    output.write("".join(f"{n}\n" for n in removed))


def prune(ctx: typer.Context, force: Annotated[bool, typer.Option("--force", "-f", help="Do not prompt")] = False) -> None:
    """Remove all volumes no container uses."""
    import sys

    if not force:
        sys.stderr.write("WARNING! This will remove all volumes not used by at least one container.\n"
                         "Are you sure you want to continue? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return
    gone = engine.prune(session(ctx))
    output.write("".join(f"{n}\n" for n in gone))


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Manage volumes", no_args_is_help=True)
    for name, fn in (("create", create), ("ls", ls), ("list", ls), ("inspect", inspect), ("rm", rm), ("prune", prune)):
        group.command(name)(fn)
    app.add_typer(group, name="volume")
