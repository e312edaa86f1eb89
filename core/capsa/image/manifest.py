"""Image manifests and indexes (OCI v1, Docker schema 2): detection, parsing, platform choice, writing.

Contracts:
- :func:`parse` returns a :class:`Manifest` or :class:`Index` whose descriptors all carry valid
  digests (``sha256:<64 hex>`` or ``sha512:<128 hex>``) and sizes; anything else (schema 1,
  malformed or ambiguous JSON, unknown or mismatched media types, encrypted layers) raises
  :class:`ArchiveError` with a one-line message.
- :func:`manifest_json` / :func:`index_json` give compact, stable bytes (fixed key order, no
  empty optional fields); ``parse(manifest_json(m)) == m``.
- Like containers/image, a *declared* media type (HTTP Content-Type, descriptor) picks the format
  when it names one capsa knows; unknown declared types (``text/plain``, ``application/json``) are
  ignored and the body is inspected instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import json
import re

from capsa.errors import ArchiveError, StorageError
from capsa.image import mediatypes as mt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SCHEMA1_REFUSAL = "Docker schema 1 manifests are not supported (deprecated); ask for a schema 2 or OCI image"
ZSTD_ANNOTATION = "io.github.containers.compression.zstd"

_DIGEST_LENGTHS = {"sha256": 64, "sha512": 128}
_DIGEST = re.compile(r"([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)")
_HEX = re.compile(r"[0-9a-f]+")
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")
# Fields that identify a manifest format; a body may only carry those of the format it is parsed as.
_FORMAT_FIELDS = ("config", "fsLayers", "history", "layers", "manifests")


def digest_problem(value: object) -> str:
    """Why ``value`` is not a digest capsa accepts, or ``""`` when it is one."""
    if not isinstance(value, str):
        return f"digest {value!r} is not a string"
    m = _DIGEST.fullmatch(value)
    if not m:
        return f"invalid digest {value!r} (expected ALGORITHM:HEX)"
    algorithm, encoded = m.groups()
    length = _DIGEST_LENGTHS.get(algorithm)
    if length is None:
        return f"unsupported digest algorithm {algorithm!r} in {value!r} (sha256 or sha512)"
    if len(encoded) != length or not _HEX.fullmatch(encoded):
        return f"invalid digest {value!r} ({algorithm} needs {length} lowercase hex digits)"
    return ""


def digest_of(body: bytes) -> str:
    """The sha256 digest of ``body``: ``sha256:<hex>``."""
    from capsa.store.blobs import sha256_of

    return sha256_of(body)


def _str_map(value: object, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ArchiveError(f"{where}: annotations must map strings to strings")
    return dict(value)


def _str_list(value: object, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ArchiveError(f"{where} must be a list of strings")
    return list(value)


def _opt_str(doc: dict[str, Any], key: str, where: str) -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ArchiveError(f"{where}: {key} must be a string")
    return value


@dataclass(frozen=True)
class Platform:
    """The OS and CPU an image runs on (``os.version``/``os.features`` become os_version/features)."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    features: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.os}/{self.architecture}" + (f"/{self.variant}" if self.variant else "")

    def to_json(self) -> dict[str, Any]:
        """OCI field names; empty optional fields omitted."""
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.features:
            out["os.features"] = list(self.features)
        if self.variant:
            out["variant"] = self.variant
        return out

    @classmethod
    def from_json(cls, d: object, where: str = "platform") -> Platform:
        """Parse an OCI/Docker platform object; ``os`` and ``architecture`` are required strings."""
        if not isinstance(d, dict):
            raise ArchiveError(f"{where} is not a JSON object")
        for key in ("os", "architecture"):
            if not isinstance(d.get(key), str):
                raise ArchiveError(f"{where} has no {key} string")
        return cls(os=d["os"], architecture=d["architecture"], variant=_opt_str(d, "variant", where),
                   os_version=_opt_str(d, "os.version", where),
                   features=tuple(_str_list(d.get("os.features"), f"{where}: os.features")))


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what a blob is, its digest and size, and optional extras."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    urls: list[str] = field(default_factory=list)
    artifact_type: str = ""
    data: str = ""  # base64 of embedded content, kept verbatim

    def to_json(self) -> dict[str, Any]:
        """OCI field names in image-spec order; empty optional fields omitted."""
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.data:
            out["data"] = self.data
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out

    @classmethod
    def from_json(cls, d: object, where: str = "descriptor") -> Descriptor:
        """Parse and validate one descriptor (media type syntax, digest, size >= 0); ArchiveError if bad."""
        if not isinstance(d, dict):
            raise ArchiveError(f"{where} is not a JSON object")
        media_type = d.get("mediaType")
        if not isinstance(media_type, str) or not _MEDIA_TYPE.fullmatch(media_type):
            raise ArchiveError(f"{where} has an invalid mediaType {media_type!r}")
        problem = digest_problem(d.get("digest"))
        if problem:
            raise ArchiveError(f"{where}: {problem}")
        size = d.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ArchiveError(f"{where} has an invalid size {size!r} (expected an integer >= 0)")
        platform = d.get("platform")
        return cls(media_type=media_type, digest=d["digest"], size=size,
                   platform=None if platform is None else Platform.from_json(platform, f"{where} platform"),
                   annotations=_str_map(d.get("annotations"), where), urls=_str_list(d.get("urls"), f"{where} urls"),
                   artifact_type=_opt_str(d, "artifactType", where), data=_opt_str(d, "data", where))


@dataclass(frozen=True)
class Manifest:
    """One image (or OCI artifact): a config blob and layers, root layer first."""

    media_type: str
    config: Descriptor
    layers: list[Descriptor]
    annotations: dict[str, str] = field(default_factory=dict)
    schema_version: int = 2
    artifact_type: str = ""
    subject: Descriptor | None = None

    @property
    def is_artifact(self) -> bool:
        """True for an OCI artifact (its config is not an image config): not runnable."""
        return self.config.media_type not in mt.IMAGE_CONFIGS and self.media_type != mt.DOCKER_MANIFEST

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": self.schema_version, "mediaType": self.media_type}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["config"] = self.config.to_json()
        out["layers"] = [layer.to_json() for layer in self.layers]
        if self.subject is not None:
            out["subject"] = self.subject.to_json()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True)
class Index:
    """A multi-platform list: an OCI image index or a Docker manifest list."""

    media_type: str
    manifests: list[Descriptor]
    annotations: dict[str, str] = field(default_factory=dict)
    schema_version: int = 2
    artifact_type: str = ""
    subject: Descriptor | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": self.schema_version, "mediaType": self.media_type}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["manifests"] = [d.to_json() for d in self.manifests]
        if self.subject is not None:
            out["subject"] = self.subject.to_json()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


def _dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def manifest_json(m: Manifest) -> bytes:
    """The manifest as capsa writes it: compact JSON, stable key order, empty optional fields omitted."""
    return _dump(m.to_json())


def index_json(i: Index) -> bytes:
    """The index as capsa writes it: compact JSON, stable key order, empty optional fields omitted."""
    return _dump(i.to_json())


def _load(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArchiveError(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ArchiveError("manifest is not a JSON object")
    return doc


def _normalized(declared: str | None) -> str | None:
    """The declared type if it names a manifest format capsa recognises, else None (ignored)."""
    if not declared:
        return None
    base = declared.split(";", 1)[0].strip().lower()
    known = mt.MANIFESTS | mt.INDEXES | mt.SCHEMA1
    return base if base in known else None


def _detect(doc: dict[str, Any], declared: str | None) -> str:
    body_type = doc.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise ArchiveError("manifest mediaType is not a string")
    wanted = _normalized(declared)
    if wanted:
        if body_type and body_type != wanted:
            raise ArchiveError(f"manifest was declared as {wanted} but its mediaType field says {body_type}")
        return wanted
    if body_type:
        return body_type
    version = doc.get("schemaVersion")
    if version == 1 and not isinstance(version, bool):
        return mt.DOCKER_V2S1_SIGNED if doc.get("signatures") is not None else mt.DOCKER_V2S1
    if version == 2 and not isinstance(version, bool):
        config = doc.get("config")
        config_type = config.get("mediaType") if isinstance(config, dict) else None
        if config_type == mt.OCI_CONFIG:
            return mt.OCI_MANIFEST
        if config_type == mt.DOCKER_CONFIG:
            return mt.DOCKER_MANIFEST
        if config is None and isinstance(doc.get("manifests"), list):
            return mt.OCI_INDEX
        return mt.OCI_MANIFEST  # most likely an OCI artifact with its own config type
    if version is None:
        raise ArchiveError("manifest has no schemaVersion and no mediaType")
    raise ArchiveError(f"unsupported manifest schemaVersion {version!r}")


def detect_media_type(body: bytes, declared: str | None = None) -> str:
    """The manifest's media type, like containers/image GuessMIMEType plus a declared type.

    A recognised ``declared`` type wins (ArchiveError if the body's ``mediaType`` says otherwise);
    then the body's ``mediaType``; then inference from ``schemaVersion``/``config``/``manifests``.
    Non-JSON or an unknown schemaVersion raise ArchiveError.
    """
    return _detect(_load(body), declared)


def _unambiguous(doc: dict[str, Any], kind: str, allowed: set[str]) -> None:
    foreign = [f for f in _FORMAT_FIELDS if doc.get(f) is not None and f not in allowed]
    if foreign:
        raise ArchiveError(f"ambiguous manifest: parsed as {kind} but it also has {', '.join(foreign)}")


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ArchiveError(f"manifest {key} is not a list")
    return value


def _subject(doc: dict[str, Any]) -> Descriptor | None:
    subject = doc.get("subject")
    return None if subject is None else Descriptor.from_json(subject, "subject")


def _parse_manifest(doc: dict[str, Any], kind: str) -> Manifest:
    _unambiguous(doc, kind, {"config", "layers"})
    if doc.get("config") is None:
        raise ArchiveError("manifest has no config descriptor")
    manifest = Manifest(
        media_type=kind, config=Descriptor.from_json(doc["config"], "config"),
        layers=[Descriptor.from_json(d, f"layer {n}") for n, d in enumerate(_list(doc, "layers"), 1)],
        annotations=_str_map(doc.get("annotations"), "manifest"), schema_version=2,
        artifact_type=_opt_str(doc, "artifactType", "manifest"), subject=_subject(doc))
    for n, layer in enumerate(manifest.layers, 1):
        if mt.is_encrypted(layer.media_type):
            raise ArchiveError(f"encrypted layers are not supported (layer {n} is {layer.media_type})",
                               "decrypt the image first, e.g. with skopeo copy --decryption-key")
        if not manifest.is_artifact and not mt.is_layer(layer.media_type):
            raise ArchiveError(f"layer {n} has an unknown media type {layer.media_type!r}")
    return manifest


def _parse_index(doc: dict[str, Any], kind: str) -> Index:
    _unambiguous(doc, kind, {"manifests"})
    return Index(
        media_type=kind,
        manifests=[Descriptor.from_json(d, f"manifest entry {n}") for n, d in enumerate(_list(doc, "manifests"), 1)],
        annotations=_str_map(doc.get("annotations"), "index"), schema_version=2,
        artifact_type=_opt_str(doc, "artifactType", "index"), subject=_subject(doc))


def parse(body: bytes, declared: str | None = None) -> Manifest | Index:
    """Parse a Docker schema 2 manifest or list, or an OCI manifest or index; ArchiveError otherwise."""
    doc = _load(body)
    kind = _detect(doc, declared)
    if mt.is_schema1(kind):
        raise ArchiveError(SCHEMA1_REFUSAL)
    if not (mt.is_manifest(kind) or mt.is_index(kind)):
        raise ArchiveError(f"unknown manifest media type {kind!r}")
    version = doc.get("schemaVersion")
    if version != 2 or isinstance(version, bool):
        raise ArchiveError(f"unsupported manifest schemaVersion {version!r} for {kind} (expected 2)")
    return _parse_manifest(doc, kind) if mt.is_manifest(kind) else _parse_index(doc, kind)


# Platform choice, after containers/image internal/pkg/platform: known variants of an architecture
# from most capable to most compatible, and the variant every machine of an architecture supports.
_VARIANT_ORDER = {"arm": ("v7", "v6", "v5"), "arm64": ("v8",)}
_BASE_VARIANT = {"arm64": "v8"}


def _host_platform() -> tuple[str, str]:
    """(architecture, variant) of this machine in OCI spelling."""
    import os

    machine = os.uname().machine
    if machine in ("aarch64", "arm64"):
        return "arm64", "v8"
    if machine.startswith("armv") and machine[4:5].isdigit():
        return "arm", "v" + machine[4]
    from capsa.hostinfo import go_arch

    return go_arch(), ""


def wanted_variants(architecture: str, variant: str) -> list[str]:
    """Acceptable variants, best first (``""`` = an image that names no variant)."""
    if variant:
        order = _VARIANT_ORDER.get(architecture, ())
        return [*(order[order.index(variant):] if variant in order else (variant,)), ""]
    return ["", *((_BASE_VARIANT[architecture],) if architecture in _BASE_VARIANT else ())]


def select_platform(index: Index, os: str = "linux", architecture: str | None = None, variant: str | None = None,
                    *, prefer_gzip: bool = False) -> Descriptor:
    """The index entry to use for a platform, like containers/image ChooseInstance.

    ``architecture=None`` means this host's (and then ``variant=None`` its variant, e.g. v8 on
    aarch64). Entries must match os and architecture exactly; a better variant (per
    :func:`wanted_variants`) wins, entries without a platform are a last resort, and among equals
    the first one wins (with ``prefer_gzip``, one without the zstd annotation first). No match:
    StorageError whose hint lists the platforms the index offers.
    """
    if architecture is None:
        architecture, host_variant = _host_platform()
        variant = host_variant if variant is None else variant
    variant = variant or ""
    variants = wanted_variants(architecture, variant)
    best: tuple[tuple[int, int, int], Descriptor] | None = None
    for position, entry in enumerate(index.manifests):
        p = entry.platform
        if p is None:
            rank = len(variants)
        elif p.os == os and p.architecture == architecture and p.variant in variants:
            rank = variants.index(p.variant)
        else:
            continue
        zstd = int(prefer_gzip and entry.annotations.get(ZSTD_ANNOTATION) == "true")
        key = (rank, zstd, position)
        if best is None or key < best[0]:
            best = (key, entry)
    if best is not None:
        return best[1]
    wanted = f"{os}/{architecture}" + (f"/{variant}" if variant else "")
    offered = list(dict.fromkeys(str(d.platform) for d in index.manifests if d.platform is not None))
    what = "manifest list" if index.media_type == mt.DOCKER_MANIFEST_LIST else "image index"
    hint = (f"available platforms: {', '.join(offered)}; choose one with --platform OS/ARCH[/VARIANT]"
            if offered else "the image lists no platforms")
    raise StorageError(f"no image for platform {wanted} in the {what}", hint)
