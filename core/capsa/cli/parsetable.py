"""The parse table: every command of the typer app, as data that parses without typer.

Importing typer and turning a command's signature into click options costs more than ``ps`` or
``images`` themselves. The typer app stays the one declaration of every command and flag; this
module derives from it what parsing needs: the command words, each command's options (names,
short names, value type, multiple or not, flag or value, default as the callback receives it),
its arguments, the callback's module and name, and the global flags. The table is cached like
the entry-point index (:mod:`capsa.cache`): its key covers capsa's version, its sources and the
installed distributions, so a new plugin command or an edited signature rebuilds it.
:mod:`capsa.cli.dispatch` parses with it and calls the callback without importing typer.

Contract of :func:`derive`: a command is marked ``fast`` only when every parameter is of a kind
the dispatcher reproduces exactly (strings, integers, floats, boolean flags, choices and their
enums, multiple options, positional arguments) and its callback is a module-level function of a
``capsa.cli`` module; the others (a plugin's commands) are served by typer. tests/test_parsetable.py
checks, for every command and every option, that both parse to the same callback arguments.
"""
from __future__ import annotations

import os

from capsa import __version__
from capsa.cache import install_state, read_keyed, sources_state, write_keyed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "parse-table.json"
FORMAT = 1


def key() -> str:
    """What the table depends on: capsa's version and CLI sources, the installed distributions
    (hook plugins add commands)."""
    cli = os.path.dirname(os.path.abspath(__file__))
    return "\x1e".join([f"parse-table-{FORMAT}", __version__, install_state(), sources_state(cli, parent=False)])


class Table:
    """The cached table, read lazily: the root's part (global flags, groups) is parsed at once,
    a command's spec only when asked for (parsing all ~60 would cost a millisecond)."""

    def __init__(self, text: str) -> None:
        from capsa.fastpath import jsonio

        head, _, self._body = text.partition("\n")
        self.root: dict[str, Any] = jsonio.loads(head)
        if not isinstance(self.root, dict) or self.root.get("format") != FORMAT or self.root.get("size") != len(self._body):
            raise ValueError("not a parse table, or a torn one")
        self._body = "\n" + self._body

    def command(self, path: str) -> dict[str, Any] | None:
        """The spec of the command ``path`` (``"image ls"``), or None if there is no such command."""
        from capsa.fastpath import jsonio

        at = self._body.find(f"\n{path}\t")
        if at == -1:
            return None
        end = self._body.find("\n", at + 1)
        try:
            spec = jsonio.loads(self._body[at + len(path) + 2:None if end == -1 else end])
        except ValueError:
            return None
        return spec if isinstance(spec, dict) else None


def serialize(table: dict[str, Any]) -> str:
    """The text of a table :func:`derive` made: its root part, then one line per command."""
    from capsa.fastpath import jsonio

    body = "\n".join(f"{path}\t{jsonio.dumps(spec, sort_keys=True)}" for path, spec in sorted(table["commands"].items()))
    root = {**{k: v for k, v in table.items() if k != "commands"}, "size": len(body)}
    return jsonio.dumps(root, sort_keys=True) + "\n" + body


def load() -> Table | None:
    """The cached table, if it was made for this exact setting; else None."""
    body = read_keyed(NAME, key())
    if body is None:
        return None
    try:
        return Table(body)
    except ValueError:
        return None


def store(table: dict[str, Any]) -> None:
    write_keyed(NAME, key(), serialize(table))


def rebuild() -> dict[str, Any]:
    """Derive the table from the whole typer app (every command module and hook plugin), and
    cache it unless a hook plugin failed to load (its warning must keep showing)."""
    from capsa import plugins
    from capsa.cli.app import build_command

    table = derive(build_command(None))
    if not plugins.failed_plugins:
        store(table)
    return table


# ----------------------------------------------------------------------------- derivation
# (imports typer: runs on a miss only)

def derive(root: Any) -> dict[str, Any]:
    """The table of the click command tree ``root`` (typer's, global flags shared)."""
    from capsa.cli.app import GLOBAL_PARAMS

    table: dict[str, Any] = {"format": FORMAT, "globals": {}, "root_only": [], "groups": [], "commands": {}}
    for param in root.params:
        if param.name in GLOBAL_PARAMS:
            spec = _param_spec(param, None)
            if spec is None:
                raise ValueError(f"global flag {param.name} cannot be parsed without typer")
            table["globals"][param.name] = spec
        else:
            table["root_only"].extend(param.opts + param.secondary_opts)
    stack: list[tuple[str, Any]] = list(root.commands.items())
    while stack:
        path, command = stack.pop()
        subcommands = getattr(command, "commands", None)
        if subcommands is not None:
            table["groups"].append(path)
            stack.extend((f"{path} {name}", sub) for name, sub in subcommands.items())
            continue
        table["commands"][path] = _command_spec(command)
    table["groups"].sort()
    return table


def _command_spec(command: Any) -> dict[str, Any]:
    wrapper = command.callback
    original = getattr(wrapper, "__wrapped__", None)
    closure = _closure(wrapper)
    spec: dict[str, Any] = {"fast": False, "params": []}
    if original is None or closure is None:
        return spec
    module, name = original.__module__, original.__qualname__
    spec.update(module=module, function=name, context=closure.get("context_param_name"))
    convertors = closure.get("use_convertors") or {}
    fast = module.startswith("capsa.cli.") and "." not in name
    for param in command.params:
        if getattr(param.callback, "__name__", "") == "_record_global":
            continue  # a global flag given after the command: parsed from the table's globals
        param_spec = _param_spec(param, convertors.get(param.name))
        if param_spec is None:
            fast = False
            continue
        spec["params"].append(param_spec)
    spec["fast"] = fast
    if (getattr(command, "context_settings", None) or {}).get("allow_interspersed_args") is False:
        spec["interspersed"] = False  # (top: what follows the container are its own words, flags too)
    return spec


def _closure(wrapper: Any) -> dict[str, Any] | None:
    """The variables typer's callback wrapper closes over (its convertors, its context
    parameter's name), or None when it is not typer's wrapper."""
    code = getattr(wrapper, "__code__", None)
    cells = getattr(wrapper, "__closure__", None)
    if code is None or cells is None or "use_convertors" not in code.co_freevars:
        return None
    return {name: cell.cell_contents for name, cell in zip(code.co_freevars, cells)}


def _param_spec(param: Any, convertor: Any) -> dict[str, Any] | None:
    """One option or argument as data, or None for a kind the dispatcher does not reproduce."""
    from enum import Enum

    kind = type(param.type).__name__
    type_name = {"StringParamType": "str", "IntParamType": "int", "FloatParamType": "float",
                 "BoolParamType": "bool", "TyperChoice": "choice"}.get(kind)
    is_flag = bool(getattr(param, "is_flag", False))
    argument = type(param).__name__ == "TyperArgument"
    if (type_name is None or getattr(param, "count", False) or param.envvar or param.nargs not in (1, -1)
            or (type_name == "bool" and not is_flag) or (param.callback is not None and param.expose_value)
            or getattr(param, "prompt", None)):
        return None
    spec: dict[str, Any] = {
        "name": param.name, "opts": list(param.opts), "secondary": [o for o in param.secondary_opts if o != getattr(param, "capsa_negation", None)],
        "argument": argument, "flag": is_flag, "type": type_name, "multiple": bool(param.multiple),
        "nargs": param.nargs, "required": bool(param.required), "convert": None,
    }
    if type_name == "choice":
        spec["choices"] = [str(c) for c in param.type.choices]
        spec["case_sensitive"] = bool(param.type.case_sensitive)
    many = param.multiple or param.nargs == -1
    if convertor is not None:
        if many:
            empty = convertor(())
            sample = convertor(tuple(spec.get("choices", ["x"])[:1]))
            if not isinstance(sample, list) or (empty is not None and empty != []):
                return None
            if sample and isinstance(sample[0], Enum):
                return None
            spec["convert"] = "list-or-none" if empty is None else "list"
        elif type_name == "choice":
            value = convertor(spec["choices"][0])
            if not isinstance(value, Enum):
                return None
            spec["convert"] = "enum"
            spec["enum"] = [type(value).__module__, type(value).__qualname__]
        else:
            return None
    spec["default"] = _default(param, convertor)
    return spec


def _default(param: Any, convertor: Any) -> Any:
    """What the callback receives when the parameter is not on the command line (an enum's
    value: the dispatcher turns it into the member)."""
    from enum import Enum

    value = param.default() if callable(param.default) else param.default
    if param.multiple or param.nargs == -1:
        raw = tuple(value or ())
        return convertor(raw) if convertor is not None else list(raw)
    return value.value if isinstance(value, Enum) else value
