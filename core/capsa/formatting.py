"""podman's ``--format``: a subset of Go's text/template, ``table`` output and ``json``.

``format_items`` renders a list (``ps``, ``images``), ``render`` one item (``inspect``).
Supported: ``{{.A.B}}``, ``{{.}}``, ``{{$.A}}``, literals, pipelines, ``(...)``, ``if``/``else
if``/``else``, ``with``, ``range``/``else``, ``{{- -}}``, ``{{/* */}}`` and the functions of
:mod:`capsa.templatefuncs`.
Not supported: variables (``$x :=``), ``define``/``template``/``block``, ``break``/``continue``.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from types import MethodType
from typing import Any

from capsa.fastpath.table import tabwrite
from capsa.templatefuncs import COLLECTIONS, FUNCS, TemplateError, go_str, sorted_keys, to_json, truth

__all__ = ["TemplateError", "format_items", "render", "to_json"]


_WS = " \t\r\n"
_NO = object()  # marks "nothing piped into this command"
_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}


# ---- lexer and parser ------------------------------------------------------------------------
# Nodes: str | ("act", pipe, src) | ("if"|"with"|"range", pipe, body, else_body, src).
# A pipe is a tuple of commands; a command a tuple of operands: ("l", literal),
# ("f", None|"$", path) for .A.B / $.A.B, ("n", function_name) or ("p", sub_pipe).

_TOKEN = r"""(?P<ws>\s+) | (?P<comment>/\*.*?\*/) | (?P<str>"(?:[^"\\]|\\.)*")
 | (?P<raw>`[^`]*`) | (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?) | (?P<field>(?:\.[^\W\d]\w*)+)
 | (?P<var>\$\w*(?:\.[^\W\d]\w*)*) | (?P<ident>[^\W\d]\w*) | (?P<op>[|()]|:?=|\.)"""
_STR_ESC = r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)"
_ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}
_LITERALS = {"true": True, "false": False, "nil": None}


def _unquote(body: str, src: str) -> str:
    """Decode the Go escapes of a double-quoted string literal."""
    def sub(m: re.Match[str]) -> str:
        e = m.group(1)
        if len(e) > 1:
            return chr(int(e, 8)) if e[0].isdigit() else chr(int(e[1:], 16))
        if e not in _ESC:
            raise TemplateError(f"template: unknown escape sequence \\{e} in {src}")
        return _ESC[e]
    return re.sub(_STR_ESC, sub, body, flags=re.S)


def _token(kind: str, val: str, src: str) -> tuple[Any, ...] | None:
    if kind in ("ws", "comment"):
        return None
    if kind == "str":
        return ("l", _unquote(val[1:-1], src))
    if kind == "raw":
        return ("l", val[1:-1])
    if kind == "num":
        return ("l", float(val) if re.search(r"[.eE]", val) else int(val))
    if kind in ("field", "var"):
        base, *path = val.split(".")
        if base not in ("", "$"):
            raise TemplateError(f"template: undefined variable {base!r} in {src} (variables are not supported)")
        return ("f", base or None, tuple(path))
    if kind == "ident":
        return ("l", _LITERALS[val]) if val in _LITERALS else ("n", val)
    return ("f", None, ()) if val == "." else (val,)


def _lex(text: str) -> list[tuple[Any, ...]]:
    """Split ``text`` into ("text", s) and ("act", tokens, src) items, applying trim markers."""
    items: list[tuple[Any, ...]] = []
    pos, n, trim = 0, len(text), False
    while True:
        start = text.find("{{", pos)
        chunk = text[pos:] if start < 0 else text[pos:start]
        chunk = chunk.lstrip(_WS) if trim else chunk
        p = start + 2
        if start >= 0 and text.startswith("-", p) and p + 1 < n and text[p + 1] in _WS:
            chunk, p = chunk.rstrip(_WS), p + 2
        if chunk:
            items.append(("text", chunk))
        if start < 0:
            return items
        toks, comment = [], False
        while not (text.startswith("}}", p) or text.startswith("-}}", p) and text[p - 1] in _WS):
            m = re.compile(_TOKEN, re.X | re.S).match(text, p) if p < n else None
            if m is None:
                what = "unclosed action" if p >= n else f"unexpected {text[p]!r}"
                what = "unterminated quoted string" if text[p:p + 1] in ('"', "`") else what
                raise TemplateError(f"template: {what} in {text[start:p + 1]!r}")
            comment = comment or m.lastgroup == "comment"
            tok = _token(m.lastgroup or "", m.group(), text[start:m.end()])
            toks += [tok] if tok else []
            p = m.end()
        trim = text[p] == "-"
        pos = p + 2 + trim
        if toks or not comment:
            items.append(("act", toks, text[start:pos]))


class _Parser:
    def __init__(self, items: list[tuple[Any, ...]]) -> None:
        self.items, self.i = items, 0

    def nodes(self, opener: str | None = None) -> tuple[list[Any], str | None, list[Any], str]:
        """Parse up to the ``{{else}}``/``{{end}}`` closing ``opener``: (nodes, keyword, args, src)."""
        out: list[Any] = []
        while self.i < len(self.items):
            kind, *item = self.items[self.i]
            self.i += 1
            if kind == "text":
                out.append(item[0])
                continue
            toks, src = item
            kw = toks[0][1] if toks and toks[0][0] == "n" and toks[0][1] in _KEYWORDS else None
            if kw in ("end", "else"):
                if opener is None:
                    raise TemplateError(f"template: unexpected {src}")
                return out, kw, toks[1:], src
            if kw in ("if", "with", "range"):
                out.append(self.block(kw, toks[1:], src))
            elif kw:
                raise TemplateError(f"template: unsupported action {src}")
            else:
                out.append(("act", self.pipe(toks, src), src))
        if opener is not None:
            raise TemplateError(f"template: unexpected EOF, missing {{{{end}}}} for {opener}")
        return out, None, [], ""

    def block(self, kw: str, toks: list[Any], src: str) -> tuple[Any, ...]:
        pipe = self.pipe(toks, src)
        body, term, rest, tsrc = self.nodes(src)
        else_: list[Any] = []
        if term == "else" and rest and rest[0][0] == "n" and rest[0][1] in ("if", "with"):
            else_, rest = [self.block(rest[0][1], rest[1:], tsrc)], []  # shares the final {{end}}
        elif term == "else" and not rest:
            else_, term, rest, tsrc = self.nodes(src)
            if term != "end":
                raise TemplateError(f"template: expected {{{{end}}}}, found {tsrc}")
        if rest:
            raise TemplateError(f"template: unexpected arguments in {tsrc}")
        return (kw, pipe, body, else_, src)

    def pipe(self, toks: list[Any], src: str, j: int = 0, paren: bool = False) -> Any:
        cmds: list[tuple[Any, ...]] = []
        args: list[Any] = []
        while j < len(toks) and toks[j] != (")",):
            tok, j = toks[j], j + 1
            if tok == ("|",):
                cmds.append(self.cmd(args, src, bool(cmds)))
                args = []
            elif tok == ("(",):
                sub, j = self.pipe(toks, src, j, True)
                args.append(("p", sub))
            elif tok[0] in (":=", "="):
                raise TemplateError(f"template: variables are not supported in {src}")
            else:
                args.append(tok)
        if (j < len(toks)) != paren:
            raise TemplateError(f"template: unbalanced parentheses in {src}")
        cmds.append(self.cmd(args, src, bool(cmds)))
        return (tuple(cmds), j + 1) if paren else tuple(cmds)

    @staticmethod
    def cmd(args: list[Any], src: str, piped: bool) -> tuple[Any, ...]:
        if not args:
            raise TemplateError(f"template: missing value for command in {src}")
        for a in args:
            if a[0] == "n" and a[1] not in FUNCS:
                raise TemplateError(f'template: function "{a[1]}" not defined in {src}')
        if args[0][0] != "n" and (len(args) > 1 or piped):
            raise TemplateError(f"template: can't give argument to non-function in {src}")
        return tuple(args)


@lru_cache(maxsize=64)
def _compile(text: str) -> list[Any]:
    return _Parser(_lex(text)).nodes()[0]


# ---- execution -------------------------------------------------------------------------------

def _field(obj: Any, name: str, src: str) -> Any:
    """``obj.name``: a key of a mapping or an attribute (methods are called); else TemplateError.

    Mapping keys are matched exactly first, then with the first letter lower-cased: podman's
    JSON says ``graphRoot`` where its Go templates say ``.GraphRoot``, and both work here.
    """
    if isinstance(obj, Mapping):
        if name in obj:
            return obj[name]
        camel = name[:1].lower() + name[1:]
        if camel in obj:
            return obj[camel]
        acronym = _json_name(name)  # (podman's .Host.OCIRuntime is JSON's ociRuntime, .Host.OS its os)
        if acronym in obj:
            return obj[acronym]
    elif obj is None or isinstance(obj, (str, bytes, int, float, *COLLECTIONS)):
        raise TemplateError(f"template: can't evaluate field {name} in type {type(obj).__name__} in {src}")
    elif not name.startswith("_"):
        v = getattr(obj, name, _NO)
        if v is not _NO:
            return v() if isinstance(v, MethodType) else v
    raise TemplateError(f'template: unknown field "{name}" in {src}')


def _json_name(name: str) -> str:
    """A Go field name that starts with an acronym as its JSON key: ``OCIRuntime`` ->
    ``ociRuntime``, ``OS`` -> ``os`` (the acronym lower-cased, but the capital that starts the next word)."""
    run = len(name) - len(name.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    if run == len(name):
        return name.lower()
    if run < 2:
        return name
    return name[:run - 1].lower() + name[run - 1:]


def _humanize(name: str) -> str:
    """Header for a field: camel-case words upper-cased, e.g. CreatedAt -> CREATED AT, ID -> ID."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name)
    return " ".join(words).upper() if words else name.upper()


class _Exec:
    """Executes nodes for one root item, or (``headers`` given) renders the header line."""

    def __init__(self, root: Any, headers: Mapping[str, str] | None = None) -> None:
        self.root, self.headers = root, headers

    def run(self, nodes: list[Any], dot: Any, out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, str):
                out.append(node)
                continue
            kind, pipe, src = node[0], node[1], node[-1]
            if self.headers is not None:  # header: if -> its body, else the action's label
                if kind == "if":
                    self.run(node[2], dot, out)
                else:
                    out.append(self.label(pipe, dot, src))
                continue
            val = self.pipe(pipe, dot, src)
            if kind == "act":
                out.append(go_str(val))
            elif kind == "range":
                seq = self.iterate(val, src)
                for el in seq:
                    self.run(node[2], el, out)
                if not seq:
                    self.run(node[3], dot, out)
            else:
                self.run(*((node[2], val if kind == "with" else dot) if truth(val) else (node[3], dot)), out)

    @staticmethod
    def iterate(val: Any, src: str) -> Any:
        if val is None:
            return []
        if isinstance(val, Mapping):
            return [val[k] for k in sorted_keys(val)]
        if isinstance(val, (set, frozenset)):
            return sorted_keys(val)
        if isinstance(val, int) and not isinstance(val, bool):
            return range(val)
        if isinstance(val, (str, bytes, bool, float)) or not hasattr(val, "__iter__"):
            raise TemplateError(f"template: range can't iterate over {go_str(val)} in {src}")
        return list(val)

    def label(self, pipe: Any, dot: Any, src: str) -> str:
        """Header of an action: the header of the first field it uses; "" for ``.``; else its value."""
        assert self.headers is not None
        ops = [op for cmd in pipe for op in cmd]
        while ops:
            op = ops.pop(0)
            if op[0] == "p":
                ops[:0] = [o for cmd in op[1] for o in cmd]
            elif op[0] == "f":
                path = op[2]
                if not path:
                    return ""
                return self.headers.get(".".join(path), self.headers.get(path[-1], _humanize(path[-1])))
        return go_str(self.pipe(pipe, dot, src))

    def pipe(self, pipe: Any, dot: Any, src: str) -> Any:
        val: Any = _NO
        for cmd in pipe:
            val = self.cmd(cmd, dot, src, val)
        return val

    def cmd(self, cmd: tuple[Any, ...], dot: Any, src: str, piped: Any = _NO) -> Any:
        if cmd[0][0] != "n":
            return self.operand(cmd[0], dot, src)
        name = cmd[0][1]
        fn, lo, hi = FUNCS[name]
        args = [self.operand(a, dot, src) for a in cmd[1:]] + ([] if piped is _NO else [piped])
        if len(args) < lo or (hi is not None and len(args) > hi):
            want = lo if lo == hi else f"at least {lo}"
            raise TemplateError(f"template: wrong number of args for {name}: want {want} got {len(args)} in {src}")
        try:
            return fn(*args)
        except TemplateError:
            raise
        except (TypeError, ValueError, LookupError, OverflowError) as e:
            raise TemplateError(f"template: error calling {name}: {e} in {src}") from None

    def operand(self, op: tuple[Any, ...], dot: Any, src: str) -> Any:
        if op[0] == "l":
            return op[1]
        if op[0] == "f":
            v = self.root if op[1] == "$" else dot
            for name in op[2]:
                v = _field(v, name, src)
            return v
        if op[0] == "p":
            return self.pipe(op[1], dot, src)
        return self.cmd((op,), dot, src)  # a function name as an argument: called without args


# ---- tabwriter and public API ----------------------------------------------------------------

def _normalize(fmt: str) -> str:
    """As podman does: the two-character escapes ``\\t`` and ``\\n`` become a tab and a newline."""
    return fmt.replace("\\t", "\t").replace("\\n", "\n")


def table_body(fmt: str) -> str:
    """A ``table ...`` template without its ``table `` and, as podman does, with each space (in
    actions too) a tab: ``table {{.ID}} {{.Names}}`` is two columns."""
    return fmt[len("table "):].replace(" ", "\t")


def render(fmt: str, item: Any) -> str:
    """Render one item with template ``fmt``: escapes normalized, no newline added, no table."""
    out: list[str] = []
    _Exec(item).run(_compile(_normalize(fmt)), item, out)
    return "".join(out)


def format_items(fmt: str, items: list[Any], headers: Mapping[str, str] | None = None) -> str:
    """Render ``items`` for ``--format fmt``; the result ends with a newline unless it is empty.

    ``json``: one indented JSON array. ``table <template>``: a header line (``headers[field]``,
    else the humanized field name) then one row per item, aligned like podman's tabwriter.
    Otherwise each item's rendering followed by a newline (unless the template ends with one).
    """
    if fmt.strip() == "json":
        return to_json(list(items), indent=4) + "\n"
    table = fmt.startswith("table ")
    text = _normalize(table_body(fmt) if table else fmt)
    nodes = _compile(text if text.endswith("\n") else text + "\n")
    out: list[str] = []
    if table:
        _Exec(None, headers or {}).run(nodes, None, out)
    for item in items:
        _Exec(item).run(nodes, item, out)
    return tabwrite("".join(out)) if table else "".join(out)
