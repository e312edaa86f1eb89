"""The build cache (``build --layers``): which image a build step made, by the step's key.

A step's key is the sha256 of what decides its result: the parent image's id, the step's
history text (the instruction as written; for RUN the build arguments it sees, for COPY/ADD
the content checksum of its sources), the runtime config it produces and the rest its caller
adds (workdir, ``--chown``/``--chmod``, ``--format``, the author). The index lives in
``<root>/build-cache.json`` (key -> image id), read again and written whole (atomically; not
fsynced: an entry lost in a crash only costs a miss) under the store's exclusive lock, so
concurrent builds keep each other's entries. Invalidation is by
construction: a changed input gives another key; an entry whose image is gone (``rmi``,
``image prune``) is ignored on lookup and dropped at the next write, so the index never keeps
anything alive and never needs a sweep of its own.
"""
from __future__ import annotations

import os

from capsa.fastpath.jsonio import dumps, loads
from capsa.fsutil import atomic_write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.store.images import Image
    from capsa.store.store import Store

CACHE_FILE = "build-cache.json"


def step_key(parent_id: str | None, text: str, extra: list[str]) -> str:
    """The cache key of a step: ``parent_id`` (None: FROM scratch), the step's expanded text
    and ``extra`` (checksums, arguments, labels), hashed."""
    from capsa.fastpath.digest import sha256

    return sha256(dumps([parent_id or "", text, *extra]).encode()).hexdigest()  # type: ignore[no-any-return]


class BuildCache:
    """The index of one store; ``use``: read it (``--layers`` and no ``--no-cache``); new steps
    are always recorded (so a ``--no-cache`` build refreshes the cache, as podman's does)."""

    def __init__(self, store: Store, use: bool) -> None:
        self.store = store
        self.use = use
        self.path = os.path.join(store.root, CACHE_FILE)
        self._entries: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._entries is None:
            try:
                with open(self.path, "rb") as fh:
                    data = loads(fh.read())
                self._entries = {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
            except (OSError, ValueError):
                self._entries = {}
        return self._entries

    def lookup(self, key: str, images: dict[str, Image]) -> Image | None:
        """The image a step with ``key`` made, when the cache is used and it still exists
        (``images``: the store's images by id, read under its lock)."""
        if not self.use:
            return None
        image_id = self._load().get(key)
        return images.get(image_id) if image_id else None

    def entry(self, key: str) -> str | None:
        """The image id recorded for ``key`` (whether or not that image still exists)."""
        return self._load().get(key) if self.use else None

    def record(self, key: str, image_id: str) -> None:
        """Remember that the step ``key`` made ``image_id``; the caller holds the store's
        exclusive lock. The index is read again under that lock first (another build may have
        written it since this one read it), so concurrent builds keep each other's entries.
        Entries whose image is gone are dropped on the way."""
        self._entries = None
        entries = dict(self._load())
        existing = {image.id for image in self.store.images.all()}
        entries = {k: v for k, v in entries.items() if v in existing}
        entries[key] = image_id
        atomic_write(self.path, dumps(entries).encode(), durable=False)  # (whole, not durable: a lost entry is a miss)
        self._entries = entries
