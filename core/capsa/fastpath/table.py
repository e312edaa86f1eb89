"""Tables of plain fields without the Go template engine (which imports ``re``, ``typing``,
``functools``: milliseconds that ``ps`` and ``images`` should not pay for their default output).

Contract: :func:`format_simple` returns exactly what ``capsa.formatting.format_items`` returns
for a ``table`` template made only of ``{{.Field}}`` actions and literal text, over items that
are mappings holding each field as a string or an integer, with a header for each field in
``headers``; for anything else it returns None and the caller uses the template engine.
:func:`tabwrite` is the one implementation of Go's text/tabwriter layout (the engine uses it).
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def tabwrite(text: str, minwidth: int = 12, padding: int = 2) -> str:
    """Go's text/tabwriter (padchar ' ', no flags): cells end with a tab; a column block (the
    consecutive lines with a cell in that column) is max(minwidth, widest cell + padding) wide;
    the text after a line's last tab belongs to no column and is written as is."""
    rows = [line.split("\t") for line in text.split("\n")]
    for col in range(max(len(r) for r in rows) - 1):
        i = 0
        while i < len(rows):
            j = i
            while j < len(rows) and len(rows[j]) - 1 > col:
                j += 1
            if j == i:
                i += 1
                continue
            width = max(minwidth, *(len(rows[k][col]) + padding for k in range(i, j)))
            for k in range(i, j):
                rows[k][col] = rows[k][col].ljust(width)
            i = j
    return "\n".join("".join(r) for r in rows)


def _pieces(template: str) -> list[tuple[str, str]] | None:
    """(literal text, field name) pairs of a template of ``{{.Field}}`` actions (the last pair's
    field is empty), or None if it has anything else."""
    out = []
    rest = template
    while True:
        start = rest.find("{{")
        if start == -1:
            if "}}" in rest:
                return None
            out.append((rest, ""))
            return out
        end = rest.find("}}", start)
        literal, action = rest[:start], rest[start + 2:end].strip(" \t")
        if end == -1 or "}}" in literal or action[:1] != "." or not action[1:] or not set(action[1:]) <= _NAME_CHARS:
            return None
        out.append((literal, action[1:]))
        rest = rest[end + 2:]


def format_simple(fmt: str, items: Sequence[Mapping[str, Any]], headers: Mapping[str, str]) -> str | None:
    """The table ``format_items(fmt, items, headers)`` prints, or None when ``fmt`` or the items
    are beyond plain fields (see the module's contract)."""
    if not fmt.startswith("table "):
        return None
    text = fmt[6:].replace(" ", "\t").replace("\\t", "\t").replace("\\n", "\n")  # (spaces: formatting.table_body)
    pieces = _pieces(text if text.endswith("\n") else text + "\n")
    if pieces is None or any(field and field not in headers for _, field in pieces):
        return None
    out = ["".join(literal + (headers[field] if field else "") for literal, field in pieces)]
    for item in items:
        parts = []
        for literal, field in pieces:
            parts.append(literal)
            if not field:
                continue
            if not isinstance(item, dict) or field not in item:
                return None
            value = item[field]
            if isinstance(value, str):
                parts.append(value)
            elif isinstance(value, int) and not isinstance(value, bool):
                parts.append(str(value))
            else:
                return None
        out.append("".join(parts))
    return tabwrite("".join(out))
