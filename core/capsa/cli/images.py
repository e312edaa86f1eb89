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
                  "Digest": "DIGEST", "CreatedAt": "CREATED AT", "CreatedSince": "CREATED",
                  "History": "HISTORY", "Labels": "LABELS"}
HISTORY_HEADERS = {"ID": "ID", "Created": "CREATED", "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}


def images(
    ctx: typer.Context,
    names: Annotated[Optional[list[str]], typer.Argument(metavar="[NAME]", help="Only images whose name matches (as --filter reference=NAME)", show_default=False)] = None,
    all: Annotated[bool, typer.Option("--all", "-a", help="Show all images (default hides intermediate images)")] = False,
    quiet: QuietOpt = False,
    digests: Annotated[bool, typer.Option("--digests", help="Show digests")] = False,
    no_trunc: NoTrunc = False,
    noheading: Annotated[bool, typer.Option("--noheading", "-n", help="Do not print column headings")] = False,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="Filter output based on conditions provided")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help=FORMAT_HELP)] = None,
    history: Annotated[bool, typer.Option("--history", help="Display the image name history")] = False,
    sort: Annotated[str, typer.Option("--sort", help="Sort by created, id, repository, size or tag")] = "created",
) -> None:
    """List images in local storage.

    Examples:
      capsa images --format json
      capsa images --format "table {{.ID}} {{.Repository}} {{.Tag}}"
      capsa images --filter dangling=true
    """
    if names and len(names) > 1:
        raise UsageError(f"accepts at most 1 arg(s), received {len(names)}", hint="capsa images [NAME]")
    filters = [*(filter or []), *(f"reference={n}" for n in names or [])]
    rows = engine.listing(session(ctx), all, filters, as_json=format == "json",
                          labels=bool(format and "Labels" in format), sort=sort)
    if format == "json":
        output.emit_one(rows, "json", str)
        return
    if no_trunc:
        for row in rows:
            row["ID"] = row["FullID"]
    if quiet:
        output.write("".join(f"{i}\n" for i in dict.fromkeys(r["ID"] for r in rows)))
        return
    cols = ["{{.Repository}}", "{{.Tag}}", *(["{{.Digest}}"] if digests else []), "{{.ID}}", "{{.Created}}", "{{.Size}}",
            *(["{{.History}}"] if history else [])]
    output.emit_list(rows, format, "table " + "\t".join(cols), IMAGES_HEADERS, noheading=noheading)


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
    ignore: Annotated[bool, typer.Option("--ignore", "-i", help="Ignore errors when a specified image is not known")] = False,
    no_prune: Annotated[bool, typer.Option("--no-prune", help="Do not remove dangling parent images")] = False,
) -> None:
    """Remove one or more images from local storage.

    Exit codes as podman documents: 1 when an image is not known (the others are removed;
    --ignore and --force take an unknown image as removed: exit 0), 2 when a container uses it
    (without --force), 125 otherwise.
    """
    if all == bool(refs):
        raise UsageError("give image names or ids, or --all", hint="capsa rmi IMAGE... | capsa rmi --all")
    done = engine.remove_images(session(ctx), list(refs or []), force, all, prune=not no_prune)
    output.write("".join(f"{line}\n" for line in done.lines))
    if ignore or force:
        return
    for message in done.missing:
        print(f"Error: {message}", file=sys.stderr)
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
    external: Annotated[bool, typer.Option("--external", help="Remove images even when external containers (build containers) use them")] = False,
) -> None:
    """Remove unused images (dangling ones; with --all every image no container uses).

    ``--external``: capsa's build containers live only while their step runs and no other tool
    shares its store, so no image is held by an external container: the flag changes nothing.
    """
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
    human: Annotated[bool, typer.Option("--human", "-H", help="Display sizes and dates in human readable format (--human=false: dates as RFC 3339)")] = True,
    format: FormatOpt = None,
) -> None:
    """Show the history of an image."""
    rows = engine.history(session(ctx), image)
    if format == "json":  # (podman's keys, compact, whole ids and commands whatever the flags)
        from capsa.formatting import to_json

        output.write(to_json([{"id": r["ID"], "created": r["CreatedNano"], "CreatedBy": r["CreatedBy"], "size": r["RawSize"],
                               "comment": r["Comment"], "Created": r["CreatedRFC3339"]} for r in rows]) + "\n")
        return
    for row in rows:
        if row["ID"] != "<missing>" and not no_trunc:
            row["ID"] = row["ID"][:12]
        if not no_trunc and len(row["CreatedBy"]) > 45:
            row["CreatedBy"] = row["CreatedBy"][:42] + "..."
        if not human:
            row["Created"] = row["CreatedRFC3339"]
    table = "table {{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    output.emit_list(rows, format, table, HISTORY_HEADERS, quiet_field="ID", quiet=quiet)


def image_inspect(ctx: typer.Context, refs: Images, format: FormatOpt = None) -> None:
    """Display the configuration of one or more images."""
    from capsa.cli.inspect import inspect_objects
    from capsa.errors import ImageNotFound

    try:
        inspect_objects(ctx, refs, "image", format)
    except ImageNotFound as exc:  # (podman's words for image inspect)
        raise ImageNotFound(f"inspecting object: {exc.message}", hint=exc.hint) from None


def register(app: typer.Typer) -> None:
    """Top-level commands and the ``image`` group, as podman names them."""
    group = typer.Typer(help="Manage images", no_args_is_help=True)
    for name, fn in (("ls", images), ("list", images), ("tag", tag), ("untag", untag), ("rm", rmi), ("exists", exists),
                     ("prune", prune), ("history", history), ("inspect", image_inspect)):
        group.command(name)(fn)
    app.add_typer(group, name="image")
    for name, fn in (("images", images), ("tag", tag), ("untag", untag), ("rmi", rmi), ("history", history)):
        app.command(name)(fn)
