"""Command groups that several command modules add to (``kube``: ``kube generate`` in
:mod:`capsa.cli.kube_generate`, ``kube play``/``kube down`` in :mod:`capsa.cli.kube_play`):
whichever module registers first makes the group, the others find it."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import typer


def get_or_add_group(parent: typer.Typer, name: str, help: str) -> typer.Typer:
    """The typer group ``name`` under ``parent``, made (with ``help``) if it is not there yet."""
    import typer

    for group in parent.registered_groups:
        if group.name == name and group.typer_instance is not None:
            return group.typer_instance
    group = typer.Typer(help=help, no_args_is_help=True)
    parent.add_typer(group, name=name)
    return group
