"""``capsa import``: a root filesystem tarball becomes a one-layer image."""
from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from capsa import plugins
from capsa.image import mediatypes as mt
from capsa.image.config import apply_change, config_bytes, new_config
from capsa.store.records import now_rfc3339

if TYPE_CHECKING:
    from capsa.store.images import Image
    from capsa.store.store import Store

_MAGIC = {b"\x1f\x8b": mt.OCI_LAYER_GZIP, b"\x28\xb5\x2f\xfd": mt.OCI_LAYER_ZSTD}


def layer_media_type(head: bytes) -> str:
    """The OCI layer media type for a blob starting with ``head`` (gzip, zstd or plain tar)."""
    for magic, media_type in _MAGIC.items():
        if head.startswith(magic):
            return media_type
    return mt.OCI_LAYER


def import_tarball(store: Store, source: BinaryIO, names: list[str], changes: list[str], message: str) -> Image:
    """Store ``source`` as a layer blob, extract it, and record an image named ``names``.

    ``changes`` are validated before anything is written. On any error the store is left as it
    was: the layer is discarded and blobs nothing refers to are collected.
    """
    runtime: dict = {}  # type: ignore[type-arg]
    for change in changes:
        apply_change(runtime, change)
    with store.writing():
        try:
            blob, size = store.blobs.put_stream(source)
            with store.blobs.open(blob) as fh:
                media_type = layer_media_type(fh.read(4))
            layer = store.layers.add_from_blob(blob, media_type, None)
            created = now_rfc3339()
            history = [{"created": created, "created_by": f"/bin/sh -c #(nop) ADD file:{layer.diff_id.split(':')[1]} in / ",
                        "comment": message or "imported from tarball"}]
            config = new_config([layer.diff_id], created, history, runtime)  # type: ignore[list-item]
            image = store.add_image(config_bytes(config), [layer], names)
            if layer.blob != blob:  # the content was already stored: keep one copy
                store.blobs.remove(blob)
        except BaseException:
            store.collect_garbage()
            raise
    plugins.call("capsa_image_event", action="import", image_id=image.id, names=image.names)
    return image
