"""The store's own files checked and repaired: what ``system check`` reads before anything else.

A store's index files (``storage.json``, ``oci-layout``, ``layers.json``, ``images.json``) and
the blobs images stand on can be torn, emptied or overwritten by a crash of the machine, a full
disk or a hand. :func:`index_problems` finds every such damage without changing anything;
:func:`repair_index` (under the exclusive store lock, before the store's own recovery runs)
puts the store back into a state every command can use:

- ``storage.json``: rewritten with the driver whose data is under ``storage/`` (only when that
  is unambiguous and is the driver in use); ``oci-layout``: rewritten.
- ``layers.json`` or ``images.json`` unreadable: moved aside (``*.corrupt``); their records are
  lost, and the layers, blobs and containers that stood on them are then collected as orphans.
- a layer record whose driver data is gone, or whose parent record is gone: dropped.
- an image whose layers, config blob or manifest blob are missing or do not match their digest:
  dropped (its name is then free for a new pull or import).
"""
from __future__ import annotations

import os

from capsa.errors import CapsaError
from capsa.fsutil import atomic_write
from capsa.fastpath.jsonio import dumps, loads
from capsa.store.records import CorruptRecord, read_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.store.images import Image
    from capsa.store.layers import Layer
    from capsa.store.store import Store

OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


def driver_on_disk(root: str) -> str | None:
    """The storage driver whose data is under ``<root>/storage`` when exactly one is."""
    try:
        names = [e.name for e in os.scandir(os.path.join(root, "storage")) if e.is_dir() and not e.name.startswith(".")]
    except OSError:
        return None
    return names[0] if len(names) == 1 else None


def _layout_ok(path: str) -> bool:
    try:
        doc = read_json(path)
    except FileNotFoundError:
        return False
    except CorruptRecord:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("imageLayoutVersion"), str)


def _blob_ok(store: Store, digest: str, json_object: bool) -> bool:
    """Whether the blob is there, matches its digest and (``json_object``) is a JSON object."""
    try:
        data = store.blobs.read(digest)
        return not json_object or isinstance(loads(data), dict)
    except (CapsaError, ValueError, OSError):
        return False


def broken_layers(store: Store, layers: list[Layer]) -> dict[str, str]:
    """Layer id -> why, for complete layer records the store cannot use: their driver data is
    gone, or their parent's record is (or is itself broken)."""
    by_id = {layer.id: layer for layer in layers if not layer.incomplete}
    broken: dict[str, str] = {}
    for layer in by_id.values():
        if not store.driver.exists(layer.id):
            broken[layer.id] = f"layer {layer.id[:12]} is recorded but its data is gone"
    changed = True
    while changed:
        changed = False
        for layer in by_id.values():
            if layer.id not in broken and layer.parent is not None and (layer.parent not in by_id or layer.parent in broken):
                broken[layer.id] = f"layer {layer.id[:12]} stands on layer {layer.parent[:12]}, which is gone"
                changed = True
    return broken


def broken_images(store: Store, images: list[Image], layers: list[Layer], broken: dict[str, str]) -> dict[str, str]:
    """Image id -> why, for images that cannot be used: a layer of theirs is missing or broken,
    or their config or manifest blob is missing or corrupt."""
    by_id = {layer.id: layer for layer in layers if not layer.incomplete}
    out: dict[str, str] = {}
    for image in images:
        name = image.names[0] if image.names else image.id[:12]
        top = image.top_layer
        while top is not None and top in by_id and top not in broken:
            top = by_id[top].parent
        if top is not None:
            out[image.id] = f"image {name} stands on layer {top[:12]}, which is missing or broken"
        elif not _blob_ok(store, "sha256:" + image.id, json_object=True):
            out[image.id] = f"the config blob of image {name} is missing or corrupt"
        elif not _blob_ok(store, image.digest, json_object=True):
            out[image.id] = f"the manifest blob of image {name} is missing or corrupt"
    return out


def index_problems(store: Store) -> list[tuple[str, str]]:
    """(kind, what) for every damaged index file, layer record or image (nothing is changed)."""
    out: list[tuple[str, str]] = []
    marker = os.path.join(store.root, "storage.json")
    try:
        doc = read_json(marker)
        if not isinstance(doc, dict) or not isinstance(doc.get("driver"), str):
            out.append(("store", f"{marker} is corrupt: it names no driver"))
    except FileNotFoundError:
        pass
    except CorruptRecord as exc:
        out.append(("store", exc.message))
    if os.path.exists(os.path.join(store.root, "blobs")) and not _layout_ok(os.path.join(store.root, "oci-layout")):
        out.append(("store", f"{os.path.join(store.root, 'oci-layout')} is missing or corrupt"))
    layers: list[Layer] = []
    images: list[Image] = []
    try:
        layers = store.layers.records.load()
    except CorruptRecord as exc:
        out.append(("store", exc.message + " (its layer records will be lost)"))
    try:
        images = store.images.all()
    except CorruptRecord as exc:
        out.append(("store", exc.message + " (its image records will be lost)"))
    broken = broken_layers(store, layers)
    out += [("layer", why) for why in broken.values()]
    out += [("image", why) for why in broken_images(store, images, layers, broken).values()]
    return out


def repair_index(store: Store) -> None:
    """Fix what :func:`index_problems` finds (the caller holds the store lock exclusively and
    has not run the store's recovery yet: it needs readable records)."""
    marker = os.path.join(store.root, "storage.json")
    if store.recorded_driver() is None and os.path.exists(marker):
        atomic_write(marker, dumps({"driver": store.driver.name}).encode())
    if os.path.exists(os.path.join(store.root, "blobs")) and not _layout_ok(os.path.join(store.root, "oci-layout")):
        atomic_write(os.path.join(store.root, "oci-layout"), OCI_LAYOUT)
    for records in (store.layers.records, store.images.records):
        if records.is_corrupt() is not None:
            records.quarantine()
    layers = store.layers.records.load()
    broken = broken_layers(store, layers)
    if broken:
        store.layers.records.save([layer for layer in layers if layer.id not in broken])
    images = store.images.all()
    doomed = broken_images(store, images, layers, broken)
    if doomed:
        store.images.save([image for image in images if image.id not in doomed])
