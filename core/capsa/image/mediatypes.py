"""OCI and Docker media types of manifests, indexes, configs and layers, and what they imply.

Contracts: every helper takes a media type string as found in a descriptor (no parameters such as
``; charset=``); :func:`layer_compression` raises :class:`ArchiveError` for anything that is not a
layer capsa can unpack (encrypted layers included).
"""
from __future__ import annotations

from capsa.errors import ArchiveError

# OCI image-spec v1
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

# Docker distribution schema 2 (and the deprecated schema 1, recognised only to refuse it)
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zst"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar"
DOCKER_FOREIGN_LAYER_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_V2S1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_V2S1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    Compression = Literal["none", "gzip", "zstd"]

_LAYERS: dict[str, Compression] = {
    OCI_LAYER: "none", OCI_LAYER_GZIP: "gzip", OCI_LAYER_ZSTD: "zstd",
    OCI_LAYER_NONDIST: "none", OCI_LAYER_NONDIST_GZIP: "gzip", OCI_LAYER_NONDIST_ZSTD: "zstd",
    DOCKER_LAYER: "none", DOCKER_LAYER_GZIP: "gzip", DOCKER_LAYER_ZSTD: "zstd",
    DOCKER_FOREIGN_LAYER: "none", DOCKER_FOREIGN_LAYER_GZIP: "gzip",
}
NONDISTRIBUTABLE_LAYERS = frozenset({OCI_LAYER_NONDIST, OCI_LAYER_NONDIST_GZIP, OCI_LAYER_NONDIST_ZSTD,
                                     DOCKER_FOREIGN_LAYER, DOCKER_FOREIGN_LAYER_GZIP})
IMAGE_CONFIGS = frozenset({OCI_CONFIG, DOCKER_CONFIG})
MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
SCHEMA1 = frozenset({DOCKER_V2S1, DOCKER_V2S1_SIGNED})
# What capsa can parse, most preferred first: the value of an HTTP Accept header for manifests.
ACCEPTED_MANIFESTS: tuple[str, ...] = (OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST)


def is_index(media_type: str) -> bool:
    """True for a multi-platform list: an OCI image index or a Docker manifest list."""
    return media_type in INDEXES


def is_manifest(media_type: str) -> bool:
    """True for a single-image manifest capsa can parse (OCI v1 or Docker schema 2; not schema 1)."""
    return media_type in MANIFESTS


def is_schema1(media_type: str) -> bool:
    """True for the deprecated Docker schema 1 manifest types (signed or not)."""
    return media_type in SCHEMA1


def is_encrypted(media_type: str) -> bool:
    """True when the media type carries the ocicrypt ``+encrypted`` suffix."""
    return "encrypted" in media_type.split("+")[1:]


def is_layer(media_type: str) -> bool:
    """True for a layer media type capsa can unpack (OCI or Docker, any supported compression)."""
    return media_type in _LAYERS


def is_nondistributable(media_type: str) -> bool:
    """True for foreign/non-distributable layers (pushing them is usually skipped)."""
    return media_type in NONDISTRIBUTABLE_LAYERS


def layer_compression(media_type: str) -> Compression:
    """The compression a layer of this media type uses; ArchiveError for encrypted or unknown types."""
    try:
        return _LAYERS[media_type]
    except KeyError:
        pass
    if is_encrypted(media_type):
        raise ArchiveError(f"encrypted layers are not supported (media type {media_type})",
                           "decrypt the image first, e.g. with skopeo copy --decryption-key")
    raise ArchiveError(f"unknown layer media type {media_type!r}",
                       "capsa unpacks OCI and Docker tar layers (uncompressed, gzip or zstd)")


_OCI_BY_COMPRESSION: dict[str, str] = {"none": OCI_LAYER, "gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD}
_DOCKER_BY_COMPRESSION: dict[str, str] = {"none": DOCKER_LAYER, "gzip": DOCKER_LAYER_GZIP, "zstd": DOCKER_LAYER_ZSTD}


def layer_type_for(manifest_type: str, media_type: str) -> str:
    """The media type a layer stored as ``media_type`` has in a manifest of ``manifest_type``
    (OCI or Docker schema 2): the same compression in that format's spelling (a layer pulled
    as Docker gzip is OCI gzip in an OCI manifest). Non-distributable layers keep their kind;
    ArchiveError for what :func:`layer_compression` refuses."""
    compression = layer_compression(media_type)
    docker = manifest_type == DOCKER_MANIFEST
    if is_nondistributable(media_type):
        if docker:
            return DOCKER_FOREIGN_LAYER_GZIP if compression == "gzip" else DOCKER_FOREIGN_LAYER
        return {"none": OCI_LAYER_NONDIST, "gzip": OCI_LAYER_NONDIST_GZIP, "zstd": OCI_LAYER_NONDIST_ZSTD}[compression]
    return (_DOCKER_BY_COMPRESSION if docker else _OCI_BY_COMPRESSION)[compression]
