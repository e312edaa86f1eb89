"""``capsa import``: a root filesystem tarball becomes a one-layer image."""
from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from capsa.errors import ArchiveError
from capsa.image import mediatypes as mt
from capsa.image.config import apply_change, config_bytes, new_config
from capsa.store.compression import SNIFF_BYTES, CorruptStream, decompressed, sniff, sniffed
from capsa.store.records import now_rfc3339
from capsa.store.tarstream import out_of_space

if TYPE_CHECKING:
    from capsa.store.images import Image
    from capsa.store.store import Store

_MEDIA_TYPES = {"gzip": mt.OCI_LAYER_GZIP, "zstd": mt.OCI_LAYER_ZSTD, "none": mt.OCI_LAYER}


def layer_media_type(head: bytes) -> str:
    """The OCI layer media type for a blob starting with ``head`` (``SNIFF_BYTES`` of them):
    gzip, zstd or plain tar; ArchiveError for a compression OCI has no layer type for."""
    kind = sniff(head)
    if kind not in _MEDIA_TYPES:
        raise ArchiveError(f"{kind}-compressed layers have no OCI media type", hint="store the layer uncompressed")
    return _MEDIA_TYPES[kind]


def not_a_tarball(exc: CorruptStream) -> ArchiveError:
    """What ``import`` says of data that is no tarball, or a truncated or corrupt one."""
    return ArchiveError(f"the archive is not a valid tarball, or it is truncated or corrupt ({exc.detail})",
                        hint="check the file given to import: a tar archive of a root filesystem "
                             "(.tar, .tar.gz, .tar.zst, .tar.xz or .tar.bz2)")


def import_tarball(store: Store, source: BinaryIO, names: list[str], changes: list[str], message: str,
                   platform: dict[str, str] | None = None) -> Image:
    """Store ``source`` as a layer blob, extract it, and record an image named ``names``;
    ``platform`` (``architecture``, ``os``, ``variant``: any of them) overrides the host's in its
    configuration (``import --arch/--os/--variant``).

    A plain, gzip or zstd tarball is stored as it is; an xz or bzip2 one is stored uncompressed
    (OCI has no media type for those). ``changes`` are validated before anything is written.
    On any error the store is left as it was: the layer is discarded and blobs nothing refers
    to are collected.
    """
    runtime: dict = {}  # type: ignore[type-arg]
    for change in changes:
        apply_change(runtime, change)
    with store.writing():
        try:
            with out_of_space("importing the tarball"):
                try:
                    kind, stream = sniffed(source)
                    if kind in ("xz", "bzip2"):
                        stream = decompressed(stream)
                    with out_of_space("storing the tarball in the store"):
                        blob, size = store.blobs.put_stream(stream)
                except CorruptStream as exc:
                    raise not_a_tarball(exc) from None
                with store.blobs.open(blob) as fh:
                    media_type = layer_media_type(fh.read(SNIFF_BYTES))
                try:
                    layer = store.layers.add_from_blob(blob, media_type, None)
                except CorruptStream as exc:  # (what the store says of a pulled layer is not for us)
                    raise not_a_tarball(exc) from None
                created = now_rfc3339()
                history = [{"created": created, "created_by": f"/bin/sh -c #(nop) ADD file:{layer.diff_id.split(':')[1]} in /",
                            "comment": message or "imported from tarball"}]
                config = new_config([layer.diff_id], created, history, runtime)  # type: ignore[list-item]
                config.update({k: v for k, v in (platform or {}).items() if v})
                image = store.add_image(config_bytes(config), [layer], names)
                if layer.blob != blob:  # the content was already stored: keep one copy
                    store.blobs.remove(blob)
        except BaseException:
            store.collect_garbage()
            raise
    return image
