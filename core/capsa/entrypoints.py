"""The index of capsa's entry points (drivers and hook plugins), cached across commands.

Scanning installed distributions costs ~40 ms (``importlib.metadata`` alone), more than a
short command may spend, so the index is cached (:mod:`capsa.cache`) under the key
:func:`capsa.cache.install_state`, which changes whenever a distribution is installed or
removed. Nothing here imports a plugin's module except :func:`import_entry`.
"""
from __future__ import annotations

import sys

from capsa.cache import install_state, read_keyed, write_keyed

DRIVER_GROUPS: dict[str, str] = {
    "storage": "capsa.storage",
    "network": "capsa.network",
    "isolation": "capsa.isolation",
    "registry": "capsa.registry",
}
HOOKS_GROUP = "capsa.hooks"
GROUPS: tuple[str, ...] = (*DRIVER_GROUPS.values(), HOOKS_GROUP)
_CACHE_NAME = "entrypoints.json"


class PluginEntry(tuple):  # type: ignore[type-arg]
    """One entry point: where it is declared (``group``, ``name``; ``dist`` and its ``version``)
    and what it points at (``value``, ``module:attr``). A plain tuple with named fields: a
    ``typing.NamedTuple`` or a ``collections.namedtuple`` costs start-up milliseconds to import."""

    __slots__ = ()
    _fields = ("group", "name", "value", "dist", "version")

    def __new__(cls, group: str, name: str, value: str, dist: str, version: str) -> PluginEntry:
        return tuple.__new__(cls, (group, name, value, dist, version))

    group = property(lambda self: self[0])
    name = property(lambda self: self[1])
    value = property(lambda self: self[2])
    dist = property(lambda self: self[3])
    version = property(lambda self: self[4])

    def __repr__(self) -> str:
        return "PluginEntry(" + ", ".join(f"{k}={v!r}" for k, v in zip(self._fields, self)) + ")"


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


_scanned: tuple[str, list[PluginEntry]] | None = None  # this process's last scan, by key


def load_index(refresh: bool = False) -> list[PluginEntry]:
    """Every capsa entry point, from the cache when it is fresh, else by :func:`scan`.

    ``refresh`` asks for a scan of the installed distributions, done once per process (per
    installation state): later calls reuse it.
    """
    global _scanned
    key = install_state()
    if refresh and _scanned is not None and _scanned[0] == key:
        return list(_scanned[1])
    if not refresh:
        cached = read_keyed(_CACHE_NAME, key)
        if cached is not None:
            try:
                from capsa.fastpath.jsonio import loads

                entries = [PluginEntry(*item) for item in loads(cached)]
                if all(isinstance(part, str) for entry in entries for part in entry):
                    return entries
            except (ValueError, TypeError, RecursionError):
                pass  # a torn or foreign cache file is a miss
    entries = scan()
    _scanned = (key, entries)
    from capsa.fastpath.jsonio import dumps

    write_keyed(_CACHE_NAME, key, dumps([list(e) for e in entries]))
    return list(entries)


def entries_in(group: str, index: list[PluginEntry] | None = None) -> list[PluginEntry]:
    """The entries of one group."""
    return [e for e in (load_index() if index is None else index) if e.group == group]


def import_entry(entry: PluginEntry) -> object:
    """Import the object an entry point names; import errors propagate unchanged."""
    module_name, _, attr = entry.value.partition(":")
    module_name = module_name.strip()
    __import__(module_name)  # (importlib.import_module would import the importlib package first)
    obj: object = sys.modules[module_name]
    for part in filter(None, attr.strip().split(".")):
        obj = getattr(obj, part)
    return obj
