"""What the store remembers about blobs on registries: where a blob was seen (to try a
cross-repository mount instead of an upload) and which compressed blob a push made of a stored
one (to ask a registry for it before compressing again). The role of containers/image's
``BlobInfoCache``, in one small JSON file: ``<root>/blob-locations.json``.

Contract: everything here is a cache. Reading a missing, corrupt or foreign file gives nothing;
a write that fails (the store gone, a read-only disk) is ignored; nothing a caller does depends
on an entry being right (a mount that fails falls back to an upload, a remembered compressed
digest is only used when the registry says it has that blob). Writes are atomic (a temporary
file renamed over the old one) and serialised by ``blob-locations.lock``; the file stays
bounded: at most :data:`MAX_BLOBS` digests with :data:`MAX_PLACES` places each and
:data:`MAX_VARIANTS` compressed variants, the least recently recorded dropped first.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.store.store import Store

FILE = "blob-locations.json"
LOCK = "blob-locations.lock"
MAX_BLOBS = 2000
MAX_PLACES = 8
MAX_VARIANTS = 2000


def _path(store: Store | str) -> str:
    root = store if isinstance(store, str) else store.root
    return os.path.join(root, FILE)


def _load(path: str) -> dict[str, Any]:
    from capsa.fastpath.jsonio import loads

    try:
        with open(path, "rb") as fh:
            doc = loads(fh.read())
    except (OSError, ValueError, RecursionError):
        return {"locations": {}, "compressed": {}}
    if not isinstance(doc, dict):
        doc = {}
    locations = doc.get("locations")
    compressed = doc.get("compressed")
    return {"locations": locations if isinstance(locations, dict) else {},
            "compressed": compressed if isinstance(compressed, dict) else {}}


def _update(store: Store | str, change: Any) -> None:
    """Read, ``change(doc)``, write back atomically under the cache's own lock; errors ignored."""
    from capsa.fastpath.jsonio import dumps
    from capsa.fsutil import atomic_write
    from capsa.store.locks import FileLock

    path = _path(store)
    if not os.path.isdir(os.path.dirname(path)):
        return  # no store: nothing to remember in
    try:
        lock = FileLock(os.path.join(os.path.dirname(path), LOCK))
        with lock.exclusive():
            doc = _load(path)
            change(doc)
            atomic_write(path, dumps(doc).encode(), durable=False)
    except OSError:
        pass


def _touch(table: dict[str, Any], key: str, value: Any, limit: int) -> None:
    """Put ``key`` last (most recent) and drop the oldest keys beyond ``limit``."""
    table.pop(key, None)
    table[key] = value
    while len(table) > limit:
        del table[next(iter(table))]


def record_blob_locations(store: Store | str, registry: str, repository: str, digests: list[str]) -> None:
    """Remember that ``registry``/``repository`` has the blobs ``digests`` (called at the end of
    a pull, :func:`capsa.registry.pull.pull_image`, and of a push that succeeded)."""
    def change(doc: dict[str, Any]) -> None:
        table = doc["locations"]
        place = [registry, repository]
        for digest in digests:
            places = [p for p in table.get(digest) or [] if isinstance(p, list) and p != place]
            _touch(table, digest, [place, *places][:MAX_PLACES], MAX_BLOBS)

    if digests:
        _update(store, change)


def blob_locations(store: Store | str, registry: str, digest: str) -> list[str]:
    """The repositories of ``registry`` known to have had ``digest``, most recent first."""
    places = _load(_path(store))["locations"].get(digest)
    if not isinstance(places, list):
        return []
    return [p[1] for p in places
            if isinstance(p, list) and len(p) == 2 and p[0] == registry and isinstance(p[1], str)]


def record_compressed(store: Store | str, source: str, compression: str, digest: str, size: int) -> None:
    """Remember that compressing the stored blob ``source`` with ``compression`` gave the blob
    ``digest`` of ``size`` bytes."""
    def change(doc: dict[str, Any]) -> None:
        _touch(doc["compressed"], f"{source} {compression}", [digest, size], MAX_VARIANTS)

    _update(store, change)


def compressed_variant(store: Store | str, source: str, compression: str) -> tuple[str, int] | None:
    """The (digest, size) an earlier push made of ``source`` with ``compression``, if known."""
    from capsa.fastpath.names import is_sha256_hex

    entry = _load(_path(store))["compressed"].get(f"{source} {compression}")
    if (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) and entry[0].startswith("sha256:")
            and is_sha256_hex(entry[0][7:]) and isinstance(entry[1], int) and entry[1] >= 0):
        return entry[0], entry[1]
    return None
