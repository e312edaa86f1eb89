"""Layer records and their storage: image layers keyed by chain id, so identical layers are
stored and extracted once whatever image uses them.

A layer's driver id is random; its ``chain_id`` (the OCI ChainID of its diff and its parents')
identifies its content. A layer is recorded ``incomplete`` before its data is written and
completed after; an interrupted command leaves an incomplete record that the next writer
removes, and that readers never show.
"""
from __future__ import annotations

import os

from capsa.errors import ArchiveError, StorageError
from capsa.fastpath.record import record
from capsa.store.records import RecordFile, now_rfc3339

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from capsa.drivers.storage import StorageDriver
    from capsa.store.blobs import BlobStore


@record
class Layer:
    id: str
    parent: str | None
    chain_id: str | None
    diff_id: str | None
    blob: str | None  # digest of the stored (possibly compressed) layer blob
    blob_media_type: str | None
    blob_size: int
    size: int  # bytes of the uncompressed diff
    created: str
    incomplete: bool = False


def chain_id(parent_chain: str | None, diff_id: str) -> str:
    """OCI ChainID: the diff id for a base layer, else sha256 of "<parent chain> <diff id>"."""
    if parent_chain is None:
        return diff_id
    from capsa.store.blobs import sha256_of

    return sha256_of(f"{parent_chain} {diff_id}".encode())


class LayerStore:
    """The layer records of a store and the driver that holds their data."""

    def __init__(self, root: str | os.PathLike[str], driver: StorageDriver, blobs: BlobStore) -> None:
        self.records: RecordFile[Layer] = RecordFile(os.path.join(root, "layers.json"), Layer)
        self.driver = driver
        self.blobs = blobs
        self._flushing: Any = None  # the background flush of add_from_stream(durable=False)

    def all(self) -> list[Layer]:
        """Complete layers only."""
        return [layer for layer in self.records.load() if not layer.incomplete]

    def get(self, layer_id: str) -> Layer:
        for layer in self.all():
            if layer.id == layer_id:
                return layer
        raise StorageError(f"layer {layer_id} is not in the store", hint="run 'capsa system check'")

    def by_chain(self, chain: str) -> Layer | None:
        return next((layer for layer in self.all() if layer.chain_id == chain), None)

    def _put(self, layer: Layer) -> None:
        records = [r for r in self.records.load() if r.id != layer.id]
        self.records.save([*records, layer])

    def forget(self, layer_id: str) -> None:
        """Drop a layer's record only (its data is already gone)."""
        self.records.save([r for r in self.records.load() if r.id != layer_id])


    def add_from_blob(self, blob: str, media_type: str, parent: Layer | None, expected_diff_id: str | None = None) -> Layer:
        """Create the layer a stored blob describes on top of ``parent`` (caller holds the lock).

        Reuses an existing layer with the same chain id. Verifies ``expected_diff_id`` when
        given. On any error nothing of the new layer is left.
        """
        if expected_diff_id is not None:
            existing = self.by_chain(chain_id(parent.chain_id if parent else None, expected_diff_id))
            if existing is not None:
                return existing
        with self.blobs.open(blob) as raw:
            return self.add_from_stream(blob, media_type, self.blobs.size(blob), parent, raw, expected_diff_id)

    def add_from_stream(self, blob: str, media_type: str, blob_size: int, parent: Layer | None, raw: BinaryIO,
                        expected_diff_id: str | None = None, durable: bool = True) -> Layer:
        """:meth:`add_from_blob` reading the blob from ``raw`` (e.g. while it downloads), which
        must reach its end only once the blob ``blob`` of ``blob_size`` bytes is verified and in
        the store: the layer is recorded complete after that. The caller holds the lock.

        ``durable=False``: the layer is extracted and verified (its chain id known, so layers
        can go on top of it) but left recorded incomplete, its data not yet synced, and its
        filesystem starts flushing in the background; :meth:`make_durable` completes it."""
        parent_chain = parent.chain_id if parent else None
        if expected_diff_id is not None:
            existing = self.by_chain(chain_id(parent_chain, expected_diff_id))
            if existing is not None:
                return existing
        from capsa.store.tarextract import decompressed
        from capsa.store.tarstream import HashingReader

        layer = Layer(id=os.urandom(32).hex(), parent=parent.id if parent else None, chain_id=None, diff_id=None,
                      blob=blob, blob_media_type=media_type, blob_size=blob_size, size=0,
                      created=now_rfc3339(), incomplete=True)
        self._put(layer)
        try:
            self.driver.create(layer.id, layer.parent)
            reader = HashingReader(decompressed(raw))
            self.driver.apply_diff(layer.id, layer.parent, reader)  # type: ignore[arg-type]
            reader.drain()
            while raw.read(1 << 20):  # to the blob's end (compressed data may carry padding)
                pass
            if expected_diff_id is not None and reader.digest != expected_diff_id:
                raise ArchiveError(f"layer {blob} has diff id {reader.digest}, but its image says {expected_diff_id}",
                                   hint="the image is corrupt or was tampered with")
            layer.diff_id = reader.digest
            layer.chain_id = chain_id(parent_chain, reader.digest)
            layer.size = reader.count
            existing = self.by_chain(layer.chain_id)
            if existing is not None:  # the same content arrived under another blob: keep one
                self._discard(layer.id)
                return existing
            if not durable:
                self._put(layer)
                self._flush_in_background()
                return layer
            self._sync_data()  # the files first: a complete record never points at unsynced data
            layer.incomplete = False
            self._put(layer)
            return layer
        except BaseException:
            self._discard(layer.id)
            raise

    def make_durable(self, layers: list[Layer]) -> None:
        """Sync the data of the ``layers`` that :meth:`add_from_stream` left incomplete (one
        sync for all, after the background flushes), then record them complete."""
        flushing, self._flushing = self._flushing, None
        if flushing is not None:
            flushing.join()
        pending = [layer for layer in layers if layer.incomplete]
        if not pending:
            return
        self._sync_data()
        for layer in pending:
            layer.incomplete = False
            self._put(layer)

    def _flush_in_background(self) -> None:
        """Start writing what was extracted so far to the disk while the caller goes on (the
        next layer extracts meanwhile), so that :meth:`make_durable`'s sync has less to wait
        for. One flush at a time; a failing one is ignored (the final sync reports errors)."""
        import threading

        if self._flushing is not None and self._flushing.is_alive():
            return

        def flush() -> None:
            try:
                self._sync_data()
            except OSError:
                pass

        self._flushing = threading.Thread(target=flush, name="capsa-layer-flush", daemon=True)
        self._flushing.start()

    def _sync_data(self) -> None:
        """syncfs(2) the filesystem holding the driver's layers (the store root if the driver
        keeps no home of its own) and, when it is another one, the blobs' (a pulled blob is
        stored unsynced: :mod:`capsa.registry.layerfetch`)."""
        from capsa.fsutil import sync_filesystem

        context = getattr(self.driver, "context", None)
        home = getattr(context, "home_dir", None)
        home = home if home and os.path.isdir(home) else self.blobs.root
        sync_filesystem(home)
        if os.path.isdir(self.blobs.dir) and os.stat(self.blobs.dir).st_dev != os.stat(home).st_dev:
            sync_filesystem(self.blobs.dir)

    def create_empty(self, parent: str | None, writable: bool = True) -> Layer:
        """A new layer with no content of its own (a container's writable layer) on top of the
        layer ``parent`` (an id; the driver refuses one that does not exist).

        Recorded once, after the driver made it: creating an empty layer is one atomic rename
        in the driver, so there is no half-made layer for an "incomplete" record to announce
        (a crash in between leaves a driver layer with no record, which ``system check
        --repair`` removes)."""
        layer = Layer(id=os.urandom(32).hex(), parent=parent, chain_id=None, diff_id=None,
                      blob=None, blob_media_type=None, blob_size=0, size=0, created=now_rfc3339(), incomplete=False)
        self.driver.create(layer.id, layer.parent, writable=writable)
        try:
            self._put(layer)
        except BaseException:
            self._discard(layer.id)
            raise
        return layer

    def _discard(self, layer_id: str) -> None:
        try:
            self.driver.remove(layer_id)
        finally:
            self.forget(layer_id)

    def remove(self, layer_id: str) -> None:
        """Delete a layer's data and record (its blob is the caller's business)."""
        self.driver.remove(layer_id)
        self.forget(layer_id)

    def chain(self, top: str | None) -> list[Layer]:
        """The layer ``top`` and its ancestors, bottom first."""
        by_id = {layer.id: layer for layer in self.all()}
        out: list[Layer] = []
        while top is not None:
            layer = by_id.get(top)
            if layer is None:
                raise StorageError(f"layer {top} is missing from the store", hint="run 'capsa system check --repair'")
            out.append(layer)
            top = layer.parent
        return out[::-1]

    def recover(self, records: list[Layer] | None = None) -> list[str]:
        """Remove incomplete layers left by interrupted commands; return their ids. ``records``:
        every layer record, when the caller has just read them."""
        gone = [r.id for r in (self.records.load() if records is None else records) if r.incomplete]
        for layer_id in gone:
            self._discard(layer_id)
        return gone

