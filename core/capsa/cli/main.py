"""``main()``: fast paths, hook plugin loading, and the CLI's only error boundary.

``--version`` answers before typer is imported; ``--help`` is served from the help cache when
it can be (see :mod:`capsa.cli.helpcache`). Everything else builds the typer app and runs it.
Errors print ``Error: <message>`` and a hint on stderr and exit with podman's codes.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from capsa import __version__
from capsa.errors import EXIT_ENGINE

HELP_FLAGS = ("--help", "-h")


def _debug_requested(argv: Sequence[str]) -> bool:
    for i, arg in enumerate(argv):
        if arg == "--log-level=debug" or (arg == "--log-level" and argv[i + 1 : i + 2] == ["debug"]):
            return True
    return False


def _print_error(message: str, hint: str = "") -> None:
    print(f"Error: {message}", file=sys.stderr)
    if hint:
        print(hint, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run capsa with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-v"]):
        print(f"capsa version {__version__}")
        return 0
    if not args and "_CAPSA_COMPLETE" not in os.environ:  # shell completion sends no arguments
        _print_error("missing command 'capsa COMMAND'", "Try 'capsa --help' for more information.")
        return EXIT_ENGINE
    debug = _debug_requested(args)
    help_request = bool(args) and args[-1] in HELP_FLAGS
    if help_request:
        from capsa.cli import helpcache

        cached = helpcache.lookup(args)
        if cached is not None:
            sys.stdout.write(cached)
            return 0
    try:
        return _run(args, debug, help_request)
    except BrokenPipeError:
        # The reader went away (``capsa plugins | head``): not an error of ours.
        sys.stdout = None  # type: ignore[assignment]
        return 0


def _run(args: list[str], debug: bool, help_request: bool) -> int:
    from capsa.errors import CapsaError

    try:
        from capsa.cli.app import build_app, run_command

        app = build_app()
        if help_request:
            from capsa.cli import helpcache

            return helpcache.capture(args, lambda: run_command(app, args))
        return run_command(app, args)
    except CapsaError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        _print_error(exc.message, exc.hint)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the boundary: no traceback unless --log-level debug
        if debug:
            import traceback

            traceback.print_exc()
        _print_error(
            f"internal error: {type(exc).__name__}: {exc}",
            "run again with --log-level debug for the traceback, and report it",
        )
        return EXIT_ENGINE


if __name__ == "__main__":
    sys.exit(main())
