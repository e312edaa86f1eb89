"""When to retry a request and how long to wait first.

Contracts: :func:`backoff` grows exponentially from ``BASE`` seconds and is capped at ``CAP``;
:func:`retry_after` reads a ``Retry-After`` header (seconds or an HTTP date) and returns None
when there is none or it is unreadable; a wait longer than ``MAX_RETRY_AFTER`` is not waited
for (the caller reports the error instead).
"""
from __future__ import annotations

import random
import time

BASE = 0.5  # seconds before the first retry
CAP = 8.0  # longest backoff between two attempts
MAX_RETRY_AFTER = 60.0  # a Retry-After longer than this is an error, not a wait
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based), with a little jitter."""
    delay = min(CAP, BASE * (2 ** attempt))
    return delay * (0.8 + 0.4 * random.random())


def retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (never negative)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())
