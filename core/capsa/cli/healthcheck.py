"""``healthcheck run CONTAINER``: run a container's health check once (podman-healthcheck-run(1)).

Exit 0 and nothing printed when the check passes; ``unhealthy`` and exit 1 when it fails (also
while the container is still ``starting``); exit 125 for an error (no such container, no check,
not running). See :mod:`capsa.engine.health` for the recorded state and periodic checks.
"""
from __future__ import annotations

from capsa.cli import output
from capsa.cli.context import session

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    import typer

    from capsa.cli.options import Annotated


def run(
    ctx: typer.Context,
    container: Annotated[str, typer.Argument(metavar="CONTAINER", help="The container (name or id)", show_default=False)],
) -> None:
    """Run the health check of a container."""
    from capsa.engine.health import HEALTHY, run_check

    status = run_check(session(ctx), container)
    if status != HEALTHY:
        output.write("unhealthy\n")
        raise SystemExit(1)


def register(app: typer.Typer) -> None:
    import typer

    group = typer.Typer(name="healthcheck", help="Manage health checks on containers", no_args_is_help=True)
    group.command("run")(run)
    app.add_typer(group)
