"""What a push sends: the manifest type, and for each stored layer whether its bytes go as they
are or are (re)compressed first, and with which media type (after containers/image's rules for
a registry destination).

Contract of :func:`plan_push` (the caller holds the store's lock, shared is enough):

- the manifest type is ``--format``'s (``oci``: OCI image manifest, ``v2s2``: Docker schema 2),
  by default the type of the image's stored manifest (OCI for anything else);
- registries get compressed layers: an uncompressed layer is compressed (gzip unless
  ``--compression-format zstd``); a compressed one keeps its bytes, unless
  ``--compression-format`` asks for another compression or the manifest is Docker schema 2
  and the layer is zstd (schema 2 layers are gzip), and then it is recompressed;
- the config blob keeps its bytes (only its media type follows the manifest type);
- when nothing changes (same manifest type, every layer's bytes and media type kept) the stored
  manifest's bytes are pushed, so the image keeps its digest; otherwise :meth:`PushPlan.manifest`
  writes a new one (OCI keeps the annotations of the manifest and of the layers it keeps).
Usage errors (``v2s2`` with ``zstd``, unknown values) are UsageError; a layer without a stored
blob is StorageError.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from capsa.errors import ArchiveError, StorageError, UsageError
from capsa.image import mediatypes as mt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.image.manifest import Descriptor, Manifest
    from capsa.store.images import Image
    from capsa.store.store import Store

FORMATS = {"oci": mt.OCI_MANIFEST, "v2s2": mt.DOCKER_MANIFEST}
COMPRESSIONS = ("gzip", "zstd")
_OCI_LAYERS = {"none": mt.OCI_LAYER, "gzip": mt.OCI_LAYER_GZIP, "zstd": mt.OCI_LAYER_ZSTD}
_DOCKER_LAYERS = {"none": mt.DOCKER_LAYER, "gzip": mt.DOCKER_LAYER_GZIP}


@dataclass
class BlobPlan:
    """One blob to push: the stored blob ``source`` (``source_size`` bytes), sent as it is
    (``compression`` None) or compressed with ``compression`` into a new blob, whose ``digest``
    and ``size`` the push fills in."""

    source: str
    source_size: int
    media_type: str
    compression: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    digest: str = ""
    size: int = -1

    def __post_init__(self) -> None:
        if self.compression is None:
            self.digest, self.size = self.source, self.source_size

    def descriptor(self) -> Descriptor:
        from capsa.image.manifest import Descriptor

        if not self.digest or self.size < 0:
            raise StorageError(f"blob {self.source} was not pushed yet")
        return Descriptor(self.media_type, self.digest, self.size, annotations=dict(self.annotations))


@dataclass
class PushPlan:
    """The push of one image: its layers (bottom first), its config, the manifest type."""

    manifest_type: str
    config: BlobPlan
    layers: list[BlobPlan]
    annotations: dict[str, str] = field(default_factory=dict)
    stored_manifest: bytes | None = None  # pushed verbatim when nothing changes

    def manifest(self) -> bytes:
        """The manifest's bytes (what its digest is computed over), once every blob is pushed."""
        if self.stored_manifest is not None:
            return self.stored_manifest
        from capsa.image.manifest import Manifest, manifest_json

        return manifest_json(Manifest(self.manifest_type, self.config.descriptor(),
                                      [layer.descriptor() for layer in self.layers], annotations=dict(self.annotations)))


def manifest_type(fmt: str | None, stored_type: str) -> str:
    """The manifest type of a push: ``fmt`` (``oci``, ``v2s2``; ``v2s1`` refused), else the
    stored one when capsa can write it, else OCI."""
    if fmt is None:
        return stored_type if stored_type in FORMATS.values() else mt.OCI_MANIFEST
    if fmt == "v2s1":
        raise UsageError("--format v2s1: Docker schema 1 manifests are deprecated and capsa does not write them",
                         hint="use --format v2s2 or --format oci")
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: unknown manifest type", hint="use oci or v2s2")
    return FORMATS[fmt]


def check_compression(compression_format: str | None, kind: str) -> None:
    """Refuse a ``--compression-format`` capsa cannot write (or not in this manifest type)."""
    if compression_format is None:
        return
    if compression_format == "zstd:chunked":
        raise UsageError("--compression-format zstd:chunked is not supported by capsa", hint="use gzip or zstd")
    if compression_format not in COMPRESSIONS:
        raise UsageError(f"--compression-format {compression_format!r}: unknown compression", hint="use gzip or zstd")
    if compression_format == "zstd" and kind == mt.DOCKER_MANIFEST:
        raise UsageError("zstd-compressed layers cannot be pushed in a Docker schema 2 image (--format v2s2)",
                         hint="use --format oci with --compression-format zstd, or --compression-format gzip")


def _source_compression(store: Store, digest: str, media_type: str | None) -> str:
    """How the stored blob is compressed: from its media type, else from its first bytes."""
    if media_type:
        try:
            return mt.layer_compression(media_type)
        except ArchiveError:
            pass
    from capsa.store.compression import SNIFF_BYTES, sniff

    with store.blobs.open(digest) as fh:
        kind = sniff(fh.read(SNIFF_BYTES))
    return kind if kind in _OCI_LAYERS else "none"  # (xz/bzip2 are stored uncompressed by capsa)


def _stored_manifest(store: Store, image: Image) -> tuple[bytes | None, Manifest | None]:
    from capsa.image.manifest import Manifest, parse

    try:
        body = store.manifest_of(image)
        parsed = parse(body)
    except (ArchiveError, StorageError):
        return None, None
    return (body, parsed) if isinstance(parsed, Manifest) else (None, None)


def plan_push(store: Store, image: Image, fmt: str | None = None, compression_format: str | None = None) -> PushPlan:
    """The plan to push ``image`` (see the module's contract)."""
    body, stored = _stored_manifest(store, image)
    kind = manifest_type(fmt, stored.media_type if stored is not None else image.manifest_media_type)
    check_compression(compression_format, kind)
    oci = kind == mt.OCI_MANIFEST
    layers = store.image_layers(image)
    listed: list[Descriptor | None] = list(stored.layers) if stored is not None else []
    if len(listed) != len(layers):
        listed = [None] * len(layers)
    plans: list[BlobPlan] = []
    for layer, desc in zip(layers, listed):
        if layer.blob is None or not store.blobs.exists(layer.blob):
            raise StorageError(f"layer {layer.id[:12]} of image {image.id[:12]} has no stored blob",
                               hint="run 'capsa system check --repair'")
        if desc is not None and desc.digest != layer.blob:
            desc = None  # the layer's content is stored under another blob (same diff id)
        source_type = desc.media_type if desc is not None else layer.blob_media_type
        has = _source_compression(store, layer.blob, source_type)
        wanted = compression_format or ("gzip" if has == "none" or (has == "zstd" and not oci) else has)
        keep = wanted == has
        media_type = (_OCI_LAYERS if oci else _DOCKER_LAYERS)[wanted]
        annotations = dict(desc.annotations) if oci and keep and desc is not None else {}
        plans.append(BlobPlan(layer.blob, layer.blob_size, media_type, None if keep else wanted, annotations))
    config_digest = "sha256:" + image.id
    config = BlobPlan(config_digest, store.blobs.size(config_digest), mt.OCI_CONFIG if oci else mt.DOCKER_CONFIG)
    unchanged = (stored is not None and body is not None and stored.media_type == kind
                 and stored.config.digest == config_digest and stored.config.media_type == config.media_type
                 and len(stored.layers) == len(plans)
                 and all(p.compression is None and (p.digest, p.size, p.media_type) == (d.digest, d.size, d.media_type)
                         for p, d in zip(plans, stored.layers)))
    annotations = dict(stored.annotations) if oci and stored is not None else {}
    return PushPlan(kind, config, plans, annotations, body if unchanged else None)
