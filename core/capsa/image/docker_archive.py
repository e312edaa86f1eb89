"""Docker archives (``docker save`` / ``podman save --format docker-archive``), and the tar and
layer-ingest plumbing every archive format shares (:mod:`capsa.image.archives` holds the API
and OCI layouts).

Every tar is read with ``BoundedTarInfo`` (pax and GNU long-name headers over 1 MiB are refused
unread); a disk filling up while spooling or storing blobs is a one-line StorageError.

Written as containers/image writes it: ``<diff id hex>.tar`` uncompressed layers (their sha256
is the diff id), the config as ``<image id>.json``, legacy ``<v1 id>/{layer.tar -> ../<hex>.tar,
VERSION, json}`` entries, ``manifest.json`` (``Config``/``RepoTags``/``Layers``) and
``repositories``. Read: that, the older form with real ``<id>/layer.tar`` files, Docker 25+
paths (``blobs/sha256/<hex>``) and compressed layers (xz and bzip2 ones are stored uncompressed:
OCI has no media type for them); image configs are checked (:func:`config_diff_ids`); ``RepoTags`` are normalised the way
podman loads them (``busybox:latest`` is ``docker.io/library/busybox:latest``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
import datetime
import hashlib
import io
import json
import os
import posixpath
import re
import shutil
import tarfile
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from capsa.errors import ArchiveError, StorageError, UsageError
from capsa.fsutil import remove_file
from capsa.image.archives import LOAD_HINT, UNKNOWN_PAYLOAD, Pending, SavedImage, Source, missing
from capsa.store.compression import CHUNK, SNIFF_BYTES, CorruptStream, decompressed, sniff, sniffed
from capsa.store.tarstream import BoundedTarInfo, HashingReader, out_of_space

if TYPE_CHECKING:
    from capsa.store.layers import Layer
    from capsa.store.store import Store

MAX_LINKS = 16  # symlinks followed to find one member
LEGACY_ATTRS = ("architecture", "config", "container", "container_config", "created", "docker_version", "os")


# -- tar plumbing ----------------------------------------------------------------------------

def check_end(reader: HashingReader, digest: str, what: str) -> None:
    """After sending ``what`` through ``reader``: it must be at its end and match ``digest``."""
    if reader.read(1) or reader.digest != digest:
        raise StorageError(f"{what} in the store does not match {digest}", hint="run 'capsa system check --repair'")


class TarSink:
    """Writes entries into an uncompressed tar stream (deterministic: mtime 0, owner 0:0)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)  # type: ignore[call-overload]

    @staticmethod
    def _info(name: str, kind: bytes, mode: int, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.size, info.linkname, info.mtime = kind, mode, size, linkname, 0
        return info

    def add_dir(self, name: str) -> None:
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, 0o755))

    def add_bytes(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self.tar.addfile(self._info(name, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))

    def add_stream(self, name: str, size: int, stream: BinaryIO, mode: int = 0o644) -> None:
        try:
            self.tar.addfile(self._info(name, tarfile.REGTYPE, mode, size), stream)
        except OSError as exc:
            if "unexpected end of data" not in str(exc):
                raise
            raise StorageError(f"{name}: the store's data is shorter than recorded",
                               hint="run 'capsa system check --repair'") from None

    def add_symlink(self, name: str, target: str) -> None:
        self.tar.addfile(self._info(name, tarfile.SYMTYPE, 0o777, linkname=target))

    def close(self) -> None:
        self.tar.close()

    def abandon(self) -> None:
        """Give up without writing the end of the archive (not even from a finalizer)."""
        self.tar.closed = True
        self.tar.fileobj.closed = True  # type: ignore[union-attr]


def member_name(name: str) -> str:
    """A tar member name made canonical (no ``./``, ``//``); ArchiveError for ``..`` or absolute."""
    if name.startswith("/") or ".." in name.split("/"):
        raise ArchiveError(f"archive member {name!r} points outside the archive", hint="the archive is corrupt or hostile")
    return "/".join(part for part in name.split("/") if part not in ("", "."))


class TarSource(Source):
    """Members of an uncompressed tar in a seekable file, indexed once, read by offset."""

    def __init__(self, fileobj: BinaryIO, label: str) -> None:
        self.label = label
        total = os.fstat(fileobj.fileno()).st_size
        try:
            self.tar = tarfile.open(fileobj=fileobj, mode="r:", tarinfo=BoundedTarInfo)
            members = self.tar.getmembers()
        except tarfile.TarError as exc:
            raise ArchiveError(f"{UNKNOWN_PAYLOAD}: {label} is not a tar archive or is truncated ({exc})", hint=LOAD_HINT) from None
        except ArchiveError as exc:  # a special header too large to read
            raise ArchiveError(f"{label}: {exc.message}", hint=exc.hint) from None
        self.members: dict[str, tarfile.TarInfo] = {}
        for m in members:
            if m.offset_data + (m.size if m.isreg() else 0) > total:
                raise ArchiveError(f"{label} is truncated (member {m.name!r} is cut short)", hint="the archive is incomplete")
            self.members[member_name(m.name)] = m

    def _resolve(self, name: str) -> tarfile.TarInfo:
        path = member_name(name)
        for _ in range(MAX_LINKS):
            m = self.members.get(path)
            if m is None:
                raise missing(path, self.label)
            if m.isreg():
                return m
            if m.issym():
                target = posixpath.normpath(posixpath.join(posixpath.dirname(path), m.linkname))
                if m.linkname.startswith("/") or target.startswith("../") or target == "..":
                    raise ArchiveError(f"{path!r} links outside the archive ({m.linkname!r})", hint="the archive is corrupt or hostile")
                path = member_name(target)
            elif m.islnk():
                path = member_name(m.linkname)
            else:
                raise ArchiveError(f"{path!r} in {self.label} is not a file", hint="the archive is corrupt")
        raise ArchiveError(f"too many links resolving {name!r} in {self.label}", hint="the archive is corrupt")

    def has(self, name: str) -> bool:
        try:
            self._resolve(name)
        except ArchiveError:
            return False
        return True

    def size(self, name: str) -> int:
        return self._resolve(name).size

    def open(self, name: str) -> BinaryIO:
        return self.tar.extractfile(self._resolve(name))  # type: ignore[return-value]


# what reading a member (or decompressing it) raises when the archive is cut short or corrupt
_READ_ERRORS = (EOFError, tarfile.TarError, CorruptStream)


def _read_error(exc: BaseException) -> str:
    return exc.detail if isinstance(exc, CorruptStream) else (str(exc) or type(exc).__name__)


@contextmanager
def tar_source(store: Store, stream: BinaryIO, label: str) -> Iterator[Source]:
    """A plain tar in a regular file is read in place; anything else (compressed, a pipe) is
    first spooled, uncompressed, to ``<root>/blobs/.ingest/load-*`` (removed afterwards)."""
    import stat

    try:
        plain = decompressed(stream)
    except CorruptStream:
        raise ArchiveError(f"{label} is truncated or corrupt", hint=LOAD_HINT) from None
    try:
        regular = plain is stream and stream.seekable() and stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):  # io.BytesIO and friends have no fileno
        regular = False
    if regular:
        yield TarSource(stream, label)
        return
    spool = os.path.join(store.blobs.ingest, f"load-{os.getpid()}-{os.urandom(6).hex()}")
    try:
        with out_of_space(f"spooling {label} into {store.blobs.ingest}"):
            os.makedirs(store.blobs.ingest, exist_ok=True)
            fh = open(spool, "w+b")
            try:
                shutil.copyfileobj(plain, fh, CHUNK)
                fh.flush()
            except _READ_ERRORS as exc:
                fh.close()
                raise ArchiveError(f"{label} is truncated or its compression is corrupt ({_read_error(exc)})",
                                   hint="the archive is incomplete") from None
            except BaseException:
                fh.close()
                raise
        with fh:
            fh.seek(0)
            yield TarSource(fh, label)
    finally:
        remove_file(spool)


# -- layers and names, for every format ---------------------------------------------------

@dataclass
class LayerIn:
    """Where a layer's blob is in the source and what it must be."""

    open: Callable[[], BinaryIO]
    where: str
    media_type: str | None = None  # None: sniffed (docker archives)
    digest: str | None = None
    size: int | None = None


def ingest_layers(store: Store, layers: list[LayerIn], diff_ids: list[str], where: str) -> list[Layer]:
    """Store and extract each layer (bottom first) unless a layer with the same chain id exists;
    verify blob digests/sizes when known and every diff id."""
    from capsa.image.importing import layer_media_type
    from capsa.store.layers import chain_id

    if len(layers) != len(diff_ids):
        raise ArchiveError(f"{where}: the config lists {len(diff_ids)} diff ids for {len(layers)} layers",
                           hint="the image is corrupt")
    out: list[Layer] = []
    parent: Layer | None = None
    for item, diff_id in zip(layers, diff_ids):  # diff ids checked by config_diff_ids
        layer = store.layers.by_chain(chain_id(parent.chain_id if parent else None, diff_id))
        if layer is None:
            if item.digest is not None and not item.digest.startswith("sha256:"):
                raise ArchiveError(f"{item.where}: unsupported digest algorithm in {item.digest}", hint="capsa stores sha256 blobs")
            with item.open() as fh:
                stream = fh
                if item.media_type is None:  # a docker archive: xz and bzip2 layers are stored uncompressed
                    kind, stream = sniffed(fh)
                    stream = decompressed(stream) if kind in ("xz", "bzip2") else stream
                try:
                    with out_of_space(f"storing {item.where} in the store"):
                        digest, _ = store.blobs.put_stream(stream, expected=item.digest, expected_size=item.size)
                except _READ_ERRORS as exc:
                    raise ArchiveError(f"{item.where} is truncated or corrupt ({_read_error(exc)})",
                                       hint="the archive is incomplete") from None
            media_type = item.media_type
            if media_type is None:
                with store.blobs.open(digest) as blob:
                    media_type = layer_media_type(blob.read(SNIFF_BYTES))
            layer = store.layers.add_from_blob(digest, media_type, parent, expected_diff_id=diff_id)
        out.append(layer)
        parent = layer
    return out


_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})", re.ASCII)
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}", re.ASCII)
_HISTORY_STRINGS = ("created_by", "author", "comment")


def is_rfc3339(value: object) -> bool:
    """Whether ``value`` is an RFC 3339 timestamp string (``2024-05-01T12:00:00.5Z``, an offset
    instead of ``Z``) naming a real instant."""
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return False
    when, fraction, zone = match.groups()
    try:  # datetime takes at most 6 fraction digits
        datetime.datetime.fromisoformat(f"{when}.{(fraction or '')[:6].ljust(6, '0')}"
                                        f"{'+00:00' if zone == 'Z' else zone}").astimezone(datetime.timezone.utc)
    except (ValueError, OverflowError, OSError):
        return False
    return True


def config_diff_ids(config: bytes, where: str) -> list[str]:
    """``rootfs.diff_ids`` of an image config, after checking the fields capsa shows later:
    ``created`` an RFC 3339 string, ``config`` an object, ``history`` a list of objects (their
    ``created`` RFC 3339, ``created_by``/``author``/``comment`` strings), ``rootfs.diff_ids`` a
    list of sha256 digests. ArchiveError when it is not such an image config."""
    hint = "the image is corrupt"
    try:
        doc = json.loads(config)
        diff_ids = doc["rootfs"]["diff_ids"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise ArchiveError(f"{where} is not an image config (no rootfs.diff_ids)", hint=hint) from None
    if not isinstance(diff_ids, list):
        raise ArchiveError(f"{where}: rootfs.diff_ids is not a list", hint=hint)
    for diff_id in diff_ids:
        if not isinstance(diff_id, str) or not _DIGEST.fullmatch(diff_id):
            raise ArchiveError(f"{where}: invalid diff id {diff_id!r} in the config", hint=hint)
    if "created" in doc and not is_rfc3339(doc["created"]):
        raise ArchiveError(f"{where}: created {doc['created']!r} is not an RFC 3339 time", hint=hint)
    if "config" in doc and not isinstance(doc["config"], dict):
        raise ArchiveError(f"{where}: config is not an object", hint=hint)
    history = doc.get("history", [])
    if not isinstance(history, list):
        raise ArchiveError(f"{where}: history is not a list", hint=hint)
    for n, entry in enumerate(history, 1):
        if not isinstance(entry, dict):
            raise ArchiveError(f"{where}: history entry {n} is not an object", hint=hint)
        if "created" in entry and not is_rfc3339(entry["created"]):
            raise ArchiveError(f"{where}: history entry {n} has created {entry['created']!r}, not an RFC 3339 time",
                               hint=hint)
        for key in _HISTORY_STRINGS:
            if key in entry and not isinstance(entry[key], str):
                raise ArchiveError(f"{where}: history entry {n} has a {key} that is not a string", hint=hint)
    return diff_ids


def normalize_name(text: str, where: str, default_registry: str) -> str:
    """A fully qualified name for ``text`` (podman's normalisation); ArchiveError if invalid."""
    from capsa.image.reference import parse_reference

    try:
        return str(parse_reference(text, default_registry))
    except UsageError:
        raise ArchiveError(f"{where} names an image {text!r}, which is not a valid reference",
                           hint="fix the name in the archive, or load it with another tool") from None


# -- writing ---------------------------------------------------------------------------------

def _go_json(doc: dict[str, Any]) -> bytes:
    """JSON as Go's json.Marshal writes a map: sorted keys, compact, ``<>&`` escaped."""
    def value(v: Any) -> str:
        text = json.dumps(v, separators=(",", ":"), ensure_ascii=False)
        return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
                .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    return ("{" + ",".join(f"{value(k)}:{value(doc[k])}" for k in sorted(doc)) + "}").encode()


def legacy_layers(config: bytes, diff_ids: list[str]) -> list[tuple[str, bytes]]:
    """(v1 id, ``json``) of each layer, bottom first, computed as containers/image does."""
    doc = json.loads(config)
    out: list[tuple[str, bytes]] = []
    chain = last = ""
    for n, diff_id in enumerate(diff_ids):
        layer_config: dict[str, Any] = {"parent": last} if last else {}
        if n == len(diff_ids) - 1:
            layer_config.update({attr: doc.get(attr) for attr in LEGACY_ATTRS})
        chain = diff_id if not chain else "sha256:" + hashlib.sha256(f"{chain} {diff_id}".encode()).hexdigest()
        layer_id = hashlib.sha256(_go_json({**layer_config, "layer_id": chain})).hexdigest()
        out.append((layer_id, _go_json({**layer_config, "id": layer_id})))
        last = layer_id
    return out


def _send_layer(store: Store, sink: TarSink, layer: Layer, name: str) -> None:
    """The layer's uncompressed tar (decompressing a compressed blob), checked against its diff id."""
    if layer.blob is None or layer.diff_id is None:
        raise StorageError(f"layer {layer.id} has no stored blob", hint="run 'capsa system check --repair'")
    with store.blobs.open(layer.blob) as raw:
        compressed = sniff(raw.peek(SNIFF_BYTES)[:SNIFF_BYTES]) != "none"  # type: ignore[attr-defined]
        size = layer.size if compressed else store.blobs.size(layer.blob)
        reader = HashingReader(decompressed(raw))
        sink.add_stream(name, size, reader, mode=0o444)  # type: ignore[arg-type]
        check_end(reader, layer.diff_id, f"layer {layer.id}")


def write_docker_archive(store: Store, saved: list[SavedImage], sink: TarSink) -> None:
    """All images into one docker archive (shared layers written once)."""
    from capsa.image.reference import parse_reference

    sent: set[str] = set()
    items: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    for item in saved:
        paths = []
        for layer in item.layers:
            path = f"{(layer.diff_id or '').split(':', 1)[-1]}.tar"
            if path not in sent:
                _send_layer(store, sink, layer, path)
                sent.add(path)
            paths.append(path)
        config_path = f"{item.image.id}.json"
        sink.add_bytes(config_path, item.config, mode=0o444)
        top = ""
        legacy = legacy_layers(item.config, [layer.diff_id or "" for layer in item.layers])
        for (layer_id, layer_json), path in zip(legacy, paths):
            if layer_id not in sent:
                sink.add_symlink(f"{layer_id}/layer.tar", f"../{path}")
                sink.add_bytes(f"{layer_id}/VERSION", b"1.0", mode=0o444)
                sink.add_bytes(f"{layer_id}/json", layer_json, mode=0o444)
                sent.add(layer_id)
            top = layer_id
        tags = []
        for name in item.names:
            ref = parse_reference(name)
            if ref.tag:
                tags.append(f"{ref.name}:{ref.tag}")
                if top:
                    repositories.setdefault(ref.name, {})[ref.tag] = top
        items.append({"Config": config_path, "RepoTags": tags, "Layers": paths})
    sink.add_bytes("manifest.json", json.dumps(items, separators=(",", ":")).encode(), mode=0o444)
    sink.add_bytes("repositories", _go_json(repositories), mode=0o444)


# -- reading ---------------------------------------------------------------------------------

def repo_tags(item: dict[str, Any]) -> list[str]:
    """An item's ``RepoTags``, fully qualified as podman loads them."""
    tags = item.get("RepoTags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ArchiveError("manifest.json: RepoTags must be a list of strings", hint="the archive is corrupt")
    return [normalize_name(tag, "manifest.json", "docker.io") for tag in tags]


def load_docker_archive(store: Store, src: Source) -> list[Pending]:
    """Every image manifest.json lists; each gets a new OCI manifest when recorded."""
    items = src.read_json("manifest.json")
    if not isinstance(items, list) or not items:
        raise ArchiveError(f"manifest.json in {src.label} lists no images", hint="the archive is corrupt")
    pending = []
    for n, item in enumerate(items, 1):
        where = f"image {n} of manifest.json"
        if (not isinstance(item, dict) or not isinstance(item.get("Config"), str)
                or not isinstance(item.get("Layers"), list) or not all(isinstance(p, str) for p in item["Layers"])):
            raise ArchiveError(f"{where} has no Config file and Layers list", hint="the archive is corrupt")
        names = repo_tags(item)
        config = src.read(item["Config"])
        layers = [LayerIn(lambda p=path: src.open(p), path) for path in item["Layers"]]
        stored = ingest_layers(store, layers, config_diff_ids(config, item["Config"]), where)
        pending.append(Pending(config, stored, names))
    return pending
