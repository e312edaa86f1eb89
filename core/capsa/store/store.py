"""The store: blobs, layers and images under one root, guarded by one lock.

Readers take the lock shared, writers exclusive. A writer first repairs what an interrupted
command left (incomplete layers, half-written blobs), so nothing a reader sees is ever half
done. The store records which storage driver created it and refuses to be opened with another.
"""
from __future__ import annotations

import os

from capsa.errors import StorageError
from capsa.fsutil import atomic_write, rmtree
from capsa.fastpath.jsonio import dumps, loads
from capsa.store.blobs import BlobStore
from capsa.store.images import Image, ImageRecords
from capsa.store.layers import Layer, LayerStore
from capsa.store.locks import FileLock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType

    from capsa.drivers.storage import StorageDriver


class Store:
    """One store (``root`` + ``runroot``, kept as strings) used through one storage driver."""

    def __init__(self, root: str | os.PathLike[str], runroot: str | os.PathLike[str], driver: StorageDriver) -> None:
        self.root = os.fspath(root)
        self.runroot = os.fspath(runroot)
        self.driver = driver
        self.blobs = BlobStore(self.root)
        self.layers = LayerStore(self.root, driver, self.blobs)
        self.images = ImageRecords(self.root)
        self._lock = FileLock(os.path.join(self.root, "store.lock"))
        self._marker = os.path.join(self.root, "storage.json")

    # -- opening and locking ------------------------------------------------------------------

    def recorded_driver(self) -> str | None:
        """The driver ``storage.json`` names; None when it does not exist or is unreadable."""
        from capsa.store.records import CorruptRecord, read_json

        try:
            doc = read_json(self._marker)
        except (FileNotFoundError, CorruptRecord):
            return None
        driver = doc.get("driver") if isinstance(doc, dict) else None
        return driver if isinstance(driver, str) else None

    def check_driver(self) -> None:
        """Refuse a store created with another storage driver (never switch silently). When
        ``storage.json`` is unreadable the driver whose data is under ``storage/`` counts
        (``system check --repair`` rewrites the file)."""
        recorded = self.recorded_driver()
        if recorded is None and os.path.exists(self._marker):
            from capsa.store.integrity import driver_on_disk

            recorded = driver_on_disk(self.root)
        if recorded is not None and recorded != self.driver.name:
            raise StorageError(
                f"the store at {self.root} was created with the {recorded!r} storage driver, not {self.driver.name!r}",
                hint=f"use --storage-driver {recorded} (or [storage] driver = \"{recorded}\"), "
                     f"or start over with 'capsa system reset'",
            )

    def exists(self) -> bool:
        return os.path.isfile(self._marker)

    def reading(self) -> _Access:
        """Shared access (a ``with`` block). A store that does not exist yet reads as empty and
        is not created."""
        return _Access(self, exclusive=False)

    def writing(self) -> _Access:
        """Exclusive access (a ``with`` block); creates the store on first use and repairs
        interrupted work.

        When the store did not exist and the work fails, what was created for it is removed
        again, before the lock is released: a failed first command leaves the disk as it found it.
        """
        return _Access(self, exclusive=True)

    def repairing(self) -> _Access:
        """:meth:`writing` that first repairs the store's index files and drops the records
        that stand on missing data (:func:`capsa.store.integrity.repair_index`), so that a
        store whose ``layers.json`` is torn can still be opened for writing."""
        return _Access(self, exclusive=True, repair=True)

    def _open_for_writing(self, repair: bool = False) -> bool:
        """Under the exclusive lock: create the store if it is new (True), then repair it."""
        created = not self.exists()
        if created:
            self.blobs.init()
            atomic_write(self._marker, dumps({"driver": self.driver.name}).encode())
        elif repair:
            from capsa.store.integrity import repair_index

            repair_index(self)
        self.recover()
        return created

    def recover(self) -> list[str]:
        """Remove what interrupted commands left (half-written blobs, incomplete layers, blobs
        nothing refers to); the caller holds the lock exclusively. Returns the layers removed."""
        self.blobs.clean_ingest()
        for entry in os.scandir(self.root):  # temp files of interrupted atomic writes
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                os.unlink(entry.path)
        layers = self.layers.records.load()
        gone = self.layers.recover(layers)
        keep = self.blobs_in_use([layer for layer in layers if not layer.incomplete])
        for digest in list(self.blobs.digests()):
            if digest not in keep:
                self.blobs.remove(digest)
        return gone

    # -- images -------------------------------------------------------------------------------

    def find_image(self, ref: str) -> Image:
        """The image ``ref`` names: an id, a unique id prefix, a name or a short name."""
        return self.images.find(ref, self.name_candidates(ref))

    def name_of(self, ref: str, image: Image) -> str:
        """The full name a container made from ``ref`` shows (podman's ``ImageName``): the
        stored name ``ref`` resolved to (``busybox`` -> ``localhost/busybox:latest``), else the
        image's first name (``ref`` was an id), else ``ref``."""
        names = image.names
        return next((n for n in self.name_candidates(ref) if n in names), names[0] if names else ref)

    def image_by_id(self, image_id: str) -> Image:
        """The image with this id, with no name resolution (a container's image)."""
        return self.images.find(image_id, [])

    def name_candidates(self, ref: str) -> list[str]:
        """Fully qualified names ``ref`` may mean: itself (``busybox`` is ``localhost/busybox:latest``)
        and, for a short name, every stored name whose repository ends with the same path and has
        the same tag, under any registry (podman's local lookup: ``bar:1`` finds
        ``quay.io/foo/bar:1``). Unparseable -> no candidates."""
        from capsa.errors import UsageError
        from capsa.image.reference import is_qualified, parse_reference

        try:
            parsed = parse_reference(ref)
        except UsageError:
            return []
        wanted = [str(parsed)]
        if not is_qualified(ref):
            suffix = parsed._suffix()
            for image in self.images.all():
                for name in image.names:
                    if name.endswith(suffix) and name[: len(name) - len(suffix)].endswith("/" + parsed.repository):
                        wanted.append(name)
        return list(dict.fromkeys(wanted))

    def add_image(self, config: bytes, layers: list[Layer], names: list[str], manifest: bytes | None = None,
                  manifest_media_type: str | None = None, intermediate: bool = False,
                  extra_digests: list[str] | None = None) -> Image:
        """Record an image made of ``layers`` (bottom first) and ``config`` (the caller holds the
        lock). Without ``manifest`` an OCI manifest is written for it. Names move to this image.
        ``extra_digests``: more manifest digests that lead to it (the index it was pulled
        through), recorded among its digests; their blobs are the caller's to store."""
        from capsa.image import mediatypes as mt
        from capsa.image.manifest import Descriptor, Manifest, manifest_json

        config_digest = self.blobs.put(config)
        if manifest is None:
            descriptors = [Descriptor(layer.blob_media_type or mt.OCI_LAYER, layer.blob, layer.blob_size)
                           for layer in layers if layer.blob]
            manifest = manifest_json(Manifest(mt.OCI_MANIFEST, Descriptor(mt.OCI_CONFIG, config_digest, len(config)), descriptors))
            manifest_media_type = mt.OCI_MANIFEST
        manifest_digest = self.blobs.put(manifest)
        image_id = config_digest.split(":", 1)[1]
        previous = next((i for i in self.images.all() if i.id == image_id), None)
        created = str(loads(config).get("created") or "")
        image = Image(
            id=image_id,
            names=list(dict.fromkeys([*(previous.names if previous else []), *names])),
            digest=manifest_digest if previous is None else previous.digest,
            manifest_media_type=manifest_media_type or mt.OCI_MANIFEST,
            top_layer=layers[-1].id if layers else None,
            created=created,
            size=sum(layer.size for layer in layers) + len(config) + len(manifest),
            digests=list(dict.fromkeys([*(previous.digests if previous else []), manifest_digest, *(extra_digests or [])])),
            intermediate=intermediate and not names,
        )
        self.images.put(image)
        return image

    def image_layers(self, image: Image) -> list[Layer]:
        """The image's layers, bottom first."""
        return self.layers.chain(image.top_layer)

    def layers_in_use(self) -> set[str]:
        """Ids of layers something stands on: every image's chain, and the ancestors of every
        layer that is not an image layer (containers' writable layers)."""
        by_id = {layer.id: layer for layer in self.layers.all()}
        used: set[str] = set()

        def climb(layer_id: str | None) -> None:
            while layer_id is not None and layer_id not in used:
                used.add(layer_id)
                layer_id = by_id[layer_id].parent if layer_id in by_id else None

        for image in self.images.all():
            climb(image.top_layer)
        for layer in by_id.values():
            if layer.blob is None:
                climb(layer.id)
        return used

    def blobs_in_use(self, layers: list[Layer] | None = None) -> set[str]:
        """Digests of every blob an image or layer still refers to (``layers``: the complete
        layers, when the caller has just read them)."""
        used: set[str] = set()
        for image in self.images.all():
            used.add("sha256:" + image.id)
            used.update(image.digests)
        for layer in self.layers.all() if layers is None else layers:
            if layer.blob:
                used.add(layer.blob)
        return used

    def delete_images(self, doomed: list[Image]) -> list[str]:
        """Remove images, then every layer and blob nothing else uses; return removed ids.

        The image records go first (the commit point), so an interruption leaves at worst
        unreferenced layers and blobs, which the next removal or ``system check`` collects.
        """
        ids = {image.id for image in doomed}
        self.images.save([image for image in self.images.all() if image.id not in ids])
        self.collect_garbage()
        return [image.id for image in doomed]

    def manifest_of(self, image: Image) -> bytes:
        return self.blobs.read(image.digest)

    def config_of(self, image: Image) -> dict:  # type: ignore[type-arg]
        return loads(self.blobs.read("sha256:" + image.id))  # type: ignore[no-any-return]

    def collect_garbage(self) -> None:
        """Delete image layers nothing stands on (top first) and blobs nothing refers to."""
        used = self.layers_in_use()
        doomed = [layer for layer in self.layers.all() if layer.id not in used and layer.blob is not None]
        parents = {layer.parent for layer in doomed}
        while doomed:
            tops = [layer for layer in doomed if layer.id not in parents]
            for layer in tops:
                self.layers.remove(layer.id)
            doomed = [layer for layer in doomed if layer not in tops]
            parents = {layer.parent for layer in doomed}
        self.recover()

    def disk_usage(self) -> int:
        """Bytes under the store's root (what ``system df`` reports)."""
        from capsa.fsutil import tree_size

        return tree_size(self.root)


class _Access:
    """A ``with`` block's hold on a store (see :meth:`Store.reading` and :meth:`Store.writing`).
    A class rather than ``contextlib.contextmanager``, which costs start-up time to import."""

    def __init__(self, store: Store, exclusive: bool, repair: bool = False) -> None:
        self.store = store
        self.exclusive = exclusive
        self.repair = repair
        self._held = False
        self._fresh: list[str] = []
        self._created = False

    def __enter__(self) -> Store:
        store = self.store
        store.check_driver()
        if not self.exclusive:
            if store.exists():
                store._lock.acquire(exclusive=False)
                self._held = True
            return store
        self._fresh = [p for p in (store.root, store.runroot) if not os.path.exists(p)]
        store._lock.acquire(exclusive=True)
        self._held = True
        try:
            self._created = store._open_for_writing(self.repair)
        except BaseException:
            self._release()
            raise
        return store

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is not None and self._created:
                for path in self._fresh:
                    rmtree(path, ignore_errors=True)
        finally:
            self._release()

    def _release(self) -> None:
        if self._held:
            self._held = False
            self.store._lock.release()
