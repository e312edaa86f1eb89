"""Sizes and durations printed the way podman prints them (Docker's go-units)."""
from __future__ import annotations

import datetime

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def human_size(size: float) -> str:
    """Decimal units with 3 significant digits: ``2.14 MB``, ``999 B``, ``1.5 kB``."""
    i = 0
    while size >= 1000 and i < len(_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.3g} {_UNITS[i]}"


EPOCH = datetime.datetime.fromtimestamp(0, datetime.timezone.utc)


def parse_time(text: str, strict: bool = False) -> datetime.datetime:
    """An RFC 3339 timestamp (any fraction length, ``Z`` or offset) as an aware datetime.
    Unparseable text is the epoch, unless ``strict`` (then ValueError)."""
    try:
        return _parse_time(text)
    except (ValueError, TypeError, AttributeError):
        if strict:
            raise
        return EPOCH


def _parse_time(text: str) -> datetime.datetime:
    text = text.strip()
    if not text:
        return EPOCH
    main, _, rest = text.partition(".")
    if rest:
        digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
        zone = rest[len(digits):]
        text = f"{main}.{digits[:6].ljust(6, '0')}{zone}"
    parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: ``Less than a second``, ``About a minute``, ``3 hours``, ..."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def since(timestamp: str) -> str:
    """``9 minutes ago`` for an RFC 3339 timestamp; ``Unknown`` when there is none to read (an
    unreadable record's), rather than the epoch's "56 years ago"."""
    then = parse_time(timestamp)
    if then == EPOCH:
        return "Unknown"
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"{human_duration((now - then).total_seconds())} ago"


def go_time(timestamp: str) -> str:
    """Go's default time format, as podman prints ``.CreatedAt``: ``2026-11-29 06:10:39 +0000 UTC``."""
    then = parse_time(timestamp).astimezone(datetime.timezone.utc)
    return then.strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def go_human_size(size: float) -> str:
    """go-units HumanSize (podman's ``stats``): decimal units, 4 significant digits, no space:
    ``3.092MB``, ``0B``."""
    i = 0
    while size >= 1000 and i < len(_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.4g}{_UNITS[i]}"


def go_bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, 4 significant digits, no space: ``1.5MiB``."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
    i = 0
    while size >= 1024 and i < len(units) - 1:
        size /= 1024.0
        i += 1
    return f"{size:.4g}{units[i]}"


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String()``: ``0s``, ``999ns``, ``1.5µs``, ``12.345ms``, ``1m2.5s``, ``2h0m0s``."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000_000:
        unit, scale = ("µs", 1000) if ns < 1_000_000 else ("ms", 1_000_000)
        whole, frac = divmod(ns, scale)
        digits = str(frac).rjust(len(str(scale)) - 1, "0").rstrip("0")
        return f"{sign}{whole}{'.' + digits if digits else ''}{unit}"
    seconds, frac = divmod(ns, 1_000_000_000)
    digits = str(frac).rjust(9, "0").rstrip("0")
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs}{'.' + digits if digits else ''}s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text
