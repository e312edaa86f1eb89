"""The Containerfile/Dockerfile parser: text to a list of ``Node`` (one per instruction).

It follows docker's parser (buildkit ``frontend/dockerfile/parser``) so that a file means here what
it means to docker, quirks included; ``dump`` writes the reference parser's AST dump, which the
conformance corpus checks case by case. What this layer does:

- parser directives (``# syntax=...``, ``# escape=`` (backslash or backtick), ``# check=...``)
  only in the comment lines at the very top; any other line ends them;
- comments (lines starting with ``#`` after white space) and blank lines are dropped, also inside
  continued instructions; the escape character at the end of a line continues the instruction;
- the keyword is case-insensitive (kept lower case), leading ``--flag[=value]`` words become
  ``flags``, and the rest is split per instruction as docker does: exec (JSON array) or shell
  form, ``ENV``/``LABEL`` key-value triples (key, value, ``"="`` or ``""`` for the legacy
  ``KEY value`` form), ``ONBUILD``'s nested instruction in ``child``;
- heredocs (``<<EOF``, ``<<-EOF``, ``<<"EOF"``; several per line) for ``RUN``, ``COPY``, ``ADD``
  in shell form, also under ``ONBUILD``: their bodies follow the instruction line.

Unknown keywords are kept (with no arguments): ``capsa.build.instructions`` refuses them with
their line number. Values keep their quotes and ``$`` references: expansion happens per
instruction (``Instruction.expanded``).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from capsa.build.shellwords import Lexer, go_quote, is_space
from capsa.errors import BuildError

HEREDOC_KEYWORDS = frozenset({"run", "copy", "add"})
DIRECTIVES = frozenset({"syntax", "escape", "check"})
_DIRECTIVE = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_HEREDOC = re.compile(r"^(\d*)<<(-?)\s*([^<]*)$", re.S)
_HEREDOC_OPENER = re.compile(r"^\d*<<-?$")
_LEADING_TABS = re.compile(r"^\t+", re.M)
_HINT = "see docs/containerfile.md for the syntax capsa accepts"


@dataclass
class Heredoc:
    """A here-document. ``content`` is the body as written (every line with its newline); for
    ``<<-`` (``chomp``) ``text()`` strips the leading tabs. ``expand`` is false when the
    delimiter was quoted (the body is then taken literally)."""

    name: str
    content: str
    expand: bool
    chomp: bool

    def text(self) -> str:
        """The body as the build uses it (leading tabs removed for ``<<-``)."""
        return _LEADING_TABS.sub("", self.content) if self.chomp else self.content


@dataclass
class Node:
    """One instruction of a Containerfile."""

    keyword: str
    args: list[str]
    flags: list[str]
    json_form: bool
    heredocs: list[Heredoc]
    original: str
    start_line: int
    end_line: int
    child: Node | None = None


@dataclass
class Dockerfile:
    directives: dict[str, str]
    escape: str
    nodes: list[Node] = field(default_factory=list)


class _ParseError(Exception):
    pass


def _lstrip(text: str) -> str:
    i = 0
    while i < len(text) and is_space(text[i]):
        i += 1
    return text[i:]


def _strip(text: str) -> str:
    text = _lstrip(text)
    end = len(text)
    while end and is_space(text[end - 1]):
        end -= 1
    return text[:end]


def _is_comment(line: str) -> bool:
    return _lstrip(line).startswith("#")


def _split_lines(text: str) -> list[str]:
    """Lines with their endings kept (the last one may have none)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


class _Directives:
    """The parser directives at the top of the file, and the escape character they set."""

    def __init__(self) -> None:
        self.done = False
        self.values: dict[str, str] = {}
        self.set_escape("\\")

    def set_escape(self, token: str) -> None:
        if token not in ("`", "\\"):
            raise _ParseError(f"invalid escape token '{token}' does not match ` or \\")
        self.escape = token
        e = re.escape(token)
        self.continuation = re.compile(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")

    def feed(self, line: str) -> None:
        """Looks at one (left-stripped, newline-less) line for a directive."""
        if self.done:
            return
        if not line.startswith("#"):
            self.done = True
            return
        match = _DIRECTIVE.match(_lstrip(line[1:]))
        if not match or match.group(1).lower() not in DIRECTIVES:
            self.done = True
            return
        key = match.group(1).lower()
        if key in self.values:
            raise _ParseError(f"only one {key} parser directive can be used")
        self.values[key] = match.group(2)
        if key == "escape":
            self.set_escape(match.group(2))

    def trim_continuation(self, line: str) -> tuple[str, bool]:
        """(line without a trailing escape character, whether the instruction ends here)."""
        if self.continuation.search(line):
            return self.continuation.sub(r"\1", line, count=1), False
        return line, True


def parse(text: str) -> Dockerfile:
    """Parses a whole Containerfile; ``BuildError`` ``"line N: ..."`` when it is malformed or
    holds no instruction."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = _split_lines(text)
    d = _Directives()
    nodes: list[Node] = []
    i = 0
    current = 0
    while i < len(lines):
        raw = lines[i]
        i += 1
        token = _lstrip(raw.rstrip("\r\n"))
        try:
            d.feed(token)
        except _ParseError as err:
            raise _error(current + 1, str(err)) from None
        current += 1
        start = current
        token = "" if token.startswith("#") else token
        buf, ended = d.trim_continuation(token)
        if ended and not buf:
            continue
        while not ended and i < len(lines):
            raw = lines[i]
            i += 1
            token = raw.rstrip("\r\n")
            try:
                d.feed(token)
            except _ParseError as err:
                raise _error(current + 1, str(err)) from None
            current += 1
            if _is_comment(raw) or not _lstrip(token):
                continue
            token, ended = d.trim_continuation(token)
            buf += token
        try:
            node = _node_from_line(buf, d)
        except _ParseError as err:
            raise _error(start, str(err)) from None
        target = node.child if node.keyword == "onbuild" and node.child else node
        if target.keyword in HEREDOC_KEYWORDS and not target.json_form and "<<" in buf:
            for doc in _heredocs_from_line(buf):
                content, terminated = [], False
                while i < len(lines):
                    raw = lines[i]
                    i += 1
                    current += 1
                    candidate = raw.rstrip("\r\n")
                    if doc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == doc.name:
                        terminated = True
                        break
                    content.append(raw)
                if not terminated:
                    raise _error(start, f"unterminated heredoc {doc.name!r}",
                                 f"end the here-document with a line holding only {doc.name}")
                doc.content = "".join(content)
                target.heredocs.append(doc)
        node.start_line, node.end_line = start, current
        if node.child is not None:
            node.child.start_line, node.child.end_line = start, current
        nodes.append(node)
    if not nodes:
        raise _error(max(current, 1), "file with no instructions", "a Containerfile needs at least a FROM line")
    return Dockerfile(directives=dict(d.values), escape=d.escape, nodes=nodes)


def _error(line: int, message: str, hint: str = _HINT) -> BuildError:
    return BuildError(f"line {line}: {message}", hint)


def _node_from_line(line: str, d: _Directives) -> Node:
    parts = _WHITESPACE.split(_strip(line), maxsplit=1)
    keyword = parts[0].lower()
    flags: list[str] = []
    rest = ""
    if len(parts) == 2:
        rest, flags = _extract_flags(parts[1])
    rest = _strip(rest)
    node = Node(keyword=keyword, args=[], flags=flags, json_form=False, heredocs=[],
                original=line, start_line=0, end_line=0)
    handler = _HANDLERS.get(keyword)
    if handler is not None:
        handler(node, rest, d)
    return node


def _scan_words(text: str, escape: str, keep_quotes: bool) -> Iterator[tuple[int, int, str]]:
    """White-space separated words as (start, end, word). ``keep_quotes``: quotes and escape
    characters stay in the word and single quotes escape nothing (``ARG``/``ENV``/``LABEL``
    words); otherwise both are removed and the escape character works in any quotes (flags).
    An escape character at the very end is dropped."""
    pos, n = 0, len(text)
    while pos < n:
        if is_space(text[pos]):
            pos += 1
            continue
        start, word, quote, blank_ok = pos, "", "", False
        while pos < n:
            ch = text[pos]
            if not quote and is_space(ch):
                break
            pos += 1
            if (not quote and ch in "'\"") or (quote and ch == quote):
                quote, blank_ok = ("" if quote else ch), True
                word += ch if keep_quotes else ""
                continue
            if ch == escape and not (keep_quotes and quote == "'"):
                if pos == n:
                    break
                word += ch if keep_quotes else ""
                ch = text[pos]
                pos += 1
            word += ch
        if blank_ok or word:
            yield start, pos, word


def _extract_flags(line: str) -> tuple[str, list[str]]:
    """Leading ``--name[=value]`` words (quotes and backslashes processed); ``--`` ends them.
    Returns (the rest of the line, the flags)."""
    flags: list[str] = []
    for start, end, word in _scan_words(line, "\\", keep_quotes=False):
        if not line.startswith("--", start):
            return line[start:], flags
        if word == "--":
            return line[end:], flags
        flags.append(word)
    return "", flags


def _parse_words(rest: str, escape: str) -> list[str]:
    """White-space separated words, quotes and escapes kept (``ARG``, ``ENV``, ``LABEL``)."""
    return [word for _, _, word in _scan_words(rest, escape, keep_quotes=True)]


def _name_values(node: Node, rest: str, d: _Directives) -> None:
    words = _parse_words(rest, d.escape)
    if not words:
        return
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _ParseError(f"{node.keyword.upper()} must have two arguments")
        node.args = [parts[0], parts[1], ""]
        return
    for word in words:
        if "=" not in word:
            raise _ParseError(f"Syntax error - can't find = in {go_quote(word)}. Must be of the form: name=value")
        key, _, value = word.partition("=")
        node.args += [key, value, "="]


def _words(node: Node, rest: str, d: _Directives) -> None:
    node.args = _parse_words(rest, d.escape)


def _whitespace_list(node: Node, rest: str, d: _Directives) -> None:
    node.args = _WHITESPACE.split(rest) if rest else []


def _string(node: Node, rest: str, d: _Directives) -> None:
    node.args = [rest] if rest else []


def _not_json(name: str) -> None:
    """``NaN``/``Infinity``: Python's json takes them, Go's (docker's) does not."""
    raise ValueError(name)


def _json(rest: str) -> list[str] | None:
    """The exec form's strings; None when ``rest`` is no JSON array (then it is shell form)."""
    rest = _lstrip(rest)
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest, parse_constant=_not_json)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise _ParseError("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _maybe_json(node: Node, rest: str, d: _Directives) -> None:
    if not rest:
        return
    parsed = _json(rest)
    if parsed is None:
        node.args = [rest]
    else:
        node.args, node.json_form = parsed, True


def _maybe_json_list(node: Node, rest: str, d: _Directives) -> None:
    parsed = _json(rest)
    if parsed is None:
        _whitespace_list(node, rest, d)
    else:
        node.args, node.json_form = parsed, True


def _healthcheck(node: Node, rest: str, d: _Directives) -> None:
    sep = 0
    while sep < len(rest) and not is_space(rest[sep]):
        sep += 1
    if sep == 0:
        return
    following = sep
    while following < len(rest) and is_space(rest[following]):
        following += 1
    _maybe_json(node, rest[following:], d)
    node.args.insert(0, rest[:sep])


def _onbuild(node: Node, rest: str, d: _Directives) -> None:
    if rest:
        node.child = _node_from_line(rest, d)


_HANDLERS = {
    "add": _maybe_json_list, "arg": _words, "cmd": _maybe_json, "copy": _maybe_json_list,
    "entrypoint": _maybe_json, "env": _name_values, "expose": _whitespace_list,
    "from": _whitespace_list, "healthcheck": _healthcheck, "label": _name_values,
    "maintainer": _string, "onbuild": _onbuild, "run": _maybe_json, "shell": _maybe_json,
    "stopsignal": _string, "user": _string, "volume": _maybe_json_list, "workdir": _string,
}


def _heredocs_from_line(line: str) -> list[Heredoc]:
    try:
        words = Lexer(raw_quotes=True, raw_escapes=True, skip_unset=True).process(line, {})[1]
    except BuildError:
        return []
    docs = []
    for word in join_heredoc_openers(words):
        doc = parse_heredoc(word)
        if doc is not None:
            docs.append(doc)
    return docs


def join_heredoc_openers(words: list[str]) -> list[str]:
    """``<<`` (``<<-``, ``3<<``) written apart from its delimiter (``<< EOF``) joined to it,
    as newer docker reads it."""
    out: list[str] = []
    for word in words:
        if out and _HEREDOC_OPENER.match(out[-1]):
            out[-1] = f"{out[-1]} {word}"
        else:
            out.append(word)
    return out


def parse_heredoc(word: str) -> Heredoc | None:
    """The heredoc a word like ``<<EOF``, ``<<-"EOF"``, ``3<<EOF`` opens, else None (also used
    to tell a heredoc source of COPY from a path). Its content is empty."""
    match = _HEREDOC.match(word)
    if not match or not match.group(3):
        return None
    rest = match.group(3)
    try:
        plain = Lexer(skip_unset=True).process(rest, {})[1]
        raw = Lexer(raw_quotes=True, skip_unset=True).process(rest, {})[1]
    except BuildError:
        return None
    if len(plain) != 1 or len(raw) != 1:
        return None
    quotes = plain[0].count("'") + plain[0].count('"')
    raw_quotes = raw[0].count("'") + raw[0].count('"')
    return Heredoc(name=plain[0], content="", expand=quotes == raw_quotes, chomp=match.group(2) == "-")


def _dump_node(node: Node) -> str:
    text = node.keyword
    if node.flags:
        text += " [" + " ".join(go_quote(flag) for flag in node.flags) + "]"
    if node.child is not None:
        text += " (" + _dump_node(node.child) + ")"
    for arg in node.args:
        text += " " + go_quote(arg)
    return text.strip()


def dump(df: Dockerfile) -> str:
    """The reference parser's AST dump: one ``(keyword ["--flag"] "arg" ...)`` line per node."""
    return "".join(f"({_dump_node(node)})\n" for node in df.nodes)
