"""``capsa help [COMMAND...]``: a command's help page, as ``podman help`` (``capsa help system
df`` is ``capsa system df --help``). :func:`capsa.cli.main.main` turns the words into that
request before typer (so the page comes from the help cache when it can); this command makes
``help`` appear in the command list and in completions.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    import typer

    from capsa.cli.options import Annotated, Optional


def help_(command: Annotated[Optional[list[str]], typer.Argument(help="The command to show the help of")] = None) -> None:
    """Help about any command."""
    from capsa.cli.context import Exit
    from capsa.cli.main import main

    raise Exit(main([*(command or []), "--help"]))


def register(app: typer.Typer) -> None:
    app.command("help")(help_)
