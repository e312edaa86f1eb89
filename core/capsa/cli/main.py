"""``main()``: fast paths, hook plugin loading, and the CLI's only error boundary.

``--version`` answers before typer is imported; ``--help`` is served from the help cache when
it can be (see :mod:`capsa.cli.helpcache`): pages are recorded only for requests made of
command names alone (``capsa system info --help``), never for ``capsa run IMAGE cmd --help``. Everything else builds the typer app and runs it.
Errors print ``Error: <message>`` and a hint on stderr and exit with podman's codes.
"""
from __future__ import annotations

import os
import sys

from capsa import __version__
from capsa.errors import EXIT_ENGINE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

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


CLOSED = -1000  # internal code: standard output's reader went away (not -1: a container timed out by
# `run --timeout` exits -1, as podman's, and the process exit status is then 255)


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


def entry() -> None:
    """The ``capsa`` program: :func:`main`, then leave without the interpreter's teardown, which
    costs milliseconds for the modules a command loaded and has nothing left to do: standard
    output and error are flushed here, and capsa keeps no other buffered file open."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _dispatch(args: list[str]) -> int:
    if args in (["--version"], ["-v"]):
        sys.stdout.write(f"capsa version {__version__}\n")
        return 0
    if not command_words(args) and "_CAPSA_COMPLETE" not in os.environ:  # (shell completion sends no arguments)
        _guarded(False, lambda: _help(["--help"]))  # (podman's: the page, then the error)
        _print_error("missing command 'capsa COMMAND'")
        return EXIT_ENGINE
    args = with_optional_values(args)
    topic = help_topic(args) if "_CAPSA_COMPLETE" not in os.environ else None
    if topic is not None:  # ``capsa help system df``: ``capsa system df --help``
        return _guarded(_debug_requested(args), lambda: _help(topic))
    help_request = bool(args) and args[-1] in HELP_FLAGS
    if help_request:
        from capsa.cli import helpcache

        cached = helpcache.lookup(args)
        if cached is not None:
            sys.stdout.write(cached)
            return 0
    debug = _debug_requested(args)
    if not help_request and "_CAPSA_COMPLETE" not in os.environ:
        refused = _guarded(debug, lambda: _check_globals(args) or _refuse(args))
        if refused:
            return refused
    lean = _launch_route(args) if "_CAPSA_COMPLETE" not in os.environ else None
    if lean is not None:
        from capsa.cli.runflags import HelpRequested

        try:
            return _guarded(debug, lambda: _launch(*lean))
        except HelpRequested:
            pass
    table = None
    if "_CAPSA_COMPLETE" not in os.environ:
        from capsa.cli import parsetable

        table = parsetable.load()
        if table is not None and not help_request:
            from capsa.cli.dispatch import dispatch

            code = _guarded(debug, lambda: dispatch(args, table))
            if code is not None:
                return code
    rebuild = table is None and "_CAPSA_COMPLETE" not in os.environ
    return _guarded(debug, lambda: _typer_run(args, help_request, rebuild))


def _refuse(args: list[str]) -> int:
    """Refuse a flag :mod:`capsa.cli.refusals` lists for the command (run/create/exec: their
    own parser does); 0 when there is none."""
    from capsa.cli import refusals

    words = list(_words(args))[:3]
    for n in (3, 2, 1):
        path = tuple(word for _, word in words[:n])
        if len(path) == n and path in refusals.REFUSED and list(path) not in LAUNCH_COMMANDS:
            refusals.check(path, args[words[n - 1][0] + 1:])
            return 0
    return 0


def help_topic(args: list[str]) -> list[str] | None:
    """For ``capsa [GLOBAL FLAGS] help [COMMAND...]``, the request for that page (the global
    flags, the command words, ``--help``); None otherwise (``help --help`` is help's own page)."""
    words = list(_words(args))
    if not words or words[0][1] != "help":
        return None
    at = words[0][0]
    topic = args[at + 1:]
    if any(word.startswith("-") for word in topic):
        return None
    return [*args[:at], *topic, "--help"]


def _help(request: list[str]) -> int:
    """The page ``request`` asks for; an unknown command is an unknown help topic, answered as
    podman (cobra) does: the topic and the root's usage on standard error, exit 0."""
    from capsa.cli import helpcache
    from capsa.errors import UsageError

    cached = helpcache.lookup(request)
    if cached is not None:
        sys.stdout.write(cached)
        return 0
    try:
        return _typer_run(request, True)
    except UsageError as exc:
        if not exc.message.startswith("unrecognized command"):
            raise
    import contextlib
    import io

    topic = [word for _, word in _words(request[:-1])]
    page = io.StringIO()
    with contextlib.redirect_stdout(page):
        _help(["--help"])
    usage = page.getvalue()
    usage = usage[usage.find("Usage:"):]
    sys.stderr.write(f"Unknown help topic [{' '.join(f'`{w}`' for w in topic)}]\n{usage}")
    return 0


def _launch(command: str, rest: list[str], before: int | None = None) -> int:
    """``run``/``create``, without the cyclic garbage collector: its automatic passes over the
    objects of the ~40 modules this path imports cost ~0.5 ms, and what such a command makes
    (records, messages, relayed output) is freed by reference counting. The monitor it forks
    turns the collector back on (:mod:`capsa.container.monitor_fork`)."""
    import gc

    gc.disable()
    if command == "exec":
        from capsa.cli import execute

        return execute.main(rest, before)
    from capsa.cli import launch

    return launch.main(command, rest, before)


# The global flags that take a value (runflags.GLOBAL_FLAGS declares them with their kinds, app.py
# as typer options; tests/test_parity_global.py holds the three together).
VALUED_GLOBALS = ("--root", "--runroot", "--storage-driver", "--storage-opt", "--log-level", "--runtime",
                  "--runtime-flag", "--cgroup-manager", "--tmpdir", "--volumepath", "--network-config-dir")
LOG_LEVELS = ("trace", "debug", "info", "warn", "warning", "error", "fatal", "panic")


def silence_stdout() -> None:
    """podman's ``--noout``: standard output goes to /dev/null for the rest of the command."""
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _global_values(args: Sequence[str], flag: str) -> list[str]:
    """The values given to the global ``flag`` in ``args`` (before ``--``), in order."""
    out = []
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == flag and i + 1 < len(args):
            out.append(args[i + 1])
        elif arg.startswith(flag + "="):
            out.append(arg[len(flag) + 1:])
    return out


def _check_globals(args: list[str]) -> int | None:
    """Before any parsing, as podman's root command does: a global flag capsa refuses given
    before the command word (after it, the parsers refuse one the command does not take itself:
    ``build --ssh`` is build's own), ``--log-level`` with an unknown level (podman's message,
    exit 1), ``--noout``. Returns the exit code when the command must not run."""
    from capsa.cli import refusals

    globals_refused = refusals.REFUSED.get((), {})
    words = list(_words(args))
    first = next((i for i, word in words if not word.startswith("-")), len(args))
    launch = [w for _, w in words[:2]] in LAUNCH_COMMANDS or [w for _, w in words[:1]] in LAUNCH_COMMANDS
    for arg in args[:first]:
        flag = arg.split("=", 1)[0]
        if flag in globals_refused:
            raise refusals.refusal(flag, globals_refused[flag])
    for level in _global_values(args[:first] if launch else args, "--log-level"):
        if level.lower() not in LOG_LEVELS:
            print(f'Log Level "{level}" is not supported, choose from: {", ".join(LOG_LEVELS)}', file=sys.stderr)
            return 1
    noout = [arg.partition("=") for arg in args[:first] if arg.split("=", 1)[0] in BOOL_GLOBALS]
    if not launch and noout and (not noout[-1][1] or noout[-1][2].lower() in ("true", "1", "t")):  # (the last one counts)
        silence_stdout()  # (run/create's own parser applies it: the container's output stays, as podman's)
    return None


def _words(args: Sequence[str]) -> Iterator[tuple[int, str]]:
    """(index, word) of the words of ``args`` that are not global flags or their values
    (``--root X`` and ``--root=X`` alike)."""
    i = 0
    while i < len(args):
        if args[i] in VALUED_GLOBALS:
            i += 2
            continue
        name = args[i].split("=", 1)[0]
        if name not in VALUED_GLOBALS and name not in BOOL_GLOBALS:
            yield i, args[i]
        i += 1


BOOL_GLOBALS = ("--noout",)


# Flags whose value is optional, as pflag's NoOptDefVal: given bare, they take this value; a value
# must then be attached with "=" (podman's ``build --pull`` means ``--pull=true``).
OPTIONAL_VALUES: dict[tuple[str, ...], dict[str, str]] = {
    ("build",): {"--pull": "true"},
    ("image", "build"): {"--pull": "true"},
}


def with_optional_values(args: list[str]) -> list[str]:
    """``args`` with each bare flag of :data:`OPTIONAL_VALUES` of its command given its value
    (``build --pull .`` -> ``build --pull=true .``); flags after ``--`` are left alone."""
    words = command_words(args)
    flags = next((f for path, f in OPTIONAL_VALUES.items() if tuple(words[:len(path)]) == path), None)
    if not flags:
        return args
    out, start = list(args), args.index(words[0]) + 1
    for i in range(start, len(out)):
        if out[i] == "--":
            break
        if out[i] in flags:
            out[i] = f"{out[i]}={flags[out[i]]}"
    return out


def command_words(args: Sequence[str]) -> list[str]:
    """The words of ``args`` that are not global flags or their values, in order."""
    return [word for _, word in _words(args)]


LAUNCH_COMMANDS = (["run"], ["create"], ["container", "run"], ["container", "create"], ["exec"], ["container", "exec"])


def _launch_route(args: Sequence[str]) -> tuple[str, list[str], int] | None:
    """``run``/``create`` go straight to :mod:`capsa.cli.launch` (``exec`` to :mod:`capsa.cli.execute`), without typer: returns the
    command, what it parses (the global flags before it, and everything after it) and how many
    of those words came before it (``--noout`` is taken there only)."""
    words: list[str] = []
    at: list[int] = []
    for i, word in _words(args):
        if word.startswith("-") or len(words) == 2:
            return None
        words.append(word)
        at.append(i)
        if words in LAUNCH_COMMANDS:
            global_flags = [a for j, a in enumerate(args[:i]) if j not in at]
            return words[-1], global_flags + list(args[i + 1:]), len(global_flags)
    return None


def _typer_run(args: list[str], help_request: bool, rebuild: bool = False) -> int:
    """typer runs ``args``; then, when the parse table was missing or stale (``rebuild``), it is
    derived from the whole app for the next commands (:mod:`capsa.cli.parsetable`)."""
    from capsa.cli.app import build_command, is_command_path, run_command

    command = build_command(args)
    try:
        if help_request and is_command_path(command, args[:-1]):
            from capsa.cli import helpcache

            return helpcache.capture(args, lambda: run_command(command, args))
        return run_command(command, args)
    finally:
        if rebuild:
            from capsa import plugins
            from capsa.cli import parsetable

            if not plugins.failed_plugins:
                try:
                    parsetable.rebuild()
                except Exception:  # a cache that cannot be made only costs the next command's speed
                    if _debug_requested(args):
                        import traceback

                        traceback.print_exc()


def _guarded(debug: bool, body: Callable[[], int]) -> int:
    """The error boundary: capsa's errors print one line and a hint; anything else prints an
    internal error (the traceback only with ``--log-level debug``)."""
    from capsa.cli.output import OutputClosed
    from capsa.errors import CapsaError

    try:
        return body()
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
