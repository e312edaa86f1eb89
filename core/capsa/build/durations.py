"""Go's ``time.ParseDuration``, as docker parses ``HEALTHCHECK --interval=1m30s`` and friends."""
from __future__ import annotations

import re

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
          "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_PART = re.compile(r"(\d*)(?:\.(\d*))?([a-zA-Zµμ]*)")


def parse_duration(text: str) -> int:
    """Nanoseconds in ``text`` (``"1h2m3.5s"``, ``"300ms"``, ``"-1s"``, ``"0"``); ValueError
    with Go's wording when it is not a duration."""
    original = text
    sign = 1
    if text[:1] in ("-", "+"):
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise ValueError(f'time: invalid duration "{original}"')
    total = 0
    while text:
        match = _PART.match(text)
        whole, frac, unit = match.group(1), match.group(2), match.group(3)
        if not whole and not frac:
            raise ValueError(f'time: invalid duration "{original}"')
        if not unit:
            raise ValueError(f'time: missing unit in duration "{original}"')
        if unit not in _UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{original}"')
        scale = _UNITS[unit]
        total += int(whole or 0) * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
        text = text[match.end():]
    if total > 2**63 - 1:
        raise ValueError(f'time: invalid duration "{original}"')
    return sign * total
