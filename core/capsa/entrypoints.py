"""The index of capsa's entry points (drivers and hook plugins), cached across commands.

Scanning installed distributions costs ~40 ms (``importlib.metadata`` alone), more than a
short command may spend, so the index is cached in ``cache_dir()`` and keyed by a fingerprint
of the interpreter and of every ``sys.path`` entry's mtime: installing or removing a
distribution changes its site directory's mtime, which invalidates the cache. Nothing here
imports a plugin's module except :func:`import_entry`.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

DRIVER_GROUPS: dict[str, str] = {
    "storage": "capsa.storage",
    "network": "capsa.network",
    "isolation": "capsa.isolation",
    "registry": "capsa.registry",
}
HOOKS_GROUP = "capsa.hooks"
GROUPS: tuple[str, ...] = (*DRIVER_GROUPS.values(), HOOKS_GROUP)
_CACHE_VERSION = 1


@dataclass(frozen=True)
class PluginEntry:
    """One entry point: where it is declared and what it points at (``module:attr``)."""

    group: str
    name: str
    value: str
    dist: str
    version: str


def cache_dir() -> Path:
    """``$CAPSA_CACHE_DIR``, else ``$XDG_CACHE_HOME/capsa``, else ``~/.cache/capsa``."""
    if os.environ.get("CAPSA_CACHE_DIR"):
        return Path(os.environ["CAPSA_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "capsa"


def fingerprint() -> str:
    """A digest that changes whenever a distribution is installed, upgraded or removed."""
    h = hashlib.sha256(f"{_CACHE_VERSION}\0{sys.executable}\0{sys.version}".encode())
    for entry in sys.path:
        try:
            mtime = os.stat(entry or ".").st_mtime_ns
        except OSError:
            mtime = -1
        h.update(f"\0{entry}\0{mtime}".encode())
    return h.hexdigest()[:32]


def scan() -> list[PluginEntry]:
    """Read every capsa entry point from the installed distributions (slow: no cache)."""
    from importlib.metadata import distributions

    found: list[PluginEntry] = []
    seen: set[tuple[str, str, str]] = set()
    for dist in distributions():
        dist_name = dist.metadata["Name"] or "?"
        for ep in dist.entry_points:
            key = (ep.group, ep.name, ep.value)
            if ep.group in GROUPS and key not in seen:
                seen.add(key)
                found.append(PluginEntry(ep.group, ep.name, ep.value, dist_name, dist.version or "?"))
    found.sort(key=lambda e: (e.group, e.name, e.dist))
    return found


def _cache_file() -> Path:
    return cache_dir() / "entrypoints.json"


def load_index(refresh: bool = False) -> list[PluginEntry]:
    """Every capsa entry point, from the cache when it is fresh, else by :func:`scan`."""
    key = fingerprint()
    path = _cache_file()
    if not refresh:
        try:
            cached = json.loads(path.read_bytes())
            if cached.get("fingerprint") == key:
                return [PluginEntry(**item) for item in cached["entries"]]
        except (OSError, ValueError, KeyError, TypeError):
            pass
    entries = scan()
    try:
        from capsa.fsutil import atomic_write

        body = {"fingerprint": key, "entries": [asdict(e) for e in entries]}
        atomic_write(path, json.dumps(body).encode())
    except OSError:
        pass  # a read-only home only costs speed
    return entries


def entries_in(group: str, index: list[PluginEntry] | None = None) -> list[PluginEntry]:
    """The entries of one group."""
    return [e for e in (load_index() if index is None else index) if e.group == group]


def import_entry(entry: PluginEntry) -> object:
    """Import the object an entry point names; import errors propagate unchanged."""
    import importlib

    module_name, _, attr = entry.value.partition(":")
    obj: object = importlib.import_module(module_name.strip())
    for part in filter(None, attr.strip().split(".")):
        obj = getattr(obj, part)
    return obj
