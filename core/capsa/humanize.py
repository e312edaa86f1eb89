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
