"""Hand-written checks for what would otherwise be regular expressions.

``import re`` (with ``enum``) and compiling a pattern cost a container start ~4 ms. Each check
here states the pattern it implements; tests/test_fastpath.py compares every one with ``re``
on generated inputs.
"""
from __future__ import annotations

DIGITS = "0123456789"
_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz" + DIGITS)
_ALNUM = frozenset(_LOWER_ALNUM | set("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
_WORD = frozenset(_ALNUM | {"_"})
_NAME_REST = frozenset(_ALNUM | set("_.-"))
_HEX_LOWER = frozenset("0123456789abcdef")
_HEX = frozenset("0123456789abcdefABCDEF")


def is_safe_name(name: object, max_len: int | None = None) -> bool:
    """``[A-Za-z0-9][A-Za-z0-9_.-]*`` (at most ``max_len`` characters): the names capsa and
    podman accept for containers, volumes and layers, safe as one path component."""
    return (isinstance(name, str) and bool(name) and (max_len is None or len(name) <= max_len)
            and name[0] in _ALNUM and all(c in _NAME_REST for c in name))


def is_sha256_hex(text: str) -> bool:
    """``[0-9a-f]{64}``: a sha256 digest's hex, an image or container id."""
    return len(text) == 64 and all(c in _HEX_LOWER for c in text)


def is_path_component(part: str) -> bool:
    """``[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*``: alphanumeric runs joined by ``.``, ``_``,
    ``__`` or dashes (a component of an image repository's path)."""
    if not part or part[0] not in _LOWER_ALNUM or part[-1] not in _LOWER_ALNUM:
        return False
    separator = ""
    for c in part:
        if c in _LOWER_ALNUM:
            if separator not in ("", ".", "_", "__") and separator.strip("-"):
                return False
            separator = ""
        elif c in "._-":
            separator += c
        else:
            return False
    return True


def is_domain_component(label: str) -> bool:
    """``[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]``."""
    return bool(label) and label[0] in _ALNUM and label[-1] in _ALNUM and all(c in _ALNUM or c == "-" for c in label)


def is_domain(text: str) -> bool:
    """A registry host, optionally with a port: ``host.name[:PORT]`` or ``[IPv6][:PORT]``
    (components as :func:`is_domain_component`, the port ``[0-9]+``, the IPv6 address
    ``[0-9A-Fa-f:]+``)."""
    if text.startswith("["):
        close = text.find("]")
        address, rest = text[1:close], text[close + 1:]
        if close == -1 or not address or not all(c in _HEX or c == ":" for c in address):
            return False
    else:
        address, colon, port = text.partition(":")
        rest = colon + port
        if not all(is_domain_component(label) for label in address.split(".")):
            return False
    return not rest or (rest[0] == ":" and len(rest) > 1 and all(c in DIGITS for c in rest[1:]))


def is_tag(tag: str) -> bool:
    """``[A-Za-z0-9_][A-Za-z0-9_.-]*`` (an image tag; its length is checked apart)."""
    return bool(tag) and tag[0] in _WORD and all(c in _NAME_REST for c in tag)


def unescape_mount_path(text: str) -> str:
    """Undo /proc/*/mountinfo's octal escapes (``re.sub(r"\\\\([0-7]{3})", ...)``): ``\\040``
    is a space."""
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        code = text[i + 1:i + 4]
        if text[i] == "\\" and len(code) == 3 and all("0" <= c <= "7" for c in code):
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
