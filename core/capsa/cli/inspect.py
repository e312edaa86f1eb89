"""``capsa inspect``: low-level information on objects, found by name or id."""
from __future__ import annotations

from typing import Annotated, Any

import typer

from capsa.cli import output
from capsa.cli.output import FormatOpt
from capsa.cli.state import open_store, session
from capsa.errors import CapsaError, ImageNotFound

TYPES = ("image", "all")


def _find_image(store: Any, ref: str) -> dict[str, Any] | None:
    from capsa.image.views import inspect_doc

    try:
        return inspect_doc(store, store.find_image(ref))
    except ImageNotFound:
        return None


def inspect_objects(ctx: typer.Context, refs: list[str], kind: str, fmt: str | None) -> None:
    """Print the documents of ``refs`` (JSON list, or the template per object); exit 125 when
    one is not found, after printing the others, as podman does."""
    store = open_store(session(ctx))
    docs: list[dict[str, Any]] = []
    missing: list[str] = []
    with store.reading():
        for ref in refs:
            doc = _find_image(store, ref) if kind in ("image", "all") else None
            if doc is None:
                missing.append(ref)
            else:
                docs.append(doc)
    if fmt and fmt != "json":
        for doc in docs:
            output.emit_one(doc, fmt, str)
    else:
        output.emit_one(docs, "json", str)
    if missing:
        what = "image" if kind == "image" else "object"
        if kind == "image":
            raise ImageNotFound(f"{missing[0]}: image not known", hint="see 'capsa images'")
        raise CapsaError(f'inspecting object: no such {what}: "{missing[0]}"', hint="see 'capsa images'")


def inspect(
    ctx: typer.Context,
    refs: Annotated[list[str], typer.Argument(help="Names or ids of objects")],
    format: FormatOpt = None,
    type: Annotated[str, typer.Option("--type", "-t", help="Only look for objects of this type: image or all")] = "all",
) -> None:
    """Display the configuration of objects denoted by name or id."""
    if type not in TYPES:
        raise CapsaError(f"invalid --type {type!r}", hint=f"use one of: {', '.join(TYPES)}")
    inspect_objects(ctx, refs, type, format)


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)
