"""``main()``: fast paths, hook plugin loading, and the CLI's only error boundary.

``--version`` answers before typer is imported; ``--help`` is served from the help cache when
it can be (see :mod:`capsa.cli.helpcache`): pages are recorded only for requests made of
command names alone (``capsa system info --help``), never for ``capsa run IMAGE cmd --help``. Everything else builds the typer app and runs it.
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
        if arg in ("--log-level=debug", "--log-level=trace") or (
            arg == "--log-level" and argv[i + 1 : i + 2] in (["debug"], ["trace"])
        ):
            return True
    return False


def _print_error(message: str, hint: str = "") -> None:
    print(f"Error: {message}", file=sys.stderr)
    if hint:
        print(hint, file=sys.stderr)


CLOSED = -1  # internal code: standard output's reader went away


def main(argv: Sequence[str] | None = None) -> int:
    """Run capsa with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = _dispatch(args)
        sys.stdout.flush()
    except BrokenPipeError:
        code = CLOSED
    if code == CLOSED:
        # The reader went away (``capsa images | head -1``): not an error of ours. Point fd 1
        # at /dev/null so that the interpreter's final flush does not complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0
    return code


def _dispatch(args: list[str]) -> int:
    if args in (["--version"], ["-v"]):
        sys.stdout.write(f"capsa version {__version__}\n")
        return 0
    if not args and "_CAPSA_COMPLETE" not in os.environ:  # shell completion sends no arguments
        _print_error("missing command 'capsa COMMAND'", "Try 'capsa --help' for more information.")
        return EXIT_ENGINE
    help_request = bool(args) and args[-1] in HELP_FLAGS
    if help_request:
        from capsa.cli import helpcache

        cached = helpcache.lookup(args)
        if cached is not None:
            sys.stdout.write(cached)
            return 0
    if not help_request and _needs_monitor(args):
        from capsa.container import zygote

        zygote.prefork()  # its start-up overlaps ours: see capsa.container.zygote
    return _run(args, _debug_requested(args), help_request)


VALUED_GLOBALS = ("--root", "--runroot", "--storage-driver", "--storage-opt", "--log-level")


def command_words(args: Sequence[str]) -> list[str]:
    """The words of ``args`` that are not global flags or their values, in order."""
    words, i = [], 0
    while i < len(args):
        if args[i] in VALUED_GLOBALS:
            i += 2
            continue
        words.append(args[i])
        i += 1
    return words


def _needs_monitor(args: Sequence[str]) -> bool:
    words = [w for w in command_words(args) if not w.startswith("-")][:2]
    return bool(words) and (words[0] in ("run", "start") or words == ["container", "run"]
                            or words == ["container", "start"])


def _run(args: list[str], debug: bool, help_request: bool) -> int:
    from capsa.cli.output import OutputClosed
    from capsa.errors import CapsaError

    try:
        from capsa.cli.app import build_command, is_command_path, run_command

        command = build_command(args)
        if help_request and is_command_path(command, args[:-1]):
            from capsa.cli import helpcache

            return helpcache.capture(args, lambda: run_command(command, args))
        return run_command(command, args)
    except CapsaError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        _print_error(exc.message, exc.hint)
        return exc.exit_code
    except OutputClosed:
        return CLOSED
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
