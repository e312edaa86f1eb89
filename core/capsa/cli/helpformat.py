"""``--help`` pages in podman's plain layout (cobra's template and pflag's option table), for
every click command typer builds: no rich boxes, nothing but text scripts can read::

    List containers.

    Description:
      List containers ...

    Usage:
      capsa ps [options]

    Examples:
      capsa ps -a

    Options:
      -a, --all              Show all the containers, default is only running containers
          --format string    ...

Examples come from the command's docstring: a last paragraph ``Examples:`` whose lines are
written as ``capsa NAME ...`` (an alias's page shows its own path). A group lists its
subcommands under ``Available Commands:``; the root adds its global flags under ``Options:``. Subcommand pages leave the global flags out, as podman's do.
:func:`install` makes every command of a tree render so (``build_command`` calls it); the
pages are then cached as before (:mod:`capsa.cli.helpcache`).
"""
from __future__ import annotations

import inspect
from typing import Any

MIN_NAME_PADDING = 11  # cobra's


def install(root: Any) -> None:
    """Make ``root`` and every command below it print this layout for ``--help``."""
    stack = [root]
    while stack:
        command = stack.pop()
        command.get_help = _renderer(command)
        stack.extend(getattr(command, "commands", {}).values())


def _renderer(command: Any) -> Any:
    def get_help(ctx: Any) -> str:
        return render(command, ctx.command_path, is_root=ctx.parent is None)[:-1]  # (click's echo ends the line)
    return get_help


def _help_text(command: Any) -> tuple[str, str]:
    """A command's help text (its docstring) split at its ``Examples:`` paragraph: (text, examples)."""
    text = inspect.cleandoc(command.help or command.short_help or "")
    head, found, examples = ("\n" + text).partition("\nExamples:\n")
    return (head.strip(), inspect.cleandoc(examples)) if found else (text, "")


def examples(command: Any, path: str) -> list[str]:
    """The command's examples: its docstring's ``Examples:`` paragraph (else its epilog), each line
    written as ``capsa NAME ...`` and shown with the page's command path (``capsa container rm``)."""
    text = _help_text(command)[1] or inspect.cleandoc(getattr(command, "epilog", None) or "")
    own = f"capsa {command.name}"
    return [f"{path}{line[len(own):]}" if line == own or line.startswith(own + " ") else line
            for line in text.splitlines()]


def describe(command: Any) -> tuple[str, str]:
    """(short description, long description) of a command, from its help text."""
    text = _help_text(command)[0]
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    if not paragraphs:
        return "", ""
    short = " ".join(paragraphs[0].split())
    long = "\n".join(paragraphs[1:]) if len(paragraphs) > 1 else short
    return short, long


def short_of(command: Any) -> str:
    """The one line a command list shows (podman's: no final period)."""
    short = describe(command)[0]
    return short[:-1] if short.endswith(".") and not short.endswith("..") else short


def render(command: Any, path: str, is_root: bool = False) -> str:
    """The page of ``command``, whose command path is ``path`` (``capsa system df``)."""
    short, long = describe(command)
    out = [short, ""] if short else []
    if not is_root:
        out += ["Description:", *_indent(long), ""]
    subcommands = {name: sub for name, sub in getattr(command, "commands", {}).items() if not getattr(sub, "hidden", False)}
    out += ["Usage:", f"  {_usage(command, path, is_root, bool(subcommands))}", ""]
    lines = examples(command, path)
    if lines:
        out += ["Examples:", *_indent("\n".join(lines)), ""]
    if subcommands:
        pad = max(MIN_NAME_PADDING, *(len(n) for n in subcommands))
        out += ["Available Commands:", *(f"  {name:<{pad}} {short_of(sub)}".rstrip() for name, sub in sorted(subcommands.items())), ""]
    table = option_table(command, is_root)
    if table:
        out += ["Options:", *table, ""]
    return "\n".join(out) + "\n"


def _indent(text: str) -> list[str]:
    return [f"  {line}".rstrip() for line in text.splitlines()] or [""]


def _usage(command: Any, path: str, is_root: bool, group: bool) -> str:
    if group:
        return f"{path} [options] [command]" if is_root else f"{path} [command]"
    parts = [path]
    if any(_shown(p, is_root) and not _is_argument(p) for p in command.params):
        parts.append("[options]")
    for param in command.params:
        if not _is_argument(param):
            continue
        name = (param.metavar or param.name or "arg").upper()
        if param.nargs == -1:
            parts.append(f"{name} [{name}...]" if param.required else f"[{name}...]")
        else:
            parts.append(name if param.required else f"[{name}]")
    return " ".join(parts)


def _is_argument(param: Any) -> bool:
    return getattr(param, "param_type_name", "") == "argument"


def _shown(param: Any, is_root: bool) -> bool:
    """Whether the option table lists ``param``: not hidden, not a global flag given after a
    subcommand (podman lists those on its root page only), and ``--help`` on the root page only."""
    if getattr(param, "hidden", False) or param.expose_value is False and not is_root:
        return False
    if param.name == "help" and not is_root:
        return False
    return True


def _type_name(param: Any) -> str:
    """pflag's value name: ``string``, ``strings`` (repeatable), ``int``, ``uint``, ``float``;
    nothing for a boolean flag."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    kind = type(param.type).__name__
    name = {"IntParamType": "int", "IntRange": "int", "FloatParamType": "float", "FloatRange": "float"}.get(kind, "string")
    return "strings" if getattr(param, "multiple", False) and name == "string" else name


def _default(param: Any) -> str:
    """pflag's `` (default X)`` for a value that is not the type's zero value."""
    value = param.default
    if callable(value) or value is None or value is False or value == "" or value == () or value == []:
        return ""
    value = getattr(value, "value", value)
    if getattr(param, "is_flag", False):
        return " (default true)" if value is True else ""
    if isinstance(value, (list, tuple)):
        return f" (default [{', '.join(map(str, value))}])"
    if isinstance(value, str):
        return f' (default "{value}")'
    if value == 0:
        return ""
    return f" (default {value})"


def option_table(command: Any, is_root: bool = False) -> list[str]:
    """pflag's option lines: ``  -a, --all   usage``, the usage column 3 past the widest flag."""
    rows: list[tuple[str, str, str]] = []
    if is_root:
        rows.append(("--help", "  -h, --help", "Help for capsa"))
    for param in command.params:
        if _is_argument(param) or not _shown(param, is_root):
            continue
        opts = [o for o in param.opts if o not in getattr(param, "secondary_opts", ())]
        short = next((o for o in opts if not o.startswith("--")), None)
        long = next((o for o in opts if o.startswith("--")), None)
        if long is None:
            continue
        left = f"  {short}, {long}" if short else f"      {long}"
        kind = _type_name(param)
        if kind:
            left += f" {kind}"
        help_text = " ".join(inspect.cleandoc(param.help or "").split()) if getattr(param, "help", None) else ""
        rows.append((long, left, help_text + _default(param)))
    if not rows:
        return []
    width = max(len(left) for _, left, _ in rows)
    return [f"{left:<{width}}   {usage}".rstrip() for _, left, usage in sorted(rows)]
