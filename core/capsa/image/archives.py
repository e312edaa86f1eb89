"""``capsa save`` / ``capsa load``: images to and from OCI layouts and docker archives.

Contracts:
- :func:`save_images` writes several images into one ``oci-dir`` (an OCI image layout
  directory), ``oci-archive`` (the same layout as an uncompressed tar) or ``docker-archive``
  (what ``podman save`` / ``docker save`` write). A path destination is written atomically
  (temporary name, then rename): a failed save leaves nothing behind.
- :func:`load_images` reads any of those (plus gzip/zstd-compressed tars and Docker 25+
  archives, which are OCI layouts with an extra ``manifest.json``), verifying every digest and
  diff id. It works under one exclusive store lock; on any error everything it added is
  collected again and the store is as it was. Only complete images are recorded.
- Tar members are looked up by name only; a member named with ``..`` or an absolute path, or a
  link leaving the archive, is refused (ArchiveError).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Literal

from capsa.errors import ArchiveError, StorageError, UsageError

if TYPE_CHECKING:
    from capsa.image.docker_archive import TarSink
    from capsa.image.manifest import Descriptor
    from capsa.store.images import Image
    from capsa.store.layers import Layer
    from capsa.store.store import Store

Format = Literal["oci-archive", "docker-archive", "oci-dir"]
FORMATS: tuple[str, ...] = ("oci-archive", "docker-archive", "oci-dir")
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"  # Docker 25+ / buildkit put the full name here
LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
MAX_JSON = 32 << 20  # manifests, configs, index.json: refuse anything larger
LOAD_HINT = ("capsa load reads OCI archives and layouts and docker archives "
             "(as written by 'capsa save', 'podman save', 'skopeo copy' or 'docker save')")


# -- saving ----------------------------------------------------------------------------------

@dataclass
class SavedImage:
    """One image to write: its record, the names to save it under, its config and layers."""

    image: Image
    names: list[str]
    config: bytes
    layers: list[Layer]


def save_images(store: Store, refs: list[str], fmt: Format, dest: str | os.PathLike[str] | BinaryIO) -> None:
    """Write the images ``refs`` name into ``dest`` in format ``fmt``.

    A ref that names an image is saved under that name; one given as an image id is saved
    without a name (podman's rule). ``dest`` is a path (an archive file, or for ``oci-dir`` a
    new or empty directory) or, for the archive formats, a binary stream.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown archive format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    if not refs:
        raise UsageError("no image to save", hint="name at least one image")
    with store.reading():
        saved = _collect(store, refs)
        if fmt == "oci-dir":
            if not isinstance(dest, (str, os.PathLike)):
                raise UsageError("oci-dir needs a directory to write to", hint="give one with -o DIR")
            with _atomic_dir(Path(dest)) as tmp:
                _write_oci(store, saved, _DirSink(tmp))
            return
        if isinstance(dest, (str, os.PathLike)):
            with _atomic_file(Path(dest)) as fh:
                _write_archive(store, saved, fmt, fh)
        else:
            _write_archive(store, saved, fmt, dest)


def _collect(store: Store, refs: list[str]) -> list[SavedImage]:
    by_id: dict[str, SavedImage] = {}
    for ref in refs:
        image = store.find_image(ref)
        names = [c for c in store.name_candidates(ref) if c in image.names][:1]  # none when given by id
        if image.id in by_id:
            by_id[image.id].names = list(dict.fromkeys([*by_id[image.id].names, *names]))
            continue
        config = store.blobs.read("sha256:" + image.id)
        by_id[image.id] = SavedImage(image, names, config, store.image_layers(image))
    return list(by_id.values())


def _write_archive(store: Store, saved: list[SavedImage], fmt: str, out: IO[bytes]) -> None:
    from capsa.image.docker_archive import TarSink

    sink = TarSink(out)
    try:
        if fmt == "docker-archive":
            from capsa.image.docker_archive import write_docker_archive

            write_docker_archive(store, saved, sink)
        else:
            _write_oci(store, saved, sink)
    except BaseException:
        sink.abandon()
        raise
    sink.close()


class _DirSink:
    """Writes the same entries as files under a directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def add_dir(self, name: str) -> None:
        (self.root / name).mkdir(parents=True, exist_ok=True)

    def add_bytes(self, name: str, data: bytes, mode: int = 0o644) -> None:
        (self.root / name).write_bytes(data)

    def add_stream(self, name: str, size: int, stream: BinaryIO, mode: int = 0o644) -> None:
        with open(self.root / name, "wb") as out:
            copied = 0
            while copied < size and (chunk := stream.read(min(1 << 20, size - copied))):
                out.write(chunk)
                copied += len(chunk)
        if copied != size:
            raise StorageError(f"{name}: the store's data is shorter than recorded", hint="run 'capsa system check --repair'")

    def add_symlink(self, name: str, target: str) -> None:
        os.symlink(target, self.root / name)


@contextmanager
def _atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """A temporary file beside ``path``, renamed over it on success and removed on failure."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory", hint="give a file name for the archive")
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{os.urandom(4).hex()}.tmp")
    try:
        fh = open(tmp, "wb")
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror}", hint="check that its directory exists and is writable") from None
    try:
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def _atomic_dir(path: Path) -> Iterator[Path]:
    """A temporary directory beside ``path``, renamed to it on success and removed on failure."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} exists and is not a directory", hint="give a new or empty directory for oci-dir")
    if path.is_dir() and any(path.iterdir()):
        raise UsageError(f"{path} is not empty", hint="give a new or empty directory for oci-dir")
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{os.urandom(4).hex()}.tmp")
    try:
        tmp.mkdir(mode=0o755)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror}", hint="check that its parent directory exists and is writable") from None
    try:
        yield tmp
        if path.is_dir():
            path.rmdir()
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _oci_layer_type(store: Store, layer: Layer) -> str:
    from capsa.image import mediatypes as mt

    docker = {mt.DOCKER_LAYER: mt.OCI_LAYER, mt.DOCKER_LAYER_GZIP: mt.OCI_LAYER_GZIP, mt.DOCKER_LAYER_ZSTD: mt.OCI_LAYER_ZSTD,
              mt.DOCKER_FOREIGN_LAYER: mt.OCI_LAYER_NONDIST, mt.DOCKER_FOREIGN_LAYER_GZIP: mt.OCI_LAYER_NONDIST_GZIP}
    media_type = layer.blob_media_type or ""
    if media_type.startswith("application/vnd.oci.image.layer."):
        return media_type
    if media_type in docker:
        return docker[media_type]
    from capsa.image.importing import layer_media_type

    with store.blobs.open(layer.blob) as fh:  # type: ignore[arg-type]
        return layer_media_type(fh.read(4))


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


def _write_oci(store: Store, saved: list[SavedImage], sink: TarSink | _DirSink) -> None:
    """An OCI image layout: ``oci-layout``, ``index.json`` (one entry per name, the full name in
    ``org.opencontainers.image.ref.name`` as podman writes it), then ``blobs/sha256/``."""
    from capsa.image import mediatypes as mt
    from capsa.image.manifest import Descriptor, Index, digest_of, index_json

    entries: list[Descriptor] = []
    blobs: dict[str, Callable[[], None]] = {}

    def blob_bytes(digest: str, data: bytes) -> None:
        blobs.setdefault(digest, lambda: sink.add_bytes(blob_path(digest), data))

    def blob_stored(digest: str, size: int) -> None:
        from capsa.image.docker_archive import HashingReader

        def send() -> None:
            with store.blobs.open(digest) as fh:
                reader = HashingReader(fh)
                sink.add_stream(blob_path(digest), size, reader)  # type: ignore[arg-type]
                reader.check_end(digest, blob_path(digest))
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


# -- loading ---------------------------------------------------------------------------------

@dataclass
class Pending:
    """An image read and verified, not yet recorded."""

    config: bytes
    layers: list[Layer]
    names: list[str]
    manifest: bytes | None = None
    manifest_media_type: str | None = None


def load_images(store: Store, source: str | os.PathLike[str] | BinaryIO) -> list[Image]:
    """Load every image in ``source`` (an OCI layout directory, or an OCI or docker archive as a
    path or stream, possibly gzip/zstd-compressed); return them. ArchiveError for bad input."""
    from capsa import plugins

    with store.writing():
        try:
            with _open_source(store, source) as src:
                pending = _read_images(store, src)
            images = [store.add_image(p.config, p.layers, p.names, p.manifest, p.manifest_media_type) for p in pending]
        except BaseException:
            store.collect_garbage()
            raise
    for image in images:
        plugins.call("capsa_image_event", action="load", image_id=image.id, names=image.names)
    return images


def _read_images(store: Store, src: Source) -> list[Pending]:
    if src.has("oci-layout"):
        return _load_oci(store, src)
    if src.has("manifest.json"):
        from capsa.image.docker_archive import load_docker_archive

        return load_docker_archive(store, src)
    raise ArchiveError(f"{src.label} is neither an OCI layout nor a docker archive (no oci-layout or manifest.json)",
                       hint=LOAD_HINT)


class Source:
    """Files of an image layout or archive, read by name."""

    label = "the input"

    def has(self, name: str) -> bool:
        raise NotImplementedError

    def open(self, name: str) -> BinaryIO:
        raise NotImplementedError

    def size(self, name: str) -> int:
        raise NotImplementedError

    def read(self, name: str, limit: int = MAX_JSON) -> bytes:
        if self.size(name) > limit:
            raise ArchiveError(f"{name} in {self.label} is larger than {limit} bytes", hint="the archive is corrupt")
        with self.open(name) as fh:
            return fh.read()

    def read_json(self, name: str) -> Any:
        try:
            return json.loads(self.read(name))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ArchiveError(f"{name} in {self.label} is not valid JSON: {exc}", hint="the archive is corrupt") from None


class DirSource(Source):
    def __init__(self, root: Path) -> None:
        self.root, self.label = root, str(root)

    def _path(self, name: str) -> Path:
        from capsa.image.docker_archive import member_name

        return self.root / member_name(name)

    def has(self, name: str) -> bool:
        return self._path(name).is_file()

    def size(self, name: str) -> int:
        try:
            return self._path(name).stat().st_size
        except FileNotFoundError:
            raise missing(name, self.label) from None

    def open(self, name: str) -> BinaryIO:
        try:
            return open(self._path(name), "rb")
        except (FileNotFoundError, IsADirectoryError):
            raise missing(name, self.label) from None


def missing(name: str, label: str) -> ArchiveError:
    return ArchiveError(f"{name} is missing from {label}", hint="the archive is incomplete or corrupt")


@contextmanager
def _open_source(store: Store, source: str | os.PathLike[str] | BinaryIO) -> Iterator[Source]:
    from capsa.image.docker_archive import tar_source

    if not isinstance(source, (str, os.PathLike)):
        with tar_source(store, source, "the input") as src:
            yield src
        return
    path = Path(source)
    if path.is_dir():
        if not (path / "oci-layout").is_file():
            raise ArchiveError(f"{path} is a directory but not an OCI image layout (no oci-layout file)", hint=LOAD_HINT)
        yield DirSource(path)
        return
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise ArchiveError(f"cannot read {path}: {exc.strerror}", hint="check the path given to load") from None
    with fh, tar_source(store, fh, str(path)) as src:  # type: ignore[arg-type]
        yield src


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


def _load_oci(store: Store, src: Source) -> list[Pending]:
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
