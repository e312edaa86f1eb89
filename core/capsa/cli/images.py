"""Image commands: ``images``, ``tag``, ``untag``, ``rmi``, ``image exists|prune|history|inspect``."""
from __future__ import annotations

import sys

from capsa.cli import output
from capsa.cli.context import Exit, session
from capsa.engine import images as engine
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    from typing import Any

    import typer

    from capsa.cli.options import FORMAT_HELP, Annotated, FormatOpt, Images, NoTrunc, Optional, QuietOpt

IMAGES_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Created": "CREATED", "Size": "SIZE",
                  "Digest": "DIGEST", "CreatedAt": "CREATED AT", "CreatedSince": "CREATED"}
HISTORY_HEADERS = {"ID": "ID", "Created": "CREATED", "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}


def images(
    ctx: typer.Context,
    all: Annotated[bool, typer.Option("--all", "-a", help="Show all images (default hides intermediate images)")] = False,
    quiet: QuietOpt = False,
    digests: Annotated[bool, typer.Option("--digests", help="Show digests")] = False,
    no_trunc: NoTrunc = False,
    noheading: Annotated[bool, typer.Option("--noheading", "-n", help="Do not print column headings")] = False,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="Filter output based on conditions provided")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help=FORMAT_HELP)] = None,
) -> None:
    """List images in local storage.

    Examples:
      capsa images --format json
      capsa images --format "table {{.ID}} {{.Repository}} {{.Tag}}"
      capsa images --filter dangling=true
    """
    rows = engine.listing(session(ctx), all, list(filter or []), as_json=format == "json")
    if format == "json":
        output.emit_one(rows, "json", str)
        return
    if no_trunc:
        for row in rows:
            row["ID"] = row["FullID"]
    if quiet:
        output.write("".join(f"{i}\n" for i in dict.fromkeys(r["ID"] for r in rows)))
        return
    cols = ["{{.Repository}}", "{{.Tag}}", *(["{{.Digest}}"] if digests else []), "{{.ID}}", "{{.Created}}", "{{.Size}}"]
    table = "table " + "\t".join(cols)
    if noheading:
        table = table[len("table "):]
        format = format.removeprefix("table ") if format else None
    output.emit_list(rows, format, table, IMAGES_HEADERS)


def tag(ctx: typer.Context, image: Annotated[str, typer.Argument(help="Image to tag")],
        targets: Annotated[list[str], typer.Argument(help="New names: NAME[:TAG]")]) -> None:
    """Add an additional name to a local image."""
    engine.tag(session(ctx), image, targets)


def untag(ctx: typer.Context, image: Annotated[str, typer.Argument(help="Image to untag")],
          names: Annotated[Optional[list[str]], typer.Argument(help="Names to remove (default: all)")] = None) -> None:
    """Remove one or more names from a locally-stored image."""
    engine.untag(session(ctx), image, list(names or []))


def rmi(
    ctx: typer.Context,
    refs: Annotated[Optional[list[str]], typer.Argument(help="Images by name or id", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Remove images with several names by id, and the containers using them")] = False,
    all: Annotated[bool, typer.Option("--all", "-a", help="Remove all images")] = False,
) -> None:
    """Remove one or more images from local storage.

    Exit codes as podman documents: 1 when an image is not known (the others are removed),
    2 when a container uses it (without --force), 125 otherwise.
    """
    if all == bool(refs):
        raise UsageError("give image names or ids, or --all", hint="capsa rmi IMAGE... | capsa rmi --all")
    done = engine.remove_images(session(ctx), list(refs or []), force, all)
    for message in done.missing:
        print(f"Error: {message}", file=sys.stderr)
    output.write("".join(f"{line}\n" for line in done.lines))
    if done.missing:
        raise Exit(1)


def exists(ctx: typer.Context, image: Annotated[str, typer.Argument(help="Image name or id")]) -> None:
    """Check if an image exists in local storage: exit 0 if it does, 1 if not."""
    if not engine.exists(session(ctx), image):
        raise Exit(1)


def prune(
    ctx: typer.Context,
    all: Annotated[bool, typer.Option("--all", "-a", help="Remove all unused images, not just dangling ones")] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not prompt for confirmation")] = False,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", help="Only prune images matching these filters")] = None,
) -> None:
    """Remove unused images (dangling ones; with --all every image no container uses)."""
    if not force:
        what = "all images without at least one container associated with them" if all else "all dangling images"
        sys.stderr.write(f"WARNING! This command removes {what}.\nAre you sure you want to continue? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return
    doomed = engine.prune(session(ctx), all, list(filter or []))
    output.write("".join(f"{i.id}\n" for i in doomed))


def history(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(help="Image name or id")],
    no_trunc: NoTrunc = False,
    quiet: QuietOpt = False,
    human: Annotated[bool, typer.Option("--human", "-H", help="Display sizes and dates in human readable format")] = True,
    format: FormatOpt = None,
) -> None:
    """Show the history of an image."""
    rows = engine.history(session(ctx), image)
    for row in rows:
        if row["ID"] != "<missing>" and not no_trunc:
            row["ID"] = row["ID"][:12]
        if not no_trunc and len(row["CreatedBy"]) > 45:
            row["CreatedBy"] = row["CreatedBy"][:42] + "..."
        if not human:
            row["Size"], row["Created"] = str(row["RawSize"]), row["CreatedAt"]
    if format == "json":
        output.emit_one(rows, "json", str)
        return
    table = "table {{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    output.emit_list(rows, format, table, HISTORY_HEADERS, quiet_field="ID", quiet=quiet)


def image_inspect(ctx: typer.Context, refs: Images, format: FormatOpt = None) -> None:
    """Display the configuration of one or more images."""
    from capsa.cli.inspect import inspect_objects

    inspect_objects(ctx, refs, "image", format)


def register(app: typer.Typer) -> None:
    """Top-level commands and the ``image`` group, as podman names them."""
    group = typer.Typer(help="Manage images", no_args_is_help=True)
    for name, fn in (("ls", images), ("list", images), ("tag", tag), ("untag", untag), ("rm", rmi), ("exists", exists),
                     ("prune", prune), ("history", history), ("inspect", image_inspect)):
        group.command(name)(fn)
    app.add_typer(group, name="image")
    for name, fn in (("images", images), ("tag", tag), ("untag", untag), ("rmi", rmi), ("history", history)):
        app.command(name)(fn)
