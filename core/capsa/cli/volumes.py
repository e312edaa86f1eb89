"""``volume create|ls|list|inspect|rm|prune|exists|export|import|mount|unmount|reload``."""
from __future__ import annotations

import sys

from capsa.cli import output
from capsa.cli.context import session
from capsa.engine import volumes as engine
from capsa.errors import CapsaError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    import typer

    from capsa.cli.options import Annotated, Optional, QuietOpt



def _one(names: list[str] | None, usage: str) -> str:
    if len(names or []) != 1:
        raise UsageError(f"accepts 1 arg(s), received {len(names or [])}", hint=usage)
    return (names or [""])[0]


def create(
    ctx: typer.Context,
    name: Annotated[Optional[str], typer.Argument(help="Volume name (default: a random id)")] = None,
    driver: Annotated[str, typer.Option("--driver", "-d", help="Volume driver (local: the only one)")] = "local",
    label: Annotated[Optional[list[str]], typer.Option("--label", "-l", help="Set metadata for a volume")] = None,
    opt: Annotated[Optional[list[str]], typer.Option("--opt", "-o", help="Driver options: type=, device=, o= (mount options)")] = None,
    ignore: Annotated[bool, typer.Option("--ignore", help="Do not fail if the volume already exists")] = False,
) -> None:
    """Create a new volume.

    Examples:
      capsa volume create myvol
      capsa volume create
      capsa volume create --label foo=bar myvol
    """
    from capsa.container.flags import parse_labels

    record = engine.create(session(ctx), name, parse_labels(label or []), parse_labels(opt or []), ignore, driver)
    output.write(f"{record['Name']}\n")


def ls(ctx: typer.Context, quiet: QuietOpt = False,
       format: Annotated[Optional[str], typer.Option("--format", help="json, or a Go template ('{{.Name}}')")] = None,
       noheading: Annotated[bool, typer.Option("--noheading", help="Do not print headers")] = False,
       filter: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="dangling, driver, label, name (a regular expression), opt, scope, until")] = None) -> None:
    """List volumes."""
    records = engine.list_volumes(session(ctx), list(filter or []))
    if format == "json":
        output.emit_one(records, "json", str)
        return
    headers = {"Driver": "DRIVER", "Name": "VOLUME NAME"}
    fmt = format if format and format.strip() != "table" else "table {{.Driver}}\t{{.Name}}"
    if quiet:
        output.emit_list(records, None, fmt, headers, quiet_field="Name", quiet=True)
    elif noheading and fmt.startswith("table "):
        output.write(output.headless(records, fmt))
    else:
        output.emit_list(records, fmt, fmt, headers)


def inspect(ctx: typer.Context, names: Annotated[Optional[list[str]], typer.Argument(help="Volumes")] = None,
            all: Annotated[bool, typer.Option("--all", "-a", help="Inspect all volumes")] = False,
            format: Annotated[Optional[str], typer.Option("--format", "-f", help="json, or a Go template ('{{.Mountpoint}}')")] = None) -> None:
    """Display detailed information on one or more volumes."""
    docs, unknown = engine.inspect(session(ctx), list(names or []), all)
    if format and format != "json":
        for doc in docs:
            output.emit_one(doc, format, str)
    else:
        output.emit_one(docs, "json", str)
    if unknown is not None:
        raise CapsaError(f"inspecting object: no such volume {unknown}", hint="see 'capsa volume ls'")


def rm(ctx: typer.Context, names: Annotated[Optional[list[str]], typer.Argument(help="Volumes")] = None,
       force: Annotated[bool, typer.Option("--force", "-f", help="Remove the volume even when containers use it: they are removed first")] = False,
       all: Annotated[bool, typer.Option("--all", "-a", help="Remove all volumes")] = False,
       time: Annotated[Optional[int], typer.Option("--time", "-t", help="Seconds to wait for the containers using it to stop before killing them (with --force)")] = None) -> None:
    """Remove one or more volumes."""
    removed, error = engine.remove(session(ctx), list(names or []), force, all, time)
    output.write("".join(f"{n}\n" for n in removed))
    if error is not None:
        raise error


def prune(ctx: typer.Context, force: Annotated[bool, typer.Option("--force", "-f", help="Do not prompt")] = False,
          filter: Annotated[Optional[list[str]], typer.Option("--filter", help="the filters of volume ls: dangling, driver, label, name, opt, scope, until")] = None) -> None:
    """Remove all volumes no container uses."""
    filters = list(filter or [])
    if not force:
        names = engine.prunable(session(ctx), filters)
        output.write("WARNING! This will remove all volumes not used by at least one container. "
                     "The following volumes will be removed:\n" + "".join(f"{n}\n" for n in names)
                     + "Are you sure you want to continue? [y/N] ")
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return
    gone = engine.prune(session(ctx), filters)
    output.write("".join(f"{n}\n" for n in gone))


def exists(ctx: typer.Context, names: Annotated[Optional[list[str]], typer.Argument(help="Volume")] = None) -> None:
    """Check if the given volume exists (exit 0 if it does, 1 if not)."""
    name = _one(names, "capsa volume exists VOLUME")
    try:
        engine.volume_store(session(ctx)).record(name)
    except CapsaError:
        raise SystemExit(1) from None


def export(ctx: typer.Context, names: Annotated[Optional[list[str]], typer.Argument(help="Volume")] = None,
           output_path: Annotated[Optional[str], typer.Option("--output", "-o", help="Write to a file (default: stdout, which must be redirected)")] = None) -> None:
    """Export the contents of a volume as a tar archive."""
    from capsa.engine import volumeio

    name = _one(names, "capsa volume export [-o FILE] VOLUME")
    if output_path:
        volumeio.export(session(ctx), name, output_path)
        return
    if sys.stdout.isatty():
        raise UsageError("cannot write to terminal, use command-line redirection or the --output flag",
                         hint="capsa volume export -o FILE VOLUME, or redirect stdout")
    volumeio.export(session(ctx), name, sys.stdout.buffer, before_writing=sys.stdout.flush)
    sys.stdout.buffer.flush()


def import_(ctx: typer.Context, args: Annotated[Optional[list[str]], typer.Argument(help="VOLUME SOURCE (a tar file, or - for stdin)")] = None) -> None:
    """Import a tarball's contents into a volume."""
    from capsa.engine import volumeio

    if len(args or []) != 2:
        raise UsageError(f"accepts 2 arg(s), received {len(args or [])}", hint="capsa volume import VOLUME [SOURCE|-]")
    name, source = (args or ["", ""])
    volumeio.import_(session(ctx), name, source)


def mount(ctx: typer.Context, names: Annotated[Optional[list[str]], typer.Argument(help="Volume")] = None) -> None:
    """Mount a volume (its filesystem, when it has options) and print its mount point."""
    name = _one(names, "capsa volume mount VOLUME")
    output.write(engine.mount(session(ctx), name) + "\n")


def unmount(ctx: typer.Context, names: Annotated[Optional[list[str]], typer.Argument(help="Volume")] = None) -> None:
    """Unmount a volume mounted by 'volume mount' (the last mount unmounts its filesystem)."""
    name = _one(names, "capsa volume unmount VOLUME")
    engine.unmount(session(ctx), name)
    output.write(f"{name}\n")


def reload(ctx: typer.Context) -> None:
    """Reload the volumes of the volume plugins: capsa has none (the local driver's volumes are
    read from disk by every command), so there is nothing to add or remove."""


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Manage volumes", no_args_is_help=True)
    for name, fn in (("create", create), ("ls", ls), ("list", ls), ("inspect", inspect), ("rm", rm), ("prune", prune),
                     ("exists", exists), ("export", export), ("import", import_), ("mount", mount),
                     ("unmount", unmount), ("umount", unmount), ("reload", reload)):
        group.command(name)(fn)
    app.add_typer(group, name="volume")
