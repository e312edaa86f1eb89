"""``capsa plugins``: installed drivers of every kind and hook plugins, listed without importing."""
from __future__ import annotations

from typing import Any

import typer

from capsa.cli import output
from capsa.cli.options import FormatOpt, QuietOpt
from capsa.cli.context import session

TABLE = "table {{.Kind}}\t{{.Name}}\t{{.EntryPoint}}\t{{.Package}}\t{{.Version}}\t{{.Selected}}"
HEADERS = {"Kind": "KIND", "Name": "NAME", "EntryPoint": "ENTRY POINT", "Package": "PACKAGE", "Version": "VERSION", "Selected": "SELECTED"}


def plugin_rows(selected: dict[str, str]) -> list[dict[str, Any]]:
    """One row per entry point, from a fresh scan of the installed distributions."""
    from capsa.entrypoints import DRIVER_GROUPS, HOOKS_GROUP, load_index

    kind_of = {group: kind for kind, group in DRIVER_GROUPS.items()}
    kind_of[HOOKS_GROUP] = "hooks"
    rows = []
    for e in load_index(refresh=True):
        kind = kind_of[e.group]
        rows.append(
            {
                "Kind": kind,
                "Name": e.name,
                "EntryPoint": e.value,
                "Package": e.dist,
                "Version": e.version,
                "Selected": "yes" if kind == "hooks" or selected.get(kind) == e.name else "",
            }
        )
    return rows


def plugins(ctx: typer.Context, format: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """List the installed drivers of every kind and the hook plugins (without importing them)."""
    from capsa.config import KINDS

    cfg = session(ctx).config
    rows = plugin_rows({kind: cfg.driver(kind) for kind in KINDS})
    output.emit_list(rows, format, TABLE, HEADERS, quiet_field="Name", quiet=quiet)


def register(app: typer.Typer) -> None:
    app.command("plugins")(plugins)
