"""OCI image layouts (``oci-dir``, ``oci-archive`` and Docker 25+ archives): writing and reading.

:mod:`capsa.image.archives` holds the API (``save_images``/``load_images``) and calls
:func:`write_oci` and :func:`load_oci`. Written as podman writes a layout: ``oci-layout``,
``index.json`` (one entry per name, the full name in ``org.opencontainers.image.ref.name``),
then ``blobs/sha256/``; a stored OCI manifest of exactly the saved blobs is kept (its digest
with it). Read: index.json entries (nested indexes resolved to this host's platform), every
blob verified against its descriptor's digest and size, names from the containerd or ref.name
annotation (as podman normalises them) or, for Docker 25+ archives, from ``manifest.json``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import hashlib
from typing import TYPE_CHECKING

from capsa.errors import ArchiveError, StorageError
from capsa.image.archives import LOAD_HINT, Pending, SavedImage, Source

if TYPE_CHECKING:
    from capsa.image.archives import DirSink
    from capsa.image.docker_archive import TarSink
    from capsa.image.manifest import Descriptor
    from capsa.store.layers import Layer
    from capsa.store.store import Store

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"  # Docker 25+ / buildkit put the full name here
LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


# -- writing ---------------------------------------------------------------------------------

def _oci_layer_type(store: Store, layer: Layer) -> str:
    from capsa.image import mediatypes as mt

    media_type = layer.blob_media_type or ""
    if media_type.startswith("application/vnd.oci.image.layer."):
        return media_type
    if mt.is_layer(media_type):  # a Docker one: the same compression in OCI's spelling
        return mt.layer_type_for(mt.OCI_MANIFEST, media_type)
    from capsa.image.importing import layer_media_type
    from capsa.store.compression import SNIFF_BYTES

    with store.blobs.open(layer.blob) as fh:  # type: ignore[arg-type]
        return layer_media_type(fh.read(SNIFF_BYTES))


def oci_manifest(store: Store, saved: SavedImage) -> bytes:
    """The image's stored manifest when it is an OCI manifest of exactly these blobs (its digest is
    kept), else a new OCI manifest for them."""
    from capsa.image import mediatypes as mt
    from capsa.image.manifest import Descriptor, Index, Manifest, manifest_json, parse

    layers = saved.layers
    for layer in layers:
        if layer.blob is None:
            raise StorageError(f"layer {layer.id} of image {saved.image.id[:12]} has no stored blob",
                               hint="run 'capsa system check --repair'")
    try:
        stored = store.manifest_of(saved.image)
        current: Manifest | Index | None = parse(stored)
    except (ArchiveError, StorageError):
        current = None
    if (isinstance(current, Manifest) and current.media_type == mt.OCI_MANIFEST
            and current.config.digest == "sha256:" + saved.image.id and current.config.media_type == mt.OCI_CONFIG
            and [(d.digest, d.size) for d in current.layers] == [(layer.blob, layer.blob_size) for layer in layers]
            and all(d.media_type.startswith("application/vnd.oci.image.layer.") for d in current.layers)):
        return stored
    descriptors = [Descriptor(_oci_layer_type(store, layer), layer.blob, layer.blob_size) for layer in layers]  # type: ignore[arg-type]
    config = Descriptor(mt.OCI_CONFIG, "sha256:" + saved.image.id, len(saved.config))
    return manifest_json(Manifest(mt.OCI_MANIFEST, config, descriptors))


def write_oci(store: Store, saved: list[SavedImage], sink: TarSink | DirSink) -> None:
    """An OCI image layout: ``oci-layout``, ``index.json`` (one entry per name, the full name in
    ``org.opencontainers.image.ref.name`` as podman writes it), then ``blobs/sha256/``."""
    from capsa.image import mediatypes as mt
    from capsa.image.manifest import Descriptor, Index, digest_of, index_json

    entries: list[Descriptor] = []
    blobs: dict[str, Callable[[], None]] = {}

    def blob_bytes(digest: str, data: bytes) -> None:
        blobs.setdefault(digest, lambda: sink.add_bytes(blob_path(digest), data))

    def blob_stored(digest: str, size: int) -> None:
        from capsa.image.docker_archive import check_end
        from capsa.store.tarstream import HashingReader

        def send() -> None:
            with store.blobs.open(digest) as fh:
                reader = HashingReader(fh)
                sink.add_stream(blob_path(digest), size, reader)  # type: ignore[arg-type]
                check_end(reader, digest, blob_path(digest))
        blobs.setdefault(digest, send)

    for item in saved:
        manifest = oci_manifest(store, item)
        digest = digest_of(manifest)
        for name in item.names or [""]:
            entries.append(Descriptor(mt.OCI_MANIFEST, digest, len(manifest), annotations={REF_NAME: name} if name else {}))
        blob_bytes(digest, manifest)
        blob_bytes("sha256:" + item.image.id, item.config)
        for layer in item.layers:
            blob_stored(layer.blob, layer.blob_size)  # type: ignore[arg-type]
    sink.add_bytes("oci-layout", LAYOUT)
    sink.add_bytes("index.json", index_json(Index(mt.OCI_INDEX, entries)))
    sink.add_dir("blobs")
    sink.add_dir("blobs/sha256")
    for send in blobs.values():
        send()


def blob_path(digest: str) -> str:
    """``blobs/<algorithm>/<hex>`` for a validated digest."""
    from capsa.image.manifest import digest_problem

    problem = digest_problem(digest)
    if problem:
        raise ArchiveError(problem)
    algorithm, encoded = digest.split(":", 1)
    return f"blobs/{algorithm}/{encoded}"


# -- reading ---------------------------------------------------------------------------------

def _verified_blob(src: Source, desc: Descriptor) -> bytes:
    path = blob_path(desc.digest)
    data = src.read(path)
    algorithm = desc.digest.split(":", 1)[0]
    if f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}" != desc.digest:
        raise ArchiveError(f"{path} in {src.label} does not match its digest", hint="the archive is corrupt or was tampered with")
    if len(data) != desc.size:
        raise ArchiveError(f"{path} has {len(data)} bytes, its descriptor says {desc.size}", hint="the archive is corrupt")
    return data


def _entry_name(entry: Descriptor) -> str:
    """The name an index.json entry gives (like podman: the containerd name, else ref.name
    normalised, so a bare ``latest`` becomes ``localhost/latest:latest``); ``""`` if none."""
    from capsa.image.docker_archive import normalize_name

    raw = entry.annotations.get(CONTAINERD_NAME) or entry.annotations.get(REF_NAME) or ""
    return normalize_name(raw, "index.json", "localhost") if raw else ""


@dataclass
class _OciImage:
    desc: Descriptor
    names: list[str] = field(default_factory=list)


def _chosen_manifests(src: Source) -> list[_OciImage]:
    """The manifests index.json names (nested indexes resolved to this host's platform), each
    with its names; several platform entries under one name count as one image."""
    from capsa.image import mediatypes as mt
    from capsa.image.manifest import Index, parse, select_platform

    index = parse(src.read("index.json"))
    if not isinstance(index, Index):
        raise ArchiveError(f"index.json in {src.label} is not an image index", hint="the layout is corrupt")
    groups: dict[str, list[Descriptor]] = {}
    for entry in index.manifests:
        name = _entry_name(entry)
        groups.setdefault(name or f"#{entry.digest}", []).append(entry)
    chosen: dict[str, _OciImage] = {}
    for key, entries in groups.items():
        if len({e.digest for e in entries}) > 1 and any(e.platform for e in entries):
            entries = [select_platform(Index(mt.OCI_INDEX, entries))]
        for desc in entries:
            for _ in range(4):  # an index entry may point to an index (multi-platform)
                if not mt.is_index(desc.media_type):
                    break
                nested = parse(_verified_blob(src, desc), desc.media_type)
                if not isinstance(nested, Index):
                    raise ArchiveError(f"{desc.digest} is not an image index", hint="the layout is corrupt")
                desc = select_platform(nested)
            if not mt.is_manifest(desc.media_type):
                raise ArchiveError(f"index.json entry {desc.digest} has an unsupported media type {desc.media_type!r}",
                                   hint="capsa loads container images (OCI or Docker schema 2)")
            image = chosen.setdefault(desc.digest, _OciImage(desc))
            if not key.startswith("#"):
                image.names.append(key)
    return list(chosen.values())


def _docker_names(src: Source) -> dict[str, list[str]]:
    """Docker 25+ archives: RepoTags of manifest.json by config digest (names for unnamed entries)."""
    if not src.has("manifest.json"):
        return {}
    from capsa.image.docker_archive import repo_tags

    out: dict[str, list[str]] = {}
    items = src.read_json("manifest.json")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("Config"), str):
            digest = "sha256:" + hashlib.sha256(src.read(item["Config"])).hexdigest()
            out.setdefault(digest, []).extend(repo_tags(item))
    return out


def load_oci(store: Store, src: Source) -> list[Pending]:
    from capsa.image.docker_archive import LayerIn, config_diff_ids, ingest_layers
    from capsa.image.manifest import Manifest, parse

    layout = src.read_json("oci-layout")
    version = layout.get("imageLayoutVersion") if isinstance(layout, dict) else None
    if not isinstance(version, str) or not version.startswith("1."):
        raise ArchiveError(f"oci-layout in {src.label} has an unsupported imageLayoutVersion {version!r}", hint=LOAD_HINT)
    fallback = _docker_names(src)
    pending: list[Pending] = []
    for item in _chosen_manifests(src):
        body = _verified_blob(src, item.desc)
        manifest = parse(body, item.desc.media_type)
        where = f"image {item.desc.digest}"
        if not isinstance(manifest, Manifest):
            raise ArchiveError(f"{where} is not an image manifest", hint="the layout is corrupt")
        if manifest.is_artifact:
            raise ArchiveError(f"{where} is not a container image (config type {manifest.config.media_type})",
                               hint="capsa loads container images only")
        if not manifest.config.digest.startswith("sha256:"):
            raise ArchiveError(f"{where}: unsupported config digest {manifest.config.digest}", hint="capsa stores sha256 blobs")
        config = _verified_blob(src, manifest.config)
        layers = [LayerIn(lambda d=d: src.open(blob_path(d.digest)), f"layer {d.digest}", d.media_type, d.digest, d.size)
                  for d in manifest.layers]
        stored = ingest_layers(store, layers, config_diff_ids(config, f"config of {where}"), where)
        names = item.names or fallback.get(manifest.config.digest, [])
        pending.append(Pending(config, stored, list(dict.fromkeys(names)), body, manifest.media_type))
    return pending
