"""What a command gets from its caller and gives back: the engine session, kept in the root
context by the root callback (typer's context, or capsa.cli.dispatch's stand-in), and an exit
status without an error message."""
from __future__ import annotations

from capsa.engine.session import GlobalOptions, Session

TYPE_CHECKING = False
if TYPE_CHECKING:
    import typer


class Exit(Exception):
    """End the command with ``code`` and no message (``exists`` answering no, a partial
    failure already reported): what typer.Exit does, without typer."""

    def __init__(self, code: int = 1) -> None:
        super().__init__(code)
        self.exit_code = code


def session(ctx: typer.Context) -> Session:
    """The Session the root callback stored in the context."""
    root = ctx.find_root()
    if not isinstance(root.obj, Session):
        root.obj = Session(GlobalOptions())
    return root.obj


def cidfile_ids(paths: list[str]) -> list[str]:
    """The container ids in the ``--cidfile`` files ``paths`` (``run --cidfile`` wrote them)."""
    from capsa.engine.containers import read_cidfiles

    return read_cidfiles(paths)
