"""A cache of rendered ``--help`` pages, so that ``capsa --help`` need not import typer.

Importing typer alone takes several times a bare interpreter's start-up. The first ``--help``
of a command renders through typer while its output is recorded; later ones print the record.
The key covers everything the page depends on: capsa's version and CLI source files, the
installed distributions (hook plugins add commands), the arguments, and the terminal (tty or
not, size, colour and width variables). A page is not recorded while a hook plugin is broken,
so its warning keeps showing. Start-up critical: only ``os`` and ``sys`` on a hit.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from capsa import __version__
from capsa.cache import install_state, read_keyed, short_name, sources_state, write_keyed

_ENV = ("TERM", "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TERMINAL_WIDTH", "TTY_COMPATIBLE",
        "TTY_INTERACTIVE", "COLORTERM", "TYPER_USE_RICH", "_TYPER_FORCE_DISABLE_TERMINAL", "LANG", "LC_ALL")


def _terminal() -> str:
    parts = []
    for fd in (0, 1, 2):
        try:
            tty = os.isatty(fd)
            size = tuple(os.get_terminal_size(fd)) if tty else None
        except OSError:
            tty, size = False, None
        parts.append(f"{fd}:{tty}:{size}")
    return ";".join(parts)


def _key(args: Sequence[str]) -> str:
    env = ";".join(f"{k}={os.environ.get(k, '')}" for k in _ENV)
    return "\x1e".join([__version__, "\x1f".join(args), install_state(), sources_state(os.path.dirname(os.path.abspath(__file__))), _terminal(), env])


def _name(args: Sequence[str]) -> str:
    return os.path.join("help", short_name("\x1f".join(args)) + ".txt")


def lookup(args: Sequence[str]) -> str | None:
    """The recorded page for ``args`` in this exact setting, or None."""
    return read_keyed(_name(args), _key(args))


class _Recorder:
    """Stands in for sys.stdout: passes everything through and keeps a copy."""

    def __init__(self, real: object) -> None:
        self._real = real
        self.parts: list[str] = []

    def write(self, text: str | bytes) -> int:
        self.parts.append(text.decode() if isinstance(text, bytes) else text)
        return self._real.write(text)  # type: ignore[attr-defined, no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


def capture(args: Sequence[str], run: Callable[[], int]) -> int:
    """Run the help request, record its page when it succeeded, and return its exit code."""
    from capsa import plugins

    real = sys.stdout
    recorder = _Recorder(real)
    sys.stdout = recorder  # type: ignore[assignment]
    try:
        code = run()
    finally:
        sys.stdout = real
    if code == 0 and not plugins.failed_plugins and recorder.parts:
        write_keyed(_name(args), _key(args), "".join(recorder.parts))
    return code
