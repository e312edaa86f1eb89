"""``capsa completion SHELL``: print a shell completion script, as ``podman completion`` does."""
from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion(shell: Annotated[Shell, typer.Argument(help="bash, zsh or fish")]) -> None:
    """Generate shell autocompletions: source the output, e.g. 'source <(capsa completion bash)'."""
    from typer.completion import get_completion_script

    typer.echo(get_completion_script(prog_name="capsa", complete_var="_CAPSA_COMPLETE", shell=shell.value))


def register(app: typer.Typer) -> None:
    app.command("completion")(completion)
