"""A cache of rendered ``--help`` pages, so that ``capsa --help`` need not import typer.

Importing typer alone takes several times a bare interpreter's start-up. The first ``--help``
of a command renders through typer while its output is recorded; later ones print the record.
The key covers everything the page depends on: capsa's version and CLI source files, the
installed distributions (hook plugins add commands), the arguments, and the terminal (tty or
not, size, colour and width variables). A page is not recorded while a hook plugin is broken,
so its warning keeps showing.
"""
from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from capsa import __version__
from capsa.entrypoints import cache_dir, fingerprint

_ENV = ("TERM", "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TERMINAL_WIDTH", "TTY_COMPATIBLE",
        "TTY_INTERACTIVE", "COLORTERM", "TYPER_USE_RICH", "_TYPER_FORCE_DISABLE_TERMINAL", "LANG", "LC_ALL")


def _sources_mtime() -> str:
    here = Path(__file__).parent
    stamps = []
    for folder in (here, here.parent):
        for entry in os.scandir(folder):
            if entry.name.endswith(".py"):
                stamps.append(f"{entry.name}:{entry.stat().st_mtime_ns}")
    return ",".join(sorted(stamps))


def _terminal() -> str:
    parts = []
    for fd in (0, 1, 2):
        try:
            tty = os.isatty(fd)
            size = os.get_terminal_size(fd) if tty else None
        except OSError:
            tty, size = False, None
        parts.append(f"{fd}:{tty}:{size and tuple(size)}")
    return ";".join(parts)


def _path(args: Sequence[str]) -> Path:
    env = ";".join(f"{k}={os.environ.get(k, '')}" for k in _ENV)
    material = "\0".join([__version__, sys.executable, "\x1f".join(args), fingerprint(), _sources_mtime(), _terminal(), env])
    return cache_dir() / "help" / f"{hashlib.sha256(material.encode()).hexdigest()[:40]}.txt"


def lookup(args: Sequence[str]) -> str | None:
    """The recorded page for ``args`` in this exact setting, or None."""
    try:
        return _path(args).read_text()
    except (OSError, UnicodeDecodeError):
        return None


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
        try:
            from capsa.fsutil import atomic_write

            atomic_write(_path(args), "".join(recorder.parts).encode())
        except OSError:
            pass
    return code
