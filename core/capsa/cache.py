"""Keyed caches for start-up: files whose first line is the exact key they were made for.

Used by the entry-point index and the help pages. A reader gets the body only when the stored
key equals the key it computes now, so a stale or colliding file is simply a miss. Start-up
critical: imports nothing beyond ``os`` and ``sys`` until something is written.
"""
from __future__ import annotations

import os
import sys

_FORMAT = "capsa-cache-1"


def cache_dir() -> str:
    """``$CAPSA_CACHE_DIR``, else ``$XDG_CACHE_HOME/capsa``, else ``~/.cache/capsa``."""
    if os.environ.get("CAPSA_CACHE_DIR"):
        return os.environ["CAPSA_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "capsa")


def install_state() -> str:
    """A string that changes whenever a distribution is installed, upgraded or removed.

    The interpreter, then each ``sys.path`` entry with its mtime: installing or removing a
    distribution adds or removes entries in its site directory, which changes that mtime.
    """
    # The interpreter's real path: a venv's ``python`` and ``python3`` are the same program (a
    # console script runs one, ``python -m capsa`` perhaps the other) and must share the cache.
    parts = [_FORMAT, os.path.realpath(sys.executable), sys.version.replace("\n", " ")]
    # sys.path[0] is the script's directory or the working directory (unless -I/-P): it holds
    # no distributions, changes with every file created beside it, and differs between the CLI
    # and the monitor, so it is left out.
    entries = sys.path if (sys.flags.safe_path or sys.flags.isolated) else sys.path[1:]
    for entry in entries:
        try:
            mtime = os.stat(entry or ".").st_mtime_ns
        except OSError:
            mtime = -1
        parts.append(f"{entry}={mtime}")
    return "\x1f".join(parts)


def sources_state(cli_dir: str, parent: bool = True) -> str:
    """Name and mtime of every module of capsa's CLI (``cli_dir``) and, with ``parent``, of the
    core package above it: a changed source, a new key."""
    stamps = []
    for folder in (cli_dir, os.path.dirname(cli_dir)) if parent else (cli_dir,):
        for entry in os.scandir(folder):
            if entry.name.endswith(".py"):
                stamps.append(f"{entry.name}:{entry.stat().st_mtime_ns}")
    return ",".join(sorted(stamps))


def read_keyed(name: str, key: str, trusted: bool = False) -> str | None:
    """The body stored under ``name`` if it was stored for exactly ``key``; else None. With
    ``trusted``, only a file this user owns that nobody else may write counts (a cache whose
    content decides something, such as a parsed configuration: root run with another user's
    environment must not read what that user wrote)."""
    try:
        with open(os.path.join(cache_dir(), name), encoding="utf-8") as fh:
            if trusted:
                st = os.fstat(fh.fileno())
                if st.st_uid != os.geteuid() or st.st_mode & 0o022:
                    return None
            stored, _, body = fh.read().partition("\n")
    except (OSError, UnicodeDecodeError):
        return None
    return body if stored == key.replace("\n", " ") else None


def write_keyed(name: str, key: str, body: str) -> None:
    """Store ``body`` for ``key`` atomically; a cache that cannot be written only costs speed."""
    from capsa.fsutil import atomic_write

    try:
        if os.stat(cache_dir()).st_uid != os.geteuid():  # (another user's: its temporary files are theirs to plant)
            return
    except FileNotFoundError:
        pass
    except OSError:
        return
    try:
        atomic_write(os.path.join(cache_dir(), name), (key.replace("\n", " ") + "\n" + body).encode())
    except OSError:
        pass


def short_name(text: str) -> str:
    """A file-name-safe digest of ``text`` (collisions only cause misses: see :func:`read_keyed`)."""
    import zlib

    data = text.encode()
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"
