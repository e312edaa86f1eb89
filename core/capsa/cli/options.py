"""What typer alone reads: the names the command modules' annotations use, bound into a module
when typer registers its commands.

The command modules import no typer (the parse table calls their commands without it: see
:mod:`capsa.cli.parsetable`). Their annotations are strings (``from __future__ import
annotations``) that typer evaluates in the module's namespace when it builds a command, so
:func:`bind` puts there, before the module's ``register(app)``, ``typer``, ``Annotated``,
``Optional`` and the option types many commands share (``--format``, ``--quiet``, ...). The
modules import the same names under ``TYPE_CHECKING`` for the type checker.
"""
from __future__ import annotations

from types import ModuleType
from typing import Annotated, Any, Optional

import typer

FORMAT_HELP = "Output format: json, or a Go template such as '{{.Field}}' or 'table {{.A}}\\t{{.B}}'"
FormatOpt = Annotated[Optional[str], typer.Option("--format", "-f", help=FORMAT_HELP)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the identifying column")]
NoTrunc = Annotated[bool, typer.Option("--no-trunc", help="Do not truncate output")]
Images = Annotated[list[str], typer.Argument(help="Images by name or id", show_default=False)]
ContainersArg = Annotated[Optional[list[str]], typer.Argument(help="Containers by name or id", show_default=False)]

NAMES: dict[str, Any] = {
    "typer": typer, "Annotated": Annotated, "Optional": Optional, "Any": Any, "FORMAT_HELP": FORMAT_HELP,
    "FormatOpt": FormatOpt, "QuietOpt": QuietOpt, "NoTrunc": NoTrunc, "Images": Images, "ContainersArg": ContainersArg,
}


def bind(module: ModuleType) -> ModuleType:
    """Give ``module`` the names its annotations use (never replacing one it defines itself)."""
    for name, value in NAMES.items():
        module.__dict__.setdefault(name, value)
    return module
