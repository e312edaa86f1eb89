"""Go's way of printing values, and the text/template functions podman's ``--format`` offers
(``json``, ``upper``, ``join``, ``printf``, ``index``, ``eq`` ...): the values side of
:mod:`capsa.formatting`, which parses and runs the templates.

``go_str`` prints a value as Go's ``fmt`` ``%v`` would (maps sorted by key, ``<nil>``, floats
in Go's shortest form); ``truth`` is Go's template truth; ``FUNCS`` maps each function's name
to (function, minimum arguments, maximum arguments or None).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Callable


class TemplateError(ValueError):
    """A template is malformed or names an unknown field or function; the message is one line."""


COLLECTIONS = (list, tuple, set, frozenset)


# ---- Go-like rendering of values -------------------------------------------------------------

def sorted_keys(keys: Any) -> list[Any]:
    try:
        return sorted(keys)
    except TypeError:
        return sorted(keys, key=str)


def _gofloat(x: float) -> str:
    """Go's ``%v`` of a float64: shortest digits, exponent form when exp < -4 or exp >= 6."""
    if x != x or x in (float("inf"), float("-inf")):
        return "NaN" if x != x else "+Inf" if x > 0 else "-Inf"
    from decimal import Decimal

    d = Decimal(repr(x)).normalize()
    sign, digits, e = d.as_tuple()
    exp = len(digits) + int(e) - 1
    if x == 0 or -4 <= exp < 6:
        return format(d, "f")
    mant = "".join(map(str, digits))
    return f"{'-' if sign else ''}{mant[0]}{'.' + mant[1:] if mant[1:] else ''}e{exp:+03d}"


def go_str(v: Any, top: bool = True) -> str:
    """Render ``v`` as Go's ``%v`` does; a nil action value (``top``) prints ``<no value>``."""
    if isinstance(v, str):
        return v
    if v is None:
        return "<no value>" if top else "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return _gofloat(v)
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, Mapping):  # (an empty mapping as a value is Go's struct{}: Volumes, ExposedPorts)
        return "map[" + " ".join(f"{go_str(k, False)}:{'{}' if v[k] == {} else go_str(v[k], False)}"
                                 for k in sorted_keys(v)) + "]"
    if isinstance(v, COLLECTIONS):
        seq = v if isinstance(v, (list, tuple)) else sorted_keys(v)
        return "[" + " ".join(go_str(x, False) for x in seq) + "]"
    return str(v)


def truth(v: Any) -> bool:
    """Go's truth: false, 0, "", nil and empty collections are false; anything else is true."""
    return bool(v) if v is None or isinstance(v, (bool, int, float, str, bytes, Mapping, *COLLECTIONS)) else True


def _plain(v: Any) -> Any:
    """``v`` as JSON-serialisable plain data (mappings, records, dataclasses, objects, enums, dates)."""
    if v is None or isinstance(v, (str, bool, int, float)):
        return v
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, COLLECTIONS):
        return [_plain(x) for x in (v if isinstance(v, (list, tuple)) else sorted_keys(v))]
    if hasattr(type(v), "__record_fields__"):  # capsa.fastpath.record
        return {f.name: _plain(getattr(v, f.name)) for f in type(v).__record_fields__}
    if hasattr(type(v), "__dataclass_fields__"):  # a plugin's dataclass
        import dataclasses

        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if hasattr(type(v), "_value2member_map_"):  # an Enum
        return _plain(v.value)
    if hasattr(v, "__dict__"):
        return {k: _plain(x) for k, x in vars(v).items() if not k.startswith("_")}
    return str(v)


def to_json(v: Any, indent: int | None = None) -> str:
    """Go's json.Marshal(Indent) without HTML escaping: compact unless ``indent``."""
    import json

    seps = (",", ": ") if indent else (",", ":")
    return json.dumps(_plain(v), indent=indent, separators=seps, ensure_ascii=False)


# ---- functions -------------------------------------------------------------------------------

_VERB = r"%([-+# 0]*)(\d+)?(?:\.(\d*))?([a-zA-Z%])"  # patterns compile lazily (re caches them)


def _fmt_one(v: Any, flags: str, width: str | None, prec: str | None, verb: str) -> str:
    """One argument of printf; a mismatched type renders as Go does, e.g. ``%!d(str=x)``."""
    isint = isinstance(v, int) and not isinstance(v, bool)
    spec = "%" + flags + (width or "") + ("." + (prec or "0") if prec is not None else "")
    if isint and verb in "doxX" or verb in "eEfF" and (isint or isinstance(v, float)):
        return (spec + verb) % v
    if isint and verb in "bc":
        body = chr(v) if verb == "c" else format(v, "b")
    elif verb in "gG" and (isint or isinstance(v, float)):
        if prec is not None:
            return (spec + verb) % v
        body = _gofloat(float(v))
        body = body.upper() if verb == "G" else body
    elif verb in "xX" and isinstance(v, str):
        body = v.encode().hex().upper() if verb == "X" else v.encode().hex()
    elif verb in "svqt" and (verb != "t" or isinstance(v, bool)):
        body = go_str(v, False)
        body = body[: int(prec or 0)] if prec is not None and verb != "v" else body
        body = to_json(body) if verb == "q" else body
    elif verb == "T":
        body = type(v).__name__
    else:
        return f"%!{verb}({type(v).__name__}={go_str(v, False)})"
    if width:
        body = body.ljust(int(width)) if "-" in flags else body.rjust(int(width))
    return body


def _printf(fmt: str, *args: Any) -> str:
    """Go's fmt.Sprintf for %s %v %d %q %x %X %o %b %c %e %f %g %t %T %% with flags/width/prec."""
    rest = list(args)

    def sub(m: re.Match[str]) -> str:
        if m.group(4) == "%":
            return "%"
        return _fmt_one(rest.pop(0), *m.groups()) if rest else f"%!{m.group(4)}(MISSING)"

    out = re.sub(_VERB, sub, fmt)
    extra = ", ".join(f"{type(a).__name__}={go_str(a, False)}" for a in rest)
    return out + (f"%!(EXTRA {extra})" if extra else "")


def _index(x: Any, *keys: Any) -> Any:
    """Go's index: map lookups (missing key -> nil) and in-range list/string indexes."""
    for k in keys:
        if isinstance(x, Mapping):
            x = x.get(k)
        elif isinstance(x, (list, tuple, str)) and isinstance(k, int) and 0 <= k < len(x):
            x = x[k]
        else:
            raise IndexError(f"cannot index {type(x).__name__} with {go_str(k, False)}")
    return x


def _need(x: Any, types: tuple[type, ...], fn: str) -> Any:
    """``x`` if it is one of ``types``, else a TypeError naming function ``fn``."""
    if not isinstance(x, types):
        raise TypeError(f"{fn} of type {type(x).__name__}")
    return x


def _print(*a: Any) -> str:
    """Go's fmt.Sprint: a space between operands when neither is a string."""
    sp = [i and not isinstance(x, str) and not isinstance(a[i - 1], str) for i, x in enumerate(a)]
    return "".join(" " * bool(s) + go_str(x, False) for s, x in zip(sp, a))


# name -> (function, minimum args, maximum args or None)
FUNCS: dict[str, tuple[Callable[..., Any], int, int | None]] = {
    "json": (to_json, 1, 1),
    "upper": (lambda s: go_str(s).upper(), 1, 1),
    "lower": (lambda s: go_str(s).lower(), 1, 1),
    "title": (lambda s: re.sub(r"(?<!\w)\w", lambda m: m.group().upper(), go_str(s)), 1, 1),
    "join": (lambda a, sep: go_str(sep).join(go_str(x, False) for x in _need(a, COLLECTIONS, "join")), 2, 2),
    "split": (lambda s, sep: go_str(s).split(sep) if sep else list(go_str(s)), 2, 2),
    "pad": (lambda s, a, b: " " * a + go_str(s) + " " * b, 3, 3),
    "truncate": (lambda s, n: go_str(s)[:n], 2, 2),
    "len": (lambda x: len(_need(x, (str, bytes, Mapping, *COLLECTIONS), "len")), 1, 1),
    "index": (_index, 1, None),
    "print": (_print, 0, None),
    "printf": (_printf, 1, None),
    "println": (lambda *a: " ".join(go_str(x, False) for x in a) + "\n", 0, None),
    "not": (lambda x: not truth(x), 1, 1),
    "and": (lambda *a: next((x for x in a if not truth(x)), a[-1]), 1, None),
    "or": (lambda *a: next((x for x in a if truth(x)), a[-1]), 1, None),
    "eq": (lambda a, *b: any(a == x for x in b), 2, None),
    "ne": (lambda a, b: a != b, 2, 2),
    "lt": (lambda a, b: a < b, 2, 2),
    "le": (lambda a, b: a <= b, 2, 2),
    "gt": (lambda a, b: a > b, 2, 2),
    "ge": (lambda a, b: a >= b, 2, 2),
}
