"""``capsa completion [-f FILE] [--no-desc] SHELL``: print (or write) a shell completion script,
as podman 4.3's ``podman completion``; capsa never edits a shell's start-up files itself.

The scripts are typer's: the shell runs ``capsa`` with ``_CAPSA_COMPLETE`` set and reads the
completions it prints. ``--no-desc`` makes the script also set ``_CAPSA_COMPLETE_NO_DESC``, and
:func:`prepare_completion` then leaves the descriptions out.
"""
from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

COMPLETE_VAR = "_CAPSA_COMPLETE"
NO_DESC_VAR = "_CAPSA_COMPLETE_NO_DESC"


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"


def script(shell: str, descriptions: bool = True) -> str:
    """The completion script for ``shell``, ending with a newline."""
    from typer.completion import get_completion_script

    text = get_completion_script(prog_name="capsa", complete_var=COMPLETE_VAR, shell=shell)
    if not descriptions:
        if shell == "powershell":
            text = text.replace(f'$Env:{COMPLETE_VAR} = "complete_powershell"',
                                f'$Env:{COMPLETE_VAR} = "complete_powershell"\n    $Env:{NO_DESC_VAR} = "1"')
            text = text.replace(f'$Env:{COMPLETE_VAR} = ""', f'$Env:{COMPLETE_VAR} = ""\n    $Env:{NO_DESC_VAR} = ""')
        else:
            text = text.replace(f"{COMPLETE_VAR}=complete_", f"{NO_DESC_VAR}=1 {COMPLETE_VAR}=complete_")
    return text + "\n"


def prepare_completion(no_descriptions: bool) -> None:
    """Before a shell's completion request is answered: register typer's shell classes (typer
    does it only with its installer options, which capsa does not offer) and, when asked, make
    them print completions without descriptions."""
    from typer import _completion_classes as classes

    classes.completion_init()
    if not no_descriptions:
        return
    for cls in (classes.BashComplete, classes.ZshComplete, classes.FishComplete, classes.PowerShellComplete):
        original = cls.format_completion

        def without_help(self: object, item: object, _original: object = original) -> str:
            item.help = None  # type: ignore[attr-defined]
            return _original(self, item)  # type: ignore[operator, no-any-return]

        cls.format_completion = without_help  # type: ignore[method-assign]


def completion(
    shell: Annotated[Shell, typer.Argument(help="bash, zsh, fish or powershell")],
    file: Annotated[Optional[str], typer.Option("--file", "-f", help="Output the completion to file rather than stdout")] = None,
    no_desc: Annotated[bool, typer.Option("--no-desc", help="Don't include descriptions in the completion output")] = False,
) -> None:
    """Generate shell autocompletions: e.g. 'source <(capsa completion bash)', or write them to a
    file your shell reads with -f (capsa does not edit your shell's start-up files)."""
    text = script(shell.value, descriptions=not no_desc)
    if file is None:
        from capsa.cli import output

        output.write(text)
        return
    from capsa.errors import UsageError

    try:
        with open(file, "w") as fh:
            fh.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {file}: {exc.strerror}", hint="give a file in a directory that exists") from None


def register(app: typer.Typer) -> None:
    app.command("completion")(completion)
