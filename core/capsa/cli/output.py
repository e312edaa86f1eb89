"""Printing results the podman way: human text, ``--format json`` or a Go template."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Optional

import typer

from capsa.cli.stdout import write
from capsa.errors import UsageError

FORMAT_HELP = "Output format: json, or a Go template such as '{{.Field}}' or 'table {{.A}}\\t{{.B}}'"
FormatOpt = Annotated[Optional[str], typer.Option("--format", "-f", help=FORMAT_HELP)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the identifying column")]


def _template_error(exc: Exception) -> UsageError:
    return UsageError(str(exc), hint="see docs/cli.md for the --format syntax")


def emit_one(data: Any, fmt: str | None, human: Callable[[Any], str]) -> None:
    """Print one object: ``human(data)`` by default, JSON for ``json``, else the template."""
    if not fmt:
        text = human(data)
    elif fmt == "json":
        from capsa.formatting import to_json

        text = to_json(data, indent=4) + "\n"
    else:
        from capsa.formatting import TemplateError, render

        try:
            text = render(fmt, data)
        except TemplateError as exc:
            raise _template_error(exc) from None
    write(text if text.endswith("\n") else text + "\n")


def emit_list(
    items: Sequence[Mapping[str, Any]],
    fmt: str | None,
    table: str,
    headers: Mapping[str, str] | None = None,
    quiet_field: str | None = None,
    quiet: bool = False,
) -> None:
    """Print many objects: ``table`` template by default, ``-q`` prints ``quiet_field`` only."""
    if quiet and quiet_field:
        write("".join(f"{item[quiet_field]}\n" for item in items))
        return
    from capsa.formatting import TemplateError, format_items

    if not fmt or fmt.strip() == "table":
        fmt = table
    try:
        text = format_items(fmt, list(items), headers)
    except TemplateError as exc:
        raise _template_error(exc) from None
    write(text)


def to_yaml(data: Any, indent: int = 0) -> str:
    """A small YAML rendering of plain data (dicts, lists, scalars), as podman's ``info`` prints."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            if isinstance(value, (Mapping, list)) and value:
                lines.append(f"{pad}{key}:")
                lines.append(to_yaml(value, indent + 1).rstrip("\n"))
            else:
                lines.append(f"{pad}{key}: {_scalar(value)}")
    elif isinstance(data, list):
        for value in data:
            if isinstance(value, (Mapping, list)) and value:
                body = to_yaml(value, indent + 1).rstrip("\n")
                lines.append(f"{pad}- {body.lstrip()}")
            else:
                lines.append(f"{pad}- {_scalar(value)}")
    else:
        lines.append(f"{pad}{_scalar(data)}")
    return "\n".join(lines) + "\n"


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[]"
    text = str(value)
    if text == "" or text[0] in "!&*{}[],#|>@`\"'%- " or ": " in text or text.endswith(":"):
        return json.dumps(text)
    return text
