"""``capsa inspect``: low-level information on objects, found by name or id."""
from __future__ import annotations

from capsa.cli import output
from capsa.cli.context import session
from capsa.engine.inspect import KINDS as TYPES
from capsa.errors import CapsaError, ImageNotFound

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    import typer

    from capsa.cli.options import Annotated, FormatOpt



def inspect_objects(ctx: typer.Context, refs: list[str], kind: str, fmt: str | None) -> None:
    """Print the documents of ``refs`` (JSON list, or the template per object); exit 125 when
    one is not found, after printing the others, as podman does."""
    from capsa.engine.inspect import documents

    docs, missing = documents(session(ctx), refs, kind)
    if fmt and fmt != "json":
        for doc in docs:
            output.emit_one(doc, fmt, str)
    else:
        output.emit_one(docs, "json", str)
    if missing:
        if kind == "image":
            raise ImageNotFound(f"{missing[0]}: image not known", hint="see 'capsa images'")
        if kind == "container":
            raise CapsaError(f'no such container "{missing[0]}"', hint="see 'capsa ps -a'")
        raise CapsaError(f'inspecting object: no such object: "{missing[0]}"', hint="see 'capsa ps -a' and 'capsa images'")


def inspect(
    ctx: typer.Context,
    refs: Annotated[list[str], typer.Argument(help="Names or ids of objects")],
    format: FormatOpt = None,
    type: Annotated[str, typer.Option("--type", "-t", help="Only look for objects of this type: container, image or all")] = "all",
) -> None:
    """Display the configuration of objects denoted by name or id.

    Examples:
      capsa inspect fedora
      capsa inspect --type image fedora
      capsa inspect CtrID ImgID
      capsa inspect --format "imageId: {{.Id}} size: {{.Size}}" fedora
    """
    if type not in TYPES:
        raise CapsaError(f"invalid --type {type!r}", hint=f"use one of: {', '.join(TYPES)}")
    inspect_objects(ctx, refs, type, format)


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)
