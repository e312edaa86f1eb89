"""The typer application: global flags, command groups, and commands added by hook plugins."""
from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from capsa.cli.context import Exit, session
from capsa.engine.session import LOG_LEVELS, Session

LogLevel = Enum("LogLevel", {name: name for name in LOG_LEVELS}, type=str)  # type: ignore[misc]

HELP = "capsa: a daemonless container engine with pluggable drivers (podman's commands and flags)."


def _print_version(value: bool) -> None:
    if value:
        from capsa import __version__

        typer.echo(f"capsa version {__version__}")
        raise typer.Exit(0)


def _root_callback(
    ctx: typer.Context,
    root: Annotated[Optional[str], typer.Option("--root", help="Path to the root directory in which data, including images, is stored")] = None,
    runroot: Annotated[Optional[str], typer.Option("--runroot", help="Path to the 'run directory' where all state information is stored")] = None,
    storage_driver: Annotated[Optional[str], typer.Option("--storage-driver", help="Select which storage driver is used to manage storage of images and containers")] = None,
    storage_opt: Annotated[Optional[list[str]], typer.Option("--storage-opt", help="Used to pass an option to the storage driver (KEY=VALUE or DRIVER.KEY=VALUE)")] = None,
    log_level: Annotated[LogLevel, typer.Option("--log-level", case_sensitive=False, help="Log messages above specified level (trace, debug, info, warn, warning, error, fatal, panic)")] = LogLevel.warn,  # type: ignore[attr-defined]
    runtime: Annotated[Optional[str], typer.Option("--runtime", help="Path or name of the OCI runtime (crun, runc): selects the oci isolation driver")] = None,
    runtime_flag: Annotated[Optional[list[str]], typer.Option("--runtime-flag", help="add global flags for the container runtime (oci isolation driver)")] = None,
    cgroup_manager: Annotated[Optional[str], typer.Option("--cgroup-manager", help='Cgroup manager to use ("cgroupfs"; "systemd" is refused)')] = None,
    tmpdir: Annotated[Optional[str], typer.Option("--tmpdir", help="Path to the tmp directory for libpod state content (accepted: capsa keeps its state under --runroot)")] = None,
    volumepath: Annotated[Optional[str], typer.Option("--volumepath", help="Path to the volume directory in which volume data is stored")] = None,
    network_config_dir: Annotated[Optional[str], typer.Option("--network-config-dir", help="Path of the configuration directory for networks")] = None,
    noout: Annotated[bool, typer.Option("--noout", help="do not output to stdout")] = False,
    version: Annotated[bool, typer.Option("--version", "-v", is_eager=True, callback=_print_version, help="Print the version and exit")] = False,
) -> None:
    from capsa.engine.session import global_options

    sess = Session(global_options({"root": root, "runroot": runroot, "storage_driver": storage_driver,
                                   "storage_opt": storage_opt, "runtime": runtime, "runtime_flag": runtime_flag,
                                   "cgroup_manager": cgroup_manager, "tmpdir": tmpdir, "volumepath": volumepath,
                                   "network_config_dir": network_config_dir}))
    sess.set_log_level(log_level.value)
    ctx.obj = sess
    ctx.call_on_close(sess.close)


BEFORE_COMMAND_ONLY = ("noout",)  # global flags podman takes before the command word only (`info --noout` is unknown)
GLOBAL_PARAMS = ("root", "runroot", "storage_driver", "storage_opt", "log_level", "runtime", "runtime_flag",
                 "cgroup_manager", "tmpdir", "volumepath", "network_config_dir", "noout")


def _record_global(ctx: typer.Context, param: typer.CallbackParam, value: object) -> None:
    """A global flag given after the subcommand (``capsa info --root X``), as podman allows."""
    from typer._click.core import ParameterSource

    if ctx.get_parameter_source(param.name or "") is not ParameterSource.COMMANDLINE:
        return
    from capsa.cli.dispatch import apply_late_global

    apply_late_global(session(ctx), str(param.name), getattr(value, "value", value))


def share_global_options(group: typer.main.TyperGroup) -> None:  # type: ignore[name-defined]
    """Make the root's global flags valid after every subcommand too (podman's persistent flags)."""
    import copy

    shared = [p for p in group.params if p.name in GLOBAL_PARAMS and p.name not in BEFORE_COMMAND_ONLY]
    stack = list(group.commands.values())
    while stack:
        command = stack.pop()
        for param in shared:
            clone = copy.copy(param)
            clone.expose_value = False
            clone.callback = _record_global
            clone.rich_help_panel = "Global Flags"  # type: ignore[attr-defined]
            command.params.append(clone)
        stack.extend(getattr(command, "commands", {}).values())


# The command modules in the order they register (some add to a group an earlier one made), and
# which of them a top-level command word needs: a command builds only its own part of the CLI,
# since turning every command's signature into click options costs more than the command.
MODULES = ("system", "images", "image_io", "pull", "push_cmd", "inspect", "containers", "container_more", "execute",
           "container_running", "ps", "containerfs", "commit_cmd", "attach_cmd", "cp", "volumes", "networks", "plugins_cmd",
           "completion", "help_cmd", "login", "build_cmd", "pods", "pod_more", "kube_generate", "kube_play",
           "healthcheck")
NEEDS: dict[str, tuple[str, ...]] = {
    **{w: ("system",) for w in ("info", "version", "system")},
    **{w: ("images",) for w in ("images", "tag", "untag", "rmi", "history")},
    "image": ("images", "image_io", "pull", "push_cmd", "containerfs", "build_cmd"),
    "build": ("images", "build_cmd"),
    "pull": ("images", "pull"),
    "push": ("images", "push_cmd"),
    **{w: ("images", "image_io") for w in ("import", "save", "load")},
    "inspect": ("inspect",),
    **{w: ("containers",) for w in ("run", "create", "start", "stop", "kill", "rm", "wait", "port")},
    **{w: ("containers", "ps") for w in ("ps", "logs")},
    **{w: ("containers", "container_more") for w in ("rename", "restart", "mount", "unmount", "umount")},
    **{w: ("containers", "container_running") for w in ("pause", "unpause", "top", "stats")},
    "container": ("containers", "container_more", "execute", "container_running", "ps", "containerfs", "commit_cmd",
                  "attach_cmd", "cp"),
    "commit": ("commit_cmd",),
    "attach": ("attach_cmd",),
    "exec": ("containers", "execute"),
    "cp": ("cp",),
    **{w: ("containerfs",) for w in ("diff", "export")},
    "volume": ("volumes",), "network": ("networks",), "plugins": ("plugins_cmd",), "completion": ("completion",), "help": ("help_cmd",),
    "login": ("login",), "logout": ("login",),
    "pod": ("pods", "pod_more"),
    "healthcheck": ("healthcheck",),
    "kube": ("kube_generate", "kube_play"), "generate": ("kube_generate",), "play": ("kube_play",),
}


def command_word(args: list[str]) -> str | None:
    """The top-level command in ``args`` (after the global flags), or None."""
    from capsa.cli.main import command_words

    return next((w for w in command_words(args) if not w.startswith("-")), None)


def build_app(args: list[str] | None = None) -> typer.Typer:
    """The CLI: the built-in commands ``args`` needs (all of them when unknown), plus whatever
    hook plugins register."""
    import importlib

    from capsa import plugins

    import os

    if "_CAPSA_COMPLETE" in os.environ:  # a shell asks for completions (typer's installers are not offered)
        from capsa.cli.completion import prepare_completion

        prepare_completion(no_descriptions=bool(os.environ.get("_CAPSA_COMPLETE_NO_DESC")))
    app = typer.Typer(
        name="capsa",
        help=HELP,
        add_completion=False,  # no --install-completion editing ~/.bashrc: `capsa completion SHELL`
        pretty_exceptions_enable=False,
        pretty_exceptions_show_locals=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root_callback)
    word = command_word(args) if args is not None and "_CAPSA_COMPLETE" not in os.environ else None
    wanted = NEEDS.get(word or "", MODULES)
    from capsa.cli.options import bind

    for name in MODULES:
        if name in wanted:
            bind(importlib.import_module(f"capsa.cli.{name}")).register(app)
    plugins.load_hook_plugins()
    plugins.call_each_warning("capsa_register_commands", app=app)
    return app


def build_command(args: list[str] | None = None) -> typer.main.TyperGroup:  # type: ignore[name-defined]
    """The click command tree of :func:`build_app`, global flags shared with every command."""
    command = typer.main.get_command(build_app(args))
    share_global_options(command)  # type: ignore[arg-type]
    negatable_flags(command)
    from capsa.cli import helpformat

    helpformat.install(command)
    return command


def negatable_flags(group: typer.main.TyperGroup) -> None:  # type: ignore[name-defined]
    """Give each boolean flag that is on by default and has no ``--no-`` form one, so that
    podman's ``--flag=false`` (:func:`explicit_bools`) can be said to click (``history --human=false``)."""
    stack = [group]
    while stack:
        command = stack.pop()
        for param in command.params:
            if getattr(param, "is_bool_flag", False) and param.default and not param.secondary_opts:
                long = next((opt for opt in param.opts if opt.startswith("--")), None)
                if long is not None:
                    param.secondary_opts = [f"--no-{long[2:]}"]
                    param.capsa_negation = param.secondary_opts[0]  # (said by explicit_bools only: podman has no such flag)
        stack.extend(getattr(command, "commands", {}).values())


def is_command_path(command: typer.main.TyperGroup, words: list[str]) -> bool:  # type: ignore[name-defined]
    """Whether ``words`` only name (sub)commands, e.g. ``["system", "info"]``: then their
    ``--help`` page depends on nothing else and may be cached."""
    for word in words:
        sub = getattr(command, "commands", {}).get(word)
        if sub is None:
            return False
        command = sub
    return True


def run_command(command: typer.main.TyperGroup, args: list[str]) -> int:  # type: ignore[name-defined]
    """Run the CLI on ``args`` without typer's own error printing; usage errors exit 125."""
    from capsa.errors import UsageError

    args = explicit_bools(command, args)
    try:
        rv = command.main(args=args, prog_name="capsa", standalone_mode=False)
    except typer.TyperException as exc:
        ctx = getattr(exc, "ctx", None)
        path = ctx.command_path if ctx is not None else "capsa"
        hint = f"Try '{path} --help' for more information."
        kind, option = type(exc).__name__, getattr(exc, "option_name", None)
        if option and kind in ("NoSuchOption", "BadOptionUsage"):  # podman's (pflag's) words instead
            if path == "capsa":  # (click does not always say which command was parsing)
                path = command_path(command, args)
            if kind == "NoSuchOption":
                from capsa.cli import refusals

                why = refusals.reason((), option.split("=", 1)[0])  # (a refused global flag after the command word)
                if why is not None:
                    raise refusals.refusal(option.split("=", 1)[0], why) from None
                raise UsageError(unknown_flag(option, args), hint=f"See '{path} --help'") from None
            if "requires an argument" in exc.format_message():
                raise UsageError(missing_value(option), hint=f"See '{path} --help'") from None
        if type(exc).__name__ == "NoArgsIsHelpError":
            if ctx is not None:  # (podman's: the group's page, then the error)
                typer.echo(ctx.get_help())
            raise UsageError(f"missing command '{path} COMMAND'", hint=hint) from None
        message = exc.format_message()
        if message.startswith("Got unexpected extra argument") and ctx is not None and not any(
                getattr(p, "param_type_name", "") == "argument" for p in ctx.command.params):
            message = f"`{path}` takes no arguments"  # (podman's words)
        if message.startswith("No such command"):
            name = message.split("'")[1] if "'" in message else message
            message = f"unrecognized command `{path} {name}`"
        raise UsageError(message, hint=hint) from None
    except typer.Abort:
        return 130
    except Exit as exc:
        return exc.exit_code
    return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0


def explicit_bools(command: typer.main.TyperGroup, args: list[str]) -> list[str]:  # type: ignore[name-defined]
    """``args`` with podman's ``--flag=true|false`` for the command's boolean flags spelled as
    click reads them (``--flag``, its ``--no-flag`` form, or nothing for false when the flag has
    no such form): what capsa.cli.dispatch accepts too."""
    from capsa.cli.main import _words, command_words

    root = command
    for word in command_words(args):
        sub = getattr(command, "commands", {}).get(word)
        if sub is None:
            break
        command = sub
    first = next((i for i, word in _words(args) if not word.startswith("-")), len(args))  # (the command word)
    root_flags = {opt: (param, False) for param in root.params if param.name in GLOBAL_PARAMS
                  and getattr(param, "is_flag", False) for opt in param.opts}  # (--noout=true)
    flags = {}
    own = set()  # the negations negatable_flags made: a user who types one meets podman's unknown flag
    for param in command.params:
        if getattr(param, "is_flag", False):
            flags.update({opt: (param, False) for opt in param.opts})
            flags.update({opt: (param, True) for opt in param.secondary_opts})
            if getattr(param, "capsa_negation", None):
                own.add(param.capsa_negation)
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        name, eq, value = arg.partition("=")
        if name in own:
            from capsa.errors import UsageError

            raise UsageError(f"unknown flag: {name}", hint=f"See '{command_path(root, args)} --help'")
        if eq and len(name) > 2 and name[0] == "-" and name[1] != "-":  # (pflag's -a=false, -qa=false)
            if f"-{name[-1]}" in flags:
                out.extend([f"-{c}" for c in name[1:-1]])
                name = f"-{name[-1]}"
        found = (flags.get(name) or (root_flags.get(name) if i < first else None)) if eq and name.startswith("-") else None
        if found is None:
            out.append(arg)
            continue
        from capsa.cli.dispatch import _flag_names, bad_bool, parse_bool  # (only then: the typer route does not load the dispatcher)

        explicit = parse_bool(value)
        param, negative = found
        if explicit is None:
            raise bad_bool(value, _flag_names(list(param.opts)), command_path(root, args).removeprefix("capsa").strip())
        if explicit != negative:
            out.append(param.opts[0])
        elif param.secondary_opts:
            out.append(param.secondary_opts[0])
        elif param.default:
            out.append(arg)  # (no way to say false: click refuses it in its words)
    return out


def unknown_flag(option: str, args: list[str]) -> str:
    """podman's (pflag's) words for an unknown ``option`` met in ``args``: ``unknown flag: --x``,
    or ``unknown shorthand flag: 'x' in -x`` (from the unknown letter on, as in ``-aZ``)."""
    name = option.split("=", 1)[0]
    if name.startswith("--") or len(name) != 2:
        return f"unknown flag: {name}"
    letter = name[1]
    for arg in args:
        if arg.startswith("-") and not arg.startswith("--") and letter in arg[1:]:
            return f"unknown shorthand flag: {letter!r} in -{arg[arg.index(letter, 1):]}"
    return f"unknown shorthand flag: {letter!r} in {name}"


def missing_value(option: str) -> str:
    """pflag's words for a flag given without its value: ``--format`` or ``'f' in -f``."""
    return f"flag needs an argument: {option if option.startswith('--') else f'{option[1:]!r} in {option}'}"


def command_path(command: typer.main.TyperGroup, args: list[str]) -> str:  # type: ignore[name-defined]
    """``capsa`` and the (sub)command words of ``args``: ``capsa system df``."""
    from capsa.cli.main import command_words

    path = ["capsa"]
    for word in command_words(args):
        sub = getattr(command, "commands", {}).get(word)
        if sub is None:
            break
        path.append(word)
        command = sub
    return " ".join(path)
