"""``exec`` (and ``container exec``): run a command in a running container.

Like ``run``, ``main()`` sends it here without typer (:func:`main`, parsed with
:func:`capsa.cli.runflags.parse` over :data:`FLAGS`): flags come before CONTAINER, everything
after it is the command, verbatim (``capsa exec c ls -l``: ``-l`` is ls's). The typer command
built from the same table serves ``--help`` and completion. podman 4.3's flags, each working:
``-d``, ``--detach-keys``, ``-e``, ``--env-file``, ``-i``, ``-l``, ``--preserve-fds``,
``--privileged``, ``-t``, ``-u``, ``-w``.
"""
from __future__ import annotations

from capsa.cli.runflags import BOOL, INT, MULTI, STR
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import typer

    from capsa.engine.session import Session

FLAGS: tuple[tuple[str, tuple[str, ...], str, Any, str], ...] = (
    ("detach", ("--detach", "-d"), BOOL, False, "Run the exec session in detached mode (backgrounded); print its id"),
    ("detach_keys", ("--detach-keys",), STR, None,
     "Key sequence for detaching (with -it): a letter or ctrl-<value>, value a-z, @, ^, _, a bracket or a "
     "backslash; comma-separated (default ctrl-p,ctrl-q; \"\" disables it)"),
    ("env", ("--env", "-e"), MULTI, None, "Set environment variables"),
    ("env_file", ("--env-file",), MULTI, None, "Read in a file of environment variables"),
    ("interactive", ("--interactive", "-i"), BOOL, False, "Keep STDIN open even if not attached"),
    ("latest", ("--latest", "-l"), BOOL, False, "Act on the latest container capsa is aware of"),
    ("preserve_fds", ("--preserve-fds",), INT, 0, "Pass N additional file descriptors (3 to 3+N-1) to the process"),
    ("privileged", ("--privileged",), BOOL, False, "Give the process extended privileges (every capability)"),
    ("tty", ("--tty", "-t"), BOOL, False, "Allocate a pseudo-TTY. The default is false"),
    ("user", ("--user", "-u"), STR, None, "Sets the username or UID used and optionally the groupname or GID for the specified command"),
    ("workdir", ("--workdir", "-w"), STR, None, "Working directory inside the container"),
)


def main(args: list[str], before: int | None = None) -> int:
    """``capsa [GLOBAL FLAGS] exec ARGS``: ``args`` are the words after the command."""
    from capsa.cli import runflags
    from capsa.engine.session import Session, global_options

    options, first, rest = runflags.parse("exec", args, FLAGS, optional_first=True, before=before)
    sess = Session(global_options(options))
    # (--noout: podman's leaves the command's own output alone, and exec prints nothing else)
    if options["log_level"]:
        sess.set_log_level(options["log_level"].lower())
    try:
        return run(sess, first, rest, options)
    finally:
        sess.close()


def run(sess: Session, first: str, rest: list[str], o: dict[str, Any]) -> int:
    """exec with parsed flags: ``first`` is CONTAINER (the command's first word with --latest)."""
    from capsa.engine.execute import exec_command

    if not first and not o.get("latest"):
        raise UsageError("exec requires the name or ID of a container or the --latest flag",
                         hint="capsa exec [options] CONTAINER COMMAND [ARG...]")
    ref, command = (None, ([first] if first else []) + rest) if o.get("latest") else (first, rest)
    got = exec_command(sess, ref, bool(o.get("latest")), command, o)
    if isinstance(got, str):  # -d: the session's id
        from capsa.cli.output import write

        write(f"{got}\n")
        return 0
    return got or 0  # None: detached (a lost waiter raised, exit 125)


def _command() -> Any:
    """The typer command for ``exec`` built from :data:`FLAGS` (``--help``, completion)."""
    import inspect as pyinspect

    import typer

    from capsa.cli.context import Exit, session
    from capsa.cli.options import Annotated, Optional

    kinds = {BOOL: bool, STR: Optional[str], MULTI: Optional[list[str]], INT: int}
    P = pyinspect.Parameter
    params = [
        P("ctx", P.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        P("container", P.POSITIONAL_OR_KEYWORD, default=None, annotation=Annotated[Optional[str], typer.Argument(
            help="Container name or id (with --latest: the command's first word)")]),
        P("command", P.POSITIONAL_OR_KEYWORD, default=None, annotation=Annotated[Optional[list[str]], typer.Argument(
            help="Command and arguments")]),
    ]
    for param, names, kind, default, help_ in FLAGS:
        params.append(P(param, P.POSITIONAL_OR_KEYWORD, default=default,
                        annotation=Annotated[kinds[kind], typer.Option(*names, help=help_)]))

    def command(ctx: typer.Context, container: Optional[str] = None, command: Optional[list[str]] = None,
                **options: Any) -> None:
        code = run(session(ctx), container or "", list(command or []), options)
        if code:
            raise Exit(code)

    command.__doc__ = """Run a process in a running container.

Examples:
  capsa exec -it ctrID ls
  capsa exec -it -w /tmp myCtr pwd
  capsa exec --user root ctrID ls
"""
    command.__name__ = "exec"
    command.__signature__ = pyinspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command


def register(app: typer.Typer) -> None:
    group = next(g.typer_instance for g in app.registered_groups if g.name == "container")
    command = _command()
    for target in (app, group):
        target.command("exec", context_settings={"help_option_names": ["--help"],
                                                 "allow_interspersed_args": False})(command)
