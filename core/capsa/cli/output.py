"""Everything a command prints on standard output: plain text where the reader may go away
(``capsa images | head -1``), and results the podman way: human text, ``--format json`` or a
Go template.

Without typer and with few imports: the ``run``/``create`` path uses :func:`write` (the typer
option types for ``--format`` and ``--quiet`` are in :mod:`capsa.cli.options`).
"""
from __future__ import annotations

import sys

from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any


class OutputClosed(Exception):
    """Whoever read our standard output went away: stop quietly.

    Deliberately not an OSError, so that typer's own broken-pipe handling (exit 1) stays out.
    """


def write(text: str) -> None:
    """Write to standard output; a closed pipe becomes :class:`OutputClosed`."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise OutputClosed() from None


def warn(message: str) -> None:
    """``Warning: <message>`` on standard error (podman's ``WARN[...]``), at once."""
    print(f"Warning: {message}", file=sys.stderr, flush=True)


def go_warning(message: str) -> None:
    """A warning as podman's logging prints it on standard error (``time="..." level=warning
    msg="..."``), for the warnings scripts match (stop's ``resorting to SIGKILL``)."""
    import time

    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f'time="{stamp}" level=warning msg="{message}"', file=sys.stderr, flush=True)


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
    items: Sequence[dict[str, Any]],
    fmt: str | None,
    table: str,
    headers: dict[str, str] | None = None,
    quiet_field: str | None = None,
    quiet: bool = False,
    noheading: bool = False,
) -> None:
    """Print many objects: ``table`` template by default, ``-q`` prints ``quiet_field`` only;
    ``noheading``: a table's rows alone, aligned among themselves (podman's ``--noheading``)."""
    if quiet and quiet_field:
        write("".join(f"{item[quiet_field]}\n" for item in items))
        return
    if not fmt or fmt.strip() == "table":
        fmt = table
    if noheading and fmt.startswith("table "):
        write(headless(items, fmt))
        return
    if headers is not None:  # plain fields (the default tables) need no template engine
        from capsa.fastpath.table import format_simple

        simple = format_simple(fmt, items, headers)
        if simple is not None:
            write(simple)
            return
    from capsa.formatting import TemplateError, format_items

    try:
        text = format_items(fmt, list(items), headers)
    except TemplateError as exc:
        raise _template_error(exc) from None
    write(text)


def headless(items: Sequence[dict[str, Any]], fmt: str) -> str:
    """A ``table`` template's rows alone, aligned among themselves (podman's ``--noheading``)."""
    from capsa.fastpath.table import tabwrite
    from capsa.formatting import TemplateError, format_items, table_body

    try:
        return tabwrite(format_items(table_body(fmt), list(items)))
    except TemplateError as exc:
        raise _template_error(exc) from None


def to_yaml(data: Any, indent: int = 0) -> str:
    """A small YAML rendering of plain data (dicts, lists, scalars), as podman's ``info`` prints."""
    from collections.abc import Mapping

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
    from collections.abc import Mapping

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
        import json

        return json.dumps(text)
    return text
