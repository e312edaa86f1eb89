"""Containerfile word processing: variable expansion, quote removal and word splitting.

The rules are docker's (buildkit's ``frontend/dockerfile/shell`` lexer), which mimic a POSIX
shell without running one:

- ``'...'`` keeps everything literally (no escapes, no expansion);
- ``"..."`` expands ``$`` and lets the escape character escape only ``"``, ``$`` and itself;
- outside quotes the escape character (``\\`` or the ``# escape=`` one) escapes any character,
  and a lone one at the very end is dropped;
- ``$NAME``, ``${NAME}``, ``${NAME:-word}``/``${NAME-word}`` (default), ``${NAME:+word}``/
  ``${NAME+word}`` (alternative), ``${NAME:?msg}``/``${NAME?msg}`` (error), ``${NAME#pat}``,
  ``${NAME##pat}``, ``${NAME%pat}``, ``${NAME%%pat}`` (trim) and ``${NAME/pat/repl}``,
  ``${NAME//pat/repl}`` (replace). Positional (``$1``) and special (``$@ $# $? ...``) parameters
  are never set. Anything else in ``${...}`` is a ``BuildError``.

``expand_heredoc`` expands only ``$`` references in a heredoc body, keeping quotes and escapes.
``expand`` gives the single word (spaces between words kept, as for ``WORKDIR``, ``ENV``);
``expand_words`` splits the result into words after expansion (as for ``EXPOSE``): unquoted
expanded values split on white space, quoted ones never do.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from capsa.errors import BuildError

_GO_SPACES = frozenset("\t\n\v\f\r \x85\xa0")
_SPECIAL_PARAMS = frozenset("@*#?-$!0")


def is_space(ch: str) -> bool:
    """Go's ``unicode.IsSpace`` (Python's ``str.isspace`` also counts \\x1c-\\x1f)."""
    if ch in _GO_SPACES:
        return True
    return ord(ch) > 0xFF and unicodedata.category(ch) in ("Zs", "Zl", "Zp")


def _is_digit(ch: str) -> bool:
    return unicodedata.category(ch) == "Nd"


class _Words:
    """Accumulates the word-split view of the processed text."""

    __slots__ = ("word", "words", "in_word")

    def __init__(self) -> None:
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if is_space(ch):
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def result(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class Lexer:
    """One pass over a word. ``raw_quotes``/``raw_escapes`` keep quotes/escape characters in the
    output (used to find heredoc words); ``skip_unset`` leaves references to unset variables as
    written instead of expanding them to nothing."""

    def __init__(self, escape: str = "\\", *, raw_quotes: bool = False, raw_escapes: bool = False,
                 skip_unset: bool = False, skip_quotes: bool = False) -> None:
        self.escape = escape
        self.skip_quotes = skip_quotes
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset
        self._src = ""
        self._pos = 0
        self._env: Mapping[str, str] = {}

    def process(self, word: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
        """(the expanded word, the expanded words); ``BuildError`` on a syntax error."""
        self._src, self._pos, self._env = word, 0, env
        try:
            return self._until(None, self.raw_escapes)
        except _LexError as err:
            raise BuildError(f"failed to process {go_quote(word)}: {err}",
                             "check the quoting and ${...} syntax of this word") from None

    # -- scanning
    def _peek(self) -> str | None:
        return self._src[self._pos] if self._pos < len(self._src) else None

    def _next(self) -> str | None:
        ch = self._peek()
        if ch is not None:
            self._pos += 1
        return ch

    def _until(self, stop: str | None, raw_escapes: bool) -> tuple[str, list[str]]:
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._until_inner(stop)
        finally:
            self.raw_escapes = saved

    def _until_inner(self, stop: str | None) -> tuple[str, list[str]]:
        out: list[str] = []
        words = _Words()
        while (ch := self._peek()) is not None:
            if stop is not None and ch == stop:
                self._next()
                return "".join(out), words.result()
            if ch == "$":
                text = self._dollar()
                out.append(text)
                words.add_string(text)
                continue
            if ch in "'\"" and not self.skip_quotes:
                text = self._quoted()
                out.append(text)
                words.add_raw(text)
                continue
            self._next()
            if ch == self.escape:
                if self.raw_escapes:
                    words.add_raw(ch)
                    out.append(ch)
                ch = self._next()
                if ch is None:
                    break
                words.add_raw(ch)
            else:
                words.add_char(ch)
            out.append(ch)
        if stop is not None:
            raise _LexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out), words.result()

    def _quoted(self) -> str:
        """A single- or double-quoted part: single quotes keep everything; double quotes expand
        ``$`` and let the escape character escape only ``"``, ``$`` and itself."""
        quote = self._next() or ""
        double = quote == '"'
        out = [quote] if self.raw_quotes else []
        while True:
            ch = self._peek()
            if ch is None:
                kind = "double" if double else "single"
                raise _LexError(f"unexpected end of statement while looking for matching {kind}-quote")
            if ch == quote:
                self._next()
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if double and ch == "$":
                out.append(self._dollar())
                continue
            self._next()
            if double and ch == self.escape:
                if self.raw_escapes:
                    out.append(ch)
                following = self._peek()
                if following is None:
                    continue
                if following in ('"', "$", self.escape):
                    ch = self._next() or ""
            out.append(ch)

    def _name(self) -> str:
        name = ""
        while (ch := self._peek()) is not None:
            if not name and _is_digit(ch):
                while (d := self._peek()) is not None and _is_digit(d):
                    name += d
                    self._next()
                return name
            if not name and ch in _SPECIAL_PARAMS:
                self._next()
                return ch
            if not (ch.isalpha() or _is_digit(ch) or ch == "_"):
                break
            name += ch
            self._next()
        return name

    def _lookup(self, name: str) -> tuple[str, bool]:
        if name in self._env:
            return self._env[name], True
        return "", False

    def _dollar(self) -> str:
        self._next()
        if self._peek() != "{":
            name = self._name()
            if not name:
                return "$"
            value, found = self._lookup(name)
            return "$" + name if not found and self.skip_unset else value
        self._next()
        first = self._peek()
        if first is None:
            raise _LexError("syntax error: missing '}'")
        if first in "{}:":
            raise _LexError("syntax error: bad substitution")
        name = self._name()
        ch = self._next()
        if ch is None:
            raise _LexError("syntax error: missing '}'")
        if ch == "}":
            value, found = self._lookup(name)
            return "${%s}" % name if not found and self.skip_unset else value
        if ch == "/":
            return self._replace(name)
        modifier = ch or ""
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self._next()
            modifier += ch or ""
        if ch is None or ch not in "+-?#%":
            raise _LexError(f"unsupported modifier ({modifier}) in substitution")
        word = self._part("}", ch in "#%", "syntax error: missing '}'")
        value, found = self._lookup(name)
        if self.skip_unset and not found:
            return "${%s%s%s}" % (name, modifier, word)
        empty = not found or (null_is_unset and value == "")
        if ch == "-":
            return word if empty else value
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            if not found:
                raise _LexError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise _LexError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        greedy = word[:1] == ch
        pattern = word[1:] if greedy else word
        return _trim(value, pattern, greedy, suffix=ch == "%")

    def _part(self, stop: str, raw_escapes: bool, missing: str) -> str:
        """The text up to ``stop`` inside ``${...}``; ``missing`` when the word ends first."""
        try:
            return self._until(stop, raw_escapes)[0]
        except _LexError:
            if self._peek() is None:
                raise _LexError(missing) from None
            raise

    def _replace(self, name: str) -> str:
        replace_all = self._peek() == "/"
        if replace_all:
            self._next()
        pattern = self._part("/", True, "syntax error: missing '/' in ${}")
        replacement = self._part("}", True, "syntax error: missing '}'")
        value, found = self._lookup(name)
        if self.skip_unset and not found:
            return "${%s/%s/%s}" % (name, pattern, replacement)
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        return regex.sub(lambda _m: replacement, value, count=0 if replace_all else 1)


class _LexError(Exception):
    pass


def _pattern_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell wildcard pattern (``*``, ``?``, backslash escapes; no brackets) as a regex."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            following = pattern[i] if i < len(pattern) else ""
            if following in ("}", "/"):
                continue
            if following not in ("*", "?", "\\"):
                raise _LexError(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{following}'")
            out.append(re.escape(following))
            i += 1
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.S)


def _trim(value: str, pattern: str, greedy: bool, *, suffix: bool) -> str:
    if not suffix:
        match = _pattern_regex(pattern, greedy=greedy, anchored=True).match(value)
        return value[match.end():] if match else value
    # the shortest (or longest) suffix matching the pattern
    starts = range(len(value) + 1) if greedy else range(len(value), -1, -1)
    regex = _pattern_regex(pattern, greedy=True, anchored=False)
    for start in starts:
        if regex.fullmatch(value, start):
            return value[:start]
    return value


def go_quote(text: str) -> str:
    """``text`` as Go's ``strconv.Quote`` writes it (the AST dump's and error messages' form);
    undecodable bytes (surrogate escapes) come out as ``\\xNN``."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
               "\t": "\\t", "\v": "\\v", "\\": "\\\\", '"': '\\"'}


def expand(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """``word`` with variables expanded and quotes/escapes removed (buildkit's ProcessWord)."""
    return Lexer(escape).process(word, env)[0]


def expand_words(word: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """``word`` expanded, then split into words (buildkit's ProcessWords)."""
    return Lexer(escape).process(word, env)[1]


def expand_heredoc(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """A heredoc body (unquoted delimiter) with ``$`` references expanded; quotes and escape
    characters stay as written (docker expands ``COPY <<EOF`` bodies this way)."""
    return Lexer(escape, raw_escapes=True, skip_quotes=True).process(text, env)[0]
