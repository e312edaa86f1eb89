"""Parse a command line with the cached parse table and call the command, without typer.

:func:`dispatch` is ``main()``'s first try for every command: it reads the table
(:mod:`capsa.cli.parsetable`), parses the way typer's parser (click's) does, and calls the
command's callback with the arguments typer would pass, its context argument a small stand-in
that carries the session. It returns None whenever typer must answer instead: no table (it is
then rebuilt after the command), ``--help``, a command marked slow, or any input typer would
refuse (typer then prints its own message), except an unknown flag, which is refused here in
podman's words (``unknown flag: --bogus``, exit 125), as typer's path refuses it.

Parsing follows click: options and arguments may be interspersed (unless the command's
``allow_interspersed_args`` is False, as ``top``'s: then its first argument ends the options);
``--`` ends the options; a
long option takes ``--opt value`` or ``--opt=value``; short options cluster (``-aq``) and the
last of a cluster may take the rest as its value (``-fjson``); a group's options come before its
subcommand; the global flags are accepted before the command and after it (podman's persistent
flags; given after it they override, and ``--storage-opt`` adds).
"""
from __future__ import annotations

from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.cli.parsetable import Table

HELP = ("--help", "-h")
BEFORE_COMMAND_ONLY = ("noout",)  # (as capsa.cli.app's: typer is not imported here)


class Fallback(Exception):
    """The input is for typer to handle (help, an error typer words itself, a slow command)."""


class Context:
    """What capsa's commands use of typer's context: the session in ``obj``, ``find_root()``."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def find_root(self) -> Context:
        return self


def dispatch(args: list[str], table: Table) -> int | None:
    """Run ``args`` with ``table``; None when typer must run them instead."""
    try:
        _command, spec, root_values, values, late_globals = parse(args, table)
    except Fallback:
        return None
    return call(spec, _session(table, root_values, late_globals), values)


def parse(args: list[str], table: Table) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any], list[tuple[str, Any]]]:
    """(command path, its spec, the global flags before it, the callback's arguments, the global
    flags after it in order); raises Fallback or UsageError (an unknown flag)."""
    root = table.root
    globals_ = root["globals"]
    root_options = _options(globals_.values())
    late_options = _options([g for name, g in globals_.items() if name not in BEFORE_COMMAND_ONLY], late=True)
    root_values: dict[str, Any] = {}
    late: list[tuple[str, Any]] = []
    path: list[str] = []
    i = 0
    # the root and each group: their options, then the next command word
    while True:
        if i >= len(args):
            raise Fallback()  # a group without its subcommand: typer prints the usage error
        arg = args[i]
        if arg[:1] == "-" and len(arg) > 1:
            if arg in HELP or arg == "--" or (not path and arg.split("=", 1)[0] in root["root_only"]):
                raise Fallback()
            i = _option(args, i, late_options if path else root_options, root_values, late, " ".join(path))
            continue
        path.append(arg)
        i += 1
        name = " ".join(path)
        if name not in root["groups"]:
            break
    spec = table.command(name)
    if spec is None or not spec["fast"]:  # (None: typer says "unrecognized command")
        raise Fallback()
    values = _parse_command(args[i:], spec, late_options, late, name)
    return name, spec, root_values, values, late


def _options(specs: Any, late: bool = False) -> dict[str, dict[str, Any]]:
    """Option name -> its spec (``negative`` for a flag's --no- form, ``late`` for a global flag
    given after a command word)."""
    out = {}
    for spec in specs:
        if late:
            spec = {**spec, "late": True}
        if not spec["argument"]:
            for opt in spec["opts"]:
                out[opt] = spec
            for opt in spec["secondary"]:
                out[opt] = {**spec, "negative": True}
    return out


BOOL_WORDS = {**dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
              **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False)}


def parse_bool(text: str) -> bool | None:
    """A boolean flag's explicit value, as podman's flag parser (Go's ParseBool) reads
    ``--tls-verify=false``; None when ``text`` is not one of :data:`BOOL_WORDS`."""
    return BOOL_WORDS.get(text)


def _flag_names(opts: list[str]) -> str:
    """pflag's name of a flag in messages: ``-H, --human`` (or ``--human``)."""
    short = [o for o in opts if not o.startswith("--")]
    long = [o for o in opts if o.startswith("--")]
    return ", ".join(short[:1] + long[:1])


def bad_bool(text: str, names: str, path: str) -> UsageError:
    """pflag's error for a boolean flag given a value that is not one (``--all=yes``)."""
    return UsageError(f'invalid argument "{text}" for "{names}" flag: strconv.ParseBool: parsing "{text}": invalid syntax',
                      hint=_see(path))


def _see(path: str) -> str:
    return f"See 'capsa {path} --help'" if path else "See 'capsa --help'"


def _option(args: list[str], i: int, options: dict[str, dict[str, Any]], values: dict[str, Any],
            late: list[tuple[str, Any]], path: str) -> int:
    """Parse the option(s) at ``args[i]`` into ``values``, or, for global flags given after a
    command word (their spec says ``late``), into ``late``; returns the index after them."""
    arg = args[i]
    i += 1
    name, eq, explicit = arg.partition("=")
    spec = options.get(name)
    if spec is not None:
        if spec["flag"]:
            value = parse_bool(explicit) if eq else True
            if value is None:
                raise bad_bool(explicit, _flag_names(spec["opts"]), path)
            _store(spec, value != bool(spec.get("negative")), values, late)
            return i
        if not eq:
            if i >= len(args):
                raise Fallback()
            explicit, i = args[i], i + 1
        _store(spec, _convert(spec, explicit), values, late)
        return i
    if arg[:2] == "--":
        from capsa.cli import refusals

        why = refusals.reason((), name)  # (a global flag capsa refuses, given after the command word)
        if why is not None:
            raise refusals.refusal(name, why)
        raise UsageError(f"unknown flag: {name}", hint=_see(path))
    for pos in range(1, len(arg)):
        short = "-" + arg[pos]
        spec = options.get(short)
        if spec is None:
            if short in HELP:
                raise Fallback()
            raise UsageError(f"unknown shorthand flag: {arg[pos]!r} in -{arg[pos:]}", hint=_see(path))  # pflag's
        if spec["flag"]:
            if arg[pos + 1:pos + 2] == "=":  # (pflag's -a=false)
                value = parse_bool(arg[pos + 2:])
                if value is None:
                    raise bad_bool(arg[pos + 2:], _flag_names(spec["opts"]), path)
                _store(spec, value != bool(spec.get("negative")), values, late)
                break
            _store(spec, not spec.get("negative"), values, late)
            continue
        rest = arg[pos + 1:]
        if not rest:
            if i >= len(args):
                raise Fallback()
            rest, i = args[i], i + 1
        _store(spec, _convert(spec, rest), values, late)
        break
    return i


def _store(spec: dict[str, Any], value: Any, values: dict[str, Any], late: list[tuple[str, Any]]) -> None:
    if spec.get("late"):
        late.append((spec["name"], value))
    elif spec["multiple"]:
        values.setdefault(spec["name"], []).append(value)
    else:
        values[spec["name"]] = value


def _convert(spec: dict[str, Any], text: str) -> Any:
    kind = spec["type"]
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        raise Fallback() from None
    if kind == "choice":
        choices = spec["choices"]
        if text in choices:
            return text
        if not spec["case_sensitive"]:
            for choice in choices:
                if choice.casefold() == text.casefold():
                    return choice
        raise Fallback()
    return text


def _parse_command(args: list[str], spec: dict[str, Any], global_options: dict[str, dict[str, Any]],
                   late: list[tuple[str, Any]], path: str) -> dict[str, Any]:
    """The callback's arguments from the words after the command."""
    own = {**global_options, **_options(spec["params"])}
    values: dict[str, Any] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            positional.extend(args[i + 1:])
            break
        if arg[:1] == "-" and len(arg) > 1:
            if arg in HELP and arg not in own:
                raise Fallback()
            i = _option(args, i, own, values, late, path)
            continue
        positional.append(arg)
        i += 1
        if spec.get("interspersed") is False:  # (click's allow_interspersed_args: the rest are arguments)
            positional.extend(args[i:])
            break
    _arguments(spec, positional, values)
    return {p["name"]: _finish(p, values.get(p["name"], p["default"])) for p in spec["params"]}


def _arguments(spec: dict[str, Any], words: list[str], values: dict[str, Any]) -> None:
    """Assign positional words to the arguments as click does (one variadic argument at most)."""
    params = [p for p in spec["params"] if p["argument"]]
    fixed = sum(1 for p in params if p["nargs"] == 1)
    variadic = any(p["nargs"] == -1 for p in params)
    if len(words) > fixed and not variadic:
        raise Fallback()  # "Got unexpected extra argument"
    spare = len(words) - fixed
    at = 0
    for param in params:
        if param["nargs"] == 1:
            if at >= len(words):
                if param["required"]:
                    raise Fallback()  # "Missing argument"
                continue
            values[param["name"]] = _convert(param, words[at])
            at += 1
        else:
            taken = words[at:at + max(spare, 0)]
            at += len(taken)
            if not taken and param["required"]:
                raise Fallback()
            if taken:
                values[param["name"]] = [_convert(param, w) for w in taken]


def _finish(param: dict[str, Any], value: Any) -> Any:
    """The value as typer hands it to the callback (lists, enums)."""
    convert = param["convert"]
    if convert == "list-or-none":
        return list(value) if value else None
    if convert == "list":
        return list(value or ())
    if convert == "enum" and value is not None:
        import importlib

        module, qualname = param["enum"]
        return getattr(importlib.import_module(module), qualname)(value)
    return value


def _session(table: Table, root_values: dict[str, Any], late: list[tuple[str, Any]]) -> Any:
    """The session the root callback makes, then the global flags given after the command."""
    from capsa.engine.session import Session, global_options

    sess = Session(global_options(root_values))
    sess.set_log_level(root_values.get("log_level") or table.root["globals"]["log_level"]["default"])
    for name, value in late:
        apply_late_global(sess, name, value)
    return sess


def apply_late_global(sess: Any, name: str, value: Any) -> None:
    """A global flag given after the command word (podman's persistent flags): it overrides the
    one given before; ``--storage-opt`` and ``--runtime-flag`` add."""
    from capsa.engine.session import global_options

    if name == "log_level":
        sess.set_log_level(str(value))
    elif name == "storage_opt":
        given = list(value) if isinstance(value, (list, tuple)) else [value]
        sess.options.storage_opts.extend([v for v in given if v])
        sess.options.no_storage_opts = sess.options.no_storage_opts or "" in given
    elif name == "runtime_flag":
        sess.options.runtime_flag.extend(value if isinstance(value, (list, tuple)) else [value])
    else:
        if name == "cgroup_manager":
            global_options({name: value})  # (checked as before the command)
        setattr(sess.options, name, value)


def call(spec: dict[str, Any], sess: Any, values: dict[str, Any]) -> int:
    """Call the command's callback as typer would; its return value is the exit code."""
    import importlib

    from capsa import plugins
    from capsa.cli.context import Exit

    function = getattr(importlib.import_module(spec["module"]), spec["function"])
    plugins.load_hook_plugins()
    if spec["context"]:
        values = {**values, spec["context"]: Context(sess)}
    try:
        rv = function(**values)
    except Exit as exc:
        return exc.exit_code
    finally:
        sess.close()
    return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
