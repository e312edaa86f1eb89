"""``diff`` (also ``container diff`` and ``image diff``) and ``export`` (also ``container export``):
a container's filesystem against its image, and as a tar archive."""
from __future__ import annotations

import sys

from capsa.cli import output
from capsa.cli.context import session
from capsa.engine import containerfs as engine
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    from typing import Any

    import typer

    from capsa.cli.options import Annotated, Optional
    from capsa.engine.containerfs import Change

LETTERS = {"added": "A", "modified": "C", "deleted": "D"}
JSON_KEYS = {"modified": "changed", "added": "added", "deleted": "deleted"}  # (podman's order)


def format_changes(changes: list[Change], fmt: str | None) -> str:
    """podman's shapes: ``A /path`` lines, or ``--format json``'s one line
    ``{"changed":[...],"added":[...],"deleted":[...]}`` (empty lists left out)."""
    if fmt == "json":
        import json

        report: dict[str, list[str]] = {}
        for kind, key in JSON_KEYS.items():
            paths = [f"/{c.path}" for c in changes if c.kind == kind]
            if paths:
                report[key] = paths
        return json.dumps(report, separators=(",", ":")) + "\n"
    return "".join(f"{LETTERS[c.kind]} /{c.path}\n" for c in changes)


def _diff(ctx: typer.Context, args: list[str] | None, fmt: str | None, latest: bool, kind: Any) -> None:
    if fmt not in (None, "", "json"):
        raise UsageError("only valid format for diff is 'json'", hint="use --format json, or no --format")
    words = list(args or [])
    if latest and len(words) > 1:
        raise UsageError("--latest and more than one argument cannot be used together",
                         hint="with --latest, give at most the image or container to compare with")
    if not latest and not 1 <= len(words) <= 2:
        raise UsageError(f"accepts between 1 and 2 arg(s), received {len(words)}",
                         hint=f"capsa {'image ' if kind == 'image' else ''}diff NAME [NAME-TO-COMPARE-WITH]")
    ref = None if latest else words[0]
    other = words[0] if latest and words else words[1] if len(words) > 1 else None
    changes = engine.diff(session(ctx), ref, other, kind=kind, latest=latest)
    output.write(format_changes(changes, fmt))


def diff(
    ctx: typer.Context,
    args: Annotated[Optional[list[str]], typer.Argument(help="A container or image, then optionally one to compare with")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help="Change the output format (json)")] = None,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
) -> None:
    """Inspect changes to the container's or image's filesystem."""
    _diff(ctx, args, format, latest, "all")


def container_diff(
    ctx: typer.Context,
    args: Annotated[Optional[list[str]], typer.Argument(help="A container, then optionally one to compare with")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help="Change the output format (json)")] = None,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
) -> None:
    """Inspect changes to the container's file systems."""
    _diff(ctx, args, format, latest, "container")


def image_diff(
    ctx: typer.Context,
    args: Annotated[Optional[list[str]], typer.Argument(help="An image, then optionally one to compare with")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help="Change the output format (json)")] = None,
) -> None:
    """Inspect changes to the image's file systems."""
    _diff(ctx, args, format, False, "image")


def export(
    ctx: typer.Context,
    refs: Annotated[Optional[list[str]], typer.Argument(help="Container name or id")] = None,
    output_path: Annotated[Optional[str], typer.Option("--output", "-o", help="Write to a specified file (default: stdout, which must be redirected)")] = None,
) -> None:
    """Export container's filesystem contents as a tar archive."""
    if len(refs or []) != 1:
        raise UsageError(f"accepts 1 arg(s), received {len(refs or [])}", hint="capsa export [-o FILE] CONTAINER")
    ref = (refs or [""])[0]
    if output_path is None:
        if sys.stdout.isatty():
            raise UsageError("refusing to export to terminal. Use -o flag or redirect",
                             hint="capsa export -o FILE CONTAINER, or capsa export CONTAINER > FILE")
        engine.export(session(ctx), ref, sys.stdout.buffer, before_writing=sys.stdout.flush)
        sys.stdout.buffer.flush()
    else:
        if not output_path:
            raise UsageError("no file name given to --output", hint="give -o FILE, or leave -o out to write to stdout")
        engine.export(session(ctx), ref, output_path)


def register(app: typer.Typer) -> None:
    app.command("diff")(diff)
    app.command("export")(export)
    groups = {g.name: g.typer_instance for g in app.registered_groups}
    if "container" in groups:
        groups["container"].command("diff")(container_diff)
        groups["container"].command("export")(export)
    if "image" in groups:
        groups["image"].command("diff")(image_diff)
