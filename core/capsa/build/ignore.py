"""``.containerignore`` / ``.dockerignore``: docker's exact semantics.

:func:`read_patterns` is docker's ``dockerignore.ReadAll``: a UTF-8 BOM dropped, lines starting
with ``#`` are comments (only there: ``a # b`` is a pattern), surrounding white space trimmed,
empty lines skipped, a leading ``!`` negates; each pattern is cleaned as Go's ``filepath.Clean``
does (``./a`` -> ``a``, ``a/`` -> ``a``, ``a//b/../c`` -> ``a/c``) and loses one leading ``/``.

:class:`IgnoreMatcher` is moby/patternmatcher's ``MatchesOrParentMatches``: the patterns are
tried in order and the last one that matches the path *or one of its parent directories* wins
(so a directory pattern excludes everything below it, and ``!pattern`` re-includes). A pattern
is ``filepath.Match`` syntax (``*`` and ``?`` never cross ``/``, ``[...]`` classes with ``^``
negation and ranges, ``\\`` escapes the next character) plus ``**``, which matches any number of
directories, none included. A malformed pattern (``[`` unclosed, a trailing ``\\``, a lone
``!``) is a BuildError, as docker refuses it.
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Callable

from capsa.errors import BuildError

_SPACE = " \t\n\r\v\f\x85\xa0"  # (Go's strings.TrimSpace, for what a pattern file can hold)
_EXACT, _PREFIX, _SUFFIX, _REGEXP = range(4)


def clean(path: str) -> str:
    """Go's ``filepath.Clean`` for "/" separated paths."""
    if not path:
        return "."
    rooted = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    text = "/".join(out)
    return ("/" + text) if rooted else (text or ".")


def read_patterns(text: str) -> list[str]:
    """The patterns of an ignore file's ``text`` (docker's ``dockerignore.ReadAll``)."""
    patterns = []
    for number, line in enumerate(text.split("\n")):
        if number == 0:
            line = line.removeprefix("\ufeff")
        if line.startswith("#"):
            continue
        line = line.strip(_SPACE)
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip(_SPACE)
        if line:
            line = clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append("!" + line if invert else line)
    return patterns


def _check_syntax(pattern: str) -> None:
    """Raise BuildError when Go's ``filepath.Match`` would call ``pattern`` malformed."""
    i, n = 0, len(pattern)

    def esc(j: int) -> int:  # one class character (getEsc): the index after it
        if j >= n or pattern[j] in "-]":
            raise ValueError
        if pattern[j] == "\\":
            j += 1
            if j >= n:
                raise ValueError
        return j + 1

    try:
        while i < n:
            ch = pattern[i]
            if ch == "\\":
                if i + 1 >= n:
                    raise ValueError
                i += 2
            elif ch == "[":
                i += 1
                if i < n and pattern[i] == "^":
                    i += 1
                ranges = 0
                while True:
                    if i < n and pattern[i] == "]" and ranges:
                        i += 1
                        break
                    i = esc(i)
                    if i < n and pattern[i] == "-":
                        i = esc(i + 1)
                    ranges += 1
            else:
                i += 1
    except ValueError:
        raise BuildError(f"syntax error in pattern {pattern!r} of the ignore file",
                         hint="filepath.Match syntax: close '[' classes and do not end a pattern with '\\'") from None


class _Pattern:
    """One pattern, compiled as patternmatcher's ``Pattern.compile`` does."""

    def __init__(self, text: str) -> None:
        self.exclusion = text.startswith("!")
        self.text = text[1:] if self.exclusion else text
        _check_syntax(self.text)
        self.dirs = self.text.split("/")
        self.kind, self.regexp = self._compile(self.text)

    @staticmethod
    def _compile(p: str) -> tuple[int, re.Pattern[str] | None]:
        out, kind, i, n = "^", _EXACT, 0, len(p)
        first = True
        while i < n:
            ch = p[i]
            i += 1
            if ch == "*":
                if i < n and p[i] == "*":  # some flavour of "**"
                    i += 1
                    if i < n and p[i] == "/":
                        i += 1
                    if i >= n:  # "**" at the end: everything (as .gitignore)
                        if kind == _EXACT:
                            kind = _PREFIX
                        else:
                            out += ".*"
                            kind = _REGEXP
                    else:
                        out += "(.*/)?"
                        kind = _REGEXP
                    if first:
                        kind = _SUFFIX
                else:
                    out += "[^/]*"
                    kind = _REGEXP
            elif ch == "?":
                out += "[^/]"
                kind = _REGEXP
            elif ch in ".+()|{}$":
                out += "\\" + ch
            elif ch == "\\":
                if i < n:
                    out += "\\" + p[i]
                    i += 1
                    kind = _REGEXP
                else:
                    out += "\\\\"
            elif ch in "[]":
                out += ch
                kind = _REGEXP
            else:
                out += ch
            first = False
        if kind != _REGEXP:
            return kind, None
        try:
            with warnings.catch_warnings():  # (Python's FutureWarning about "[[" in a class)
                warnings.simplefilter("ignore")
                return kind, re.compile(out + "\\Z")
        except re.error:
            raise BuildError(f"syntax error in pattern {p!r} of the ignore file",
                             hint="check the character classes ([a-z]) of the pattern") from None

    def match(self, path: str) -> bool:
        if self.kind == _EXACT:
            return path == self.text
        if self.kind == _PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind == _SUFFIX:
            suffix = self.text[2:]  # ("**/foo" matches "foo" too)
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regexp is not None
        return self.regexp.match(path) is not None


def glob_matcher(pattern: str) -> Callable[[str], bool]:
    """A test of one path component against one ``filepath.Match`` pattern component (no
    ``/``): what ``filepath.Glob`` applies per component (where ``**`` is ``*`` twice: runs of
    unescaped ``*`` become one, the ignore file's ``**`` meaning does not apply). BuildError if
    it is malformed."""
    out, i, star = "", 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out, i, star = out + pattern[i:i + 2], i + 2, False
            continue
        if not (ch == "*" and star):
            out += ch
        star, i = ch == "*", i + 1
    return _Pattern(out).match


class IgnoreMatcher:
    """docker's .dockerignore semantics (moby/patternmatcher ``MatchesOrParentMatches``)."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[_Pattern] = []
        for text in patterns:
            text = text.strip(_SPACE)
            if not text:
                continue
            text = clean(text)
            if len(text) > 1 and text.startswith("/"):  # (as the reader does; "/x" matches nothing else)
                text = text[1:]
            if text == "!":
                raise BuildError('illegal exclusion pattern: "!"', hint="give a pattern after '!' in the ignore file")
            self.patterns.append(_Pattern(text))
        self.exclusions = any(p.exclusion for p in self.patterns)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matches(self, rel: str) -> bool:
        """Whether ``rel`` ("a/b/c", relative to the context root) is excluded."""
        matched = False
        parent = rel.rpartition("/")[0]
        parents = parent.split("/") if parent else []
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = pattern.match(rel)
            if not hit:
                for i in range(len(parents)):
                    if pattern.match("/".join(parents[:i + 1])):
                        hit = True
                        break
            if hit:
                matched = not pattern.exclusion
        return matched

    def may_include_below(self, rel: str) -> bool:
        """Whether some ``!`` pattern could re-include a path below the directory ``rel``: a
        walker may prune an excluded directory only when this is False."""
        if not self.exclusions:
            return False
        parts = rel.split("/")
        for pattern in self.patterns:
            if not pattern.exclusion:
                continue
            for part, name in zip(pattern.dirs, parts):
                if "**" in part:  # (may stand for any number of components: maybe)
                    return True
                if not glob_matcher(part)(name):
                    break
            else:
                return True
        return False
