"""typer option types that many commands share: ``--format`` and ``--quiet``."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

FORMAT_HELP = "Output format: json, or a Go template such as '{{.Field}}' or 'table {{.A}}\\t{{.B}}'"
FormatOpt = Annotated[Optional[str], typer.Option("--format", "-f", help=FORMAT_HELP)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the identifying column")]
