"""Making images from containers: a container's writable layer becomes an image layer, and a
new image config derives from a base image's (``commit``, and every step of ``build``).

Contracts (the caller holds ``store.writing()`` for both functions; :func:`spool_diff`, which
may feed :func:`layer_from_container`, needs no store lock):

- :func:`layer_from_container` stores the changes of a writable layer (the storage driver's
  ``diff``: an uncompressed tar with OCI whiteouts, byte-identical for identical trees) as an
  **uncompressed** layer blob, as podman stores a commit locally (``...layer.v1.tar``); the blob
  digest is then the diff id, so identical content gives the same layer, blob and chain id
  (and an existing layer with that chain id is reused, not extracted again). Push compresses.
- :func:`derive_image` writes the new config (the base's, with ``config`` replaced, the layer's
  diff id appended, ``history`` appended, ``created`` now) and an OCI or Docker schema 2
  manifest, and records the image.
"""
from __future__ import annotations

import copy

from capsa.image import mediatypes as mt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from capsa.store.images import Image
    from capsa.store.layers import Layer
    from capsa.store.store import Store

FORMATS = {"oci": mt.OCI_MANIFEST, "docker": mt.DOCKER_MANIFEST}


def manifest_type_of(fmt: str) -> str:
    """The manifest media type of a ``--format`` (``oci`` or ``docker``); UsageError otherwise."""
    from capsa.errors import UsageError

    if fmt not in FORMATS:
        raise UsageError(f'unrecognized image format "{fmt}"', hint="use --format oci or --format docker")
    return FORMATS[fmt]


def spool_diff(store: Store, writable_layer_id: str, parent: Layer | None) -> BinaryIO:
    """The driver's diff of ``writable_layer_id`` on ``parent`` (None: its whole filesystem),
    spooled to an unnamed temporary file, for a ``with`` block. Needs no store lock: the caller
    keeps both layers from going (``commit`` holds the container's lock), so the long walk of
    a big layer does not block the store."""
    from capsa.store.tarstream import out_of_space

    with out_of_space("committing the container's changes", hint="free space for a copy of the changes"):
        return store.driver.diff(writable_layer_id, parent.id if parent else None)


def layer_from_container(store: Store, writable_layer_id: str, parent: Layer | None, *,
                         diff: BinaryIO | None = None) -> Layer:
    """A new image layer on ``parent`` holding what differs between ``parent`` and the layer
    ``writable_layer_id`` (``parent`` None: its whole filesystem, as ``--squash`` wants).

    The diff (``diff``: one :func:`spool_diff` made, read from its position; else spooled
    here) is copied into the blob store (hashing it: the digest is the diff id) and the layer
    is made from the blob, unless a layer with the same chain id exists already. On error no
    new blob or layer is left."""
    from capsa.store.tarstream import out_of_space

    if diff is None:
        with spool_diff(store, writable_layer_id, parent) as spool:
            return layer_from_container(store, writable_layer_id, parent, diff=spool)
    with out_of_space("committing the container's changes", hint="free space in the store"):
        digest, _size = store.blobs.put_stream(diff)
    try:
        layer = store.layers.add_from_blob(digest, mt.OCI_LAYER, parent, expected_diff_id=digest)
    except BaseException:
        if digest not in store.blobs_in_use():
            store.blobs.remove(digest)
        raise
    if layer.blob != digest and digest not in store.blobs_in_use():
        store.blobs.remove(digest)  # the same content was stored before under another blob
    return layer


def _base_config(store: Store, base: Image | None) -> dict[str, Any]:
    if base is not None:
        return copy.deepcopy(store.config_of(base))
    from capsa.image.config import new_config

    return new_config([], "", [])


def derive_image(store: Store, base: Image | None, layer: Layer | None, runtime: dict[str, Any],
                 history: dict[str, Any], names: list[str], *, intermediate: bool = False,
                 fmt: str = "oci", author: str | None = None, comment: str | None = None) -> Image:
    """Record an image: ``base``'s config (None: ``FROM scratch``, this host's platform) with
    ``config`` = ``runtime``, ``layer``'s diff id appended (``layer`` None: an empty-layer step,
    the history entry marked ``empty_layer``), ``history`` appended (``created`` filled in when
    absent), ``created`` now, ``author`` when given. ``layer`` must stand on ``base``'s top
    layer, or have no parent (a squashed layer: it replaces the base's layers and history, as
    podman's ``--squash`` does). ``fmt``: ``oci`` or ``docker`` (Docker media types;
    ``comment``, the commit message, only goes into a Docker config, as podman does).
    ``names`` are full references. Returns the recorded image."""
    from capsa.errors import StorageError
    from capsa.image.config import config_bytes
    from capsa.image.manifest import Descriptor, Manifest, manifest_json
    from capsa.store.records import now_rfc3339

    manifest_type = manifest_type_of(fmt)
    base_layers = store.image_layers(base) if base is not None else []
    if layer is None:
        layers = base_layers
    elif layer.parent is None:
        layers = [layer]
    elif base_layers and layer.parent == base_layers[-1].id:
        layers = [*base_layers, layer]
    else:
        raise StorageError(f"layer {layer.id} does not stand on the base image's top layer",
                           hint="make the layer on the base image's top layer")
    config = _base_config(store, base)
    created = now_rfc3339()
    entry = {"created": created, **history}
    if layer is None:
        entry["empty_layer"] = True
    else:
        entry.pop("empty_layer", None)
    old_history = list(config.get("history") or [])
    if layer is not None and layer.parent is None and base_layers:
        old_history = []  # (squashed: the one layer replaces the base's, and podman keeps one entry)
    config["history"] = [*old_history, entry]
    config["created"] = created
    config["config"] = dict(runtime)
    config["rootfs"] = {"type": "layers", "diff_ids": [item.diff_id for item in layers]}
    if author is not None:
        config["author"] = author
    config.pop("comment", None)
    if comment and manifest_type == mt.DOCKER_MANIFEST:
        config["comment"] = comment
    if base is None:
        from capsa.hostinfo import go_arch

        config.setdefault("architecture", go_arch())
        config.setdefault("os", "linux")
    body = config_bytes(config)
    config_type = mt.DOCKER_CONFIG if manifest_type == mt.DOCKER_MANIFEST else mt.OCI_CONFIG
    descriptors = [Descriptor(mt.layer_type_for(manifest_type, item.blob_media_type or mt.OCI_LAYER),
                              item.blob, item.blob_size) for item in layers if item.blob]
    config_digest = "sha256:" + _sha256_hex(body)
    manifest = manifest_json(Manifest(manifest_type, Descriptor(config_type, config_digest, len(body)), descriptors))
    return store.add_image(body, layers, names, manifest=manifest, manifest_media_type=manifest_type,
                           intermediate=intermediate)


def _sha256_hex(body: bytes) -> str:
    from capsa.store.blobs import sha256_of

    return sha256_of(body).split(":", 1)[1]
