"""Writing to standard output, where the reader may go away (``capsa images | head -1``).

Kept apart from :mod:`capsa.cli.output` (which needs typer for its option types) so that the
commands that run without typer can use it too.
"""
from __future__ import annotations

import sys


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
