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
  link leaving the archive, is refused (ArchiveError), and so is a pax or GNU long-name header
  over 1 MiB (before it is read).
- The disk filling up (ENOSPC, EDQUOT) is a one-line StorageError ("no space left on device
  while ...") and leaves the store, or the destination, as it was.

The OCI layout writer and reader are :mod:`capsa.image.oci_layout`; docker archives and the
tar and layer plumbing all formats share are :mod:`capsa.image.docker_archive`.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
import json
import os
from pathlib import Path
import shutil
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Literal

from capsa.errors import ArchiveError, StorageError, UsageError
from capsa.store.tarstream import out_of_space

if TYPE_CHECKING:
    from capsa.image.docker_archive import TarSink
    from capsa.store.images import Image
    from capsa.store.layers import Layer
    from capsa.store.store import Store

Format = Literal["oci-archive", "docker-archive", "oci-dir"]
FORMATS: tuple[str, ...] = ("oci-archive", "docker-archive", "oci-dir")
MAX_JSON = 32 << 20  # manifests, configs, index.json: refuse anything larger
UNKNOWN_PAYLOAD = "payload does not match any of the supported image formats (oci, oci-archive, docker-archive)"
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
    from capsa.image.oci_layout import write_oci

    where = os.fspath(dest) if isinstance(dest, (str, os.PathLike)) else "the archive"
    with store.reading(), out_of_space(f"writing {where}", hint="free space where the archive is written"):
        saved = _collect(store, refs)
        if fmt == "oci-dir":
            if not isinstance(dest, (str, os.PathLike)):
                raise UsageError("oci-dir needs a directory to write to", hint="give one with -o DIR")
            with _atomic_dir(Path(dest)) as tmp:
                write_oci(store, saved, DirSink(tmp))
            return
        if isinstance(dest, (str, os.PathLike)):
            with output_file(os.fspath(dest)) as fh:
                _write_archive(store, saved, fmt, fh)
        else:
            _write_archive(store, saved, fmt, dest)


def saved_manifest_digest(store: Store, ref: str) -> str:
    """The digest of the OCI manifest :func:`save_images` writes for the image ``ref`` (what
    ``push --digestfile`` records for an archive destination)."""
    from capsa.image.manifest import digest_of
    from capsa.image.oci_layout import oci_manifest

    with store.reading():
        return digest_of(oci_manifest(store, _collect(store, [ref])[0]))


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
            from capsa.image.oci_layout import write_oci

            write_oci(store, saved, sink)
    except BaseException:
        sink.abandon()
        raise
    sink.close()


class DirSink:
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
def atomic_file(path: Path) -> Iterator[IO[bytes]]:
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


def output_file(path: str) -> Any:
    """The file ``-o`` names (``save``, ``export``), as a context giving a binary file: a
    regular file (new or existing, through a symlink too) is replaced atomically once the
    archive is complete (nothing is left on failure); a device or fifo (``/dev/null``) is written
    in place, never replaced (as root, a rename would swap the device for a regular file)."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = 0
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror}", hint="check that its directory exists and is writable") from None
    if mode and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        try:
            return open(path, "wb")
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc.strerror}", hint="check that it is writable") from None
    return atomic_file(Path(os.path.realpath(path)))


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
    path or stream, possibly gzip/zstd-compressed); return them. ArchiveError for bad input.
    (The engine fires the image events: :mod:`capsa.engine.images`.)"""
    with store.writing():
        try:
            with out_of_space("loading images into the store"):
                with _open_source(store, source) as src:
                    pending = _read_images(store, src)
                images = [store.add_image(p.config, p.layers, p.names, p.manifest, p.manifest_media_type)
                          for p in pending]
        except BaseException:
            store.collect_garbage()
            raise
    return images


def _read_images(store: Store, src: Source) -> list[Pending]:
    if src.has("oci-layout"):
        from capsa.image.oci_layout import load_oci

        return load_oci(store, src)
    if src.has("manifest.json"):
        from capsa.image.docker_archive import load_docker_archive

        return load_docker_archive(store, src)
    raise ArchiveError(f"{UNKNOWN_PAYLOAD}: {src.label} is neither an OCI layout nor a docker archive (no oci-layout or manifest.json)",
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


