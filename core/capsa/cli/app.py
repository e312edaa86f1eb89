"""The typer application: global flags, command groups, and commands added by hook plugins."""
from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from capsa.cli.state import LOG_LEVELS, GlobalOptions, Session

LogLevel = Enum("LogLevel", {name: name for name in LOG_LEVELS}, type=str)  # type: ignore[misc]

HELP = "capsa: a daemonless container engine with pluggable drivers (podman's commands and flags)."


def _root_callback(
    ctx: typer.Context,
    root: Annotated[Optional[str], typer.Option("--root", help="Path to the root directory in which data, including images, is stored")] = None,
    runroot: Annotated[Optional[str], typer.Option("--runroot", help="Path to the 'run directory' where all state information is stored")] = None,
    storage_driver: Annotated[Optional[str], typer.Option("--storage-driver", help="Select which storage driver is used to manage storage of images and containers")] = None,
    storage_opt: Annotated[Optional[list[str]], typer.Option("--storage-opt", help="Used to pass an option to the storage driver (KEY=VALUE or DRIVER.KEY=VALUE)")] = None,
    log_level: Annotated[LogLevel, typer.Option("--log-level", case_sensitive=False, help="Log messages above specified level")] = LogLevel.warn,  # type: ignore[attr-defined]
    version: Annotated[bool, typer.Option("--version", "-v", help="Print the version and exit")] = False,
) -> None:
    if version:
        from capsa import __version__

        typer.echo(f"capsa version {__version__}")
        raise typer.Exit(0)
    level = log_level.value
    if level in ("debug", "info"):
        import logging

        logging.basicConfig(level=level.upper(), format="level=%(levelname)s msg=%(message)s")
    ctx.obj = Session(GlobalOptions(root, runroot, storage_driver, list(storage_opt or []), level))


def build_app() -> typer.Typer:
    """The whole CLI: built-in groups plus whatever hook plugins register."""
    from capsa import plugins
    from capsa.cli import completion, plugins_cmd, system

    app = typer.Typer(
        name="capsa",
        help=HELP,
        add_completion=True,
        pretty_exceptions_enable=False,
        pretty_exceptions_show_locals=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root_callback)
    system.register(app)
    plugins_cmd.register(app)
    completion.register(app)
    plugins.load_hook_plugins()
    plugins.call_each_warning("capsa_register_commands", app=app)
    return app


def run_command(app: typer.Typer, args: list[str]) -> int:
    """Run the app on ``args`` without typer's own error printing; usage errors exit 125."""
    from capsa.errors import UsageError

    command = typer.main.get_command(app)
    try:
        rv = command.main(args=args, prog_name="capsa", standalone_mode=False)
    except typer.TyperException as exc:
        ctx = getattr(exc, "ctx", None)
        path = ctx.command_path if ctx is not None else "capsa"
        if type(exc).__name__ == "NoArgsIsHelpError":
            raise UsageError(f"missing command '{path} COMMAND'", hint=f"Try '{path} --help' for more information.") from None
        raise UsageError(exc.format_message(), hint=f"See '{path} --help'") from None
    except typer.Abort:
        return 130
    return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
