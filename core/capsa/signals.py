"""Signals by name or number, as podman reads them (``15``, ``TERM``, ``SIGTERM``)."""
from __future__ import annotations

from capsa.errors import UsageError


def signal_number(sig: str | int) -> int:
    """15 for ``15``, ``TERM`` or ``SIGTERM``; a UsageError for what names no signal."""
    import signal as signals

    if isinstance(sig, int) or str(sig).isdigit():
        return int(sig)
    name = str(sig).upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    base, plus, offset = name.partition("+") if "+" in name else name.partition("-")
    if plus and base in ("SIGRTMIN", "SIGRTMAX") and offset.isdigit():  # SIGRTMIN+3, RTMAX-1
        number = signals.SIGRTMIN + int(offset) if base == "SIGRTMIN" else signals.SIGRTMAX - int(offset)
        if signals.SIGRTMIN <= number <= signals.SIGRTMAX:
            return int(number)
    try:
        return int(getattr(signals.Signals, name))
    except AttributeError:
        raise UsageError(f"invalid signal {sig!r}", hint="use a name like SIGTERM or TERM, or a number") from None


def signal_name(sig: str | int) -> str:
    """``SIGTERM`` for 15, ``TERM`` or ``SIGTERM`` (the number itself when it has no name)."""
    import signal as signals

    number = signal_number(sig)
    try:
        return signals.Signals(number).name
    except ValueError:
        return str(number)
