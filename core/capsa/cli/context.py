"""The engine session of a typer command, kept in the root context by the root callback."""
from __future__ import annotations

import typer

from capsa.engine.session import GlobalOptions, Session


def session(ctx: typer.Context) -> Session:
    """The Session the root callback stored in the context."""
    root = ctx.find_root()
    if not isinstance(root.obj, Session):
        root.obj = Session(GlobalOptions())
    return root.obj
