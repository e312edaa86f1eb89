"""``capsa inspect``: low-level information on objects, found by name or id."""
from __future__ import annotations

from typing import Annotated, Any

import typer

from capsa.cli import output
from capsa.cli.output import FormatOpt
from capsa.cli.state import open_store, session
from capsa.errors import CapsaError, ImageNotFound

TYPES = ("image", "container", "all")


def _find_container(ctx: typer.Context, store: Any, ref: str) -> dict[str, Any] | None:
    from capsa.cli.containers import records_of
    from capsa.container.views import inspect_doc

    records = records_of(session(ctx))
    try:
        config = records.find(ref)
    except CapsaError:
        return None
    image_config: dict[str, Any] = {}
    if config.image_id:
        try:
            image_config = store.config_of(store.image_by_id(config.image_id))
        except CapsaError:
            pass
    return inspect_doc(records, config, image_config, store.driver.name)


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
            doc = _find_container(ctx, store, ref) if kind in ("container", "all") else None
            if doc is None and kind in ("image", "all"):
                doc = _find_image(store, ref)
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
    """Display the configuration of objects denoted by name or id."""
    if type not in TYPES:
        raise CapsaError(f"invalid --type {type!r}", hint=f"use one of: {', '.join(TYPES)}")
    inspect_objects(ctx, refs, type, format)


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)
