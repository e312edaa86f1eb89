"""Manifests and indexes against containers/image's real fixtures (../shared/conformance/manifests)
and the OCI JSON Schemas: detection, parsing or refusal of every file, platform choice, and the
validity of everything capsa writes."""
from __future__ import annotations

from dataclasses import replace
import hashlib
import json

import pytest

from capsa.errors import ArchiveError, StorageError
from capsa.image import mediatypes as mt
from capsa.image.manifest import (SCHEMA1_REFUSAL, Descriptor, Index, Manifest, Platform, detect_media_type,
                                  digest_of, index_json, manifest_json, parse, select_platform)
from conftest import CONFORMANCE, conformance_dir
from oci_schema import assert_oci_valid

# file -> (what detect_media_type says, or None when it refuses; parse's media type, or "!" + refusal substring)
EXPECTED: dict[str, tuple[str | None, str]] = {
    "non-json.manifest.json": (None, "!not valid JSON"),
    "oci1.index.everything.json": (mt.OCI_INDEX, mt.OCI_INDEX),
    "oci1.index.zstd-selection.json": (mt.OCI_INDEX, mt.OCI_INDEX),
    "oci1.index.zstd-selection2.json": (mt.OCI_INDEX, mt.OCI_INDEX),
    "oci1index.json": (mt.OCI_INDEX, mt.OCI_INDEX),
    "ocilist-variants.json": (mt.OCI_INDEX, mt.OCI_INDEX),
    "ociv1.artifact.json": (mt.OCI_MANIFEST, "!config: invalid digest ''"),
    "ociv1.encrypted.manifest.json": (mt.OCI_MANIFEST, "!encrypted layers are not supported"),
    "ociv1.everything.json": (mt.OCI_MANIFEST, mt.OCI_MANIFEST),
    "ociv1.image.index.json": (mt.OCI_INDEX, mt.OCI_INDEX),
    "ociv1.invalid.mediatype.manifest.json": (mt.OCI_MANIFEST, "!layer 1 has an unknown media type"),
    "ociv1.manifest.json": (mt.OCI_MANIFEST, mt.OCI_MANIFEST),
    "ociv1.nondistributable.gzip.manifest.json": (mt.OCI_MANIFEST, mt.OCI_MANIFEST),
    "ociv1.nondistributable.manifest.json": (mt.OCI_MANIFEST, mt.OCI_MANIFEST),
    "ociv1.nondistributable.zstd.manifest.json": (mt.OCI_MANIFEST, mt.OCI_MANIFEST),
    "ociv1.uncompressed.manifest.json": (mt.OCI_MANIFEST, mt.OCI_MANIFEST),
    "ociv1.zstd.manifest.json": (mt.OCI_MANIFEST, mt.OCI_MANIFEST),
    "ociv1nomime.artifact.json": (mt.OCI_MANIFEST, "!config: invalid digest ''"),
    "ociv1nomime.image.index.json": (mt.OCI_INDEX, mt.OCI_INDEX),
    "ociv1nomime.manifest.json": (mt.OCI_MANIFEST, mt.OCI_MANIFEST),
    "schema2list-variants.json": (mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST_LIST),
    "schema2list.json": (mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST_LIST),
    "unknown-version.manifest.json": (None, "!unsupported manifest schemaVersion 99999"),
    "v2list.everything.json": (mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST_LIST),
    "v2list.manifest.json": (mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST_LIST),
    "v2s1-invalid-signatures.manifest.json": (mt.DOCKER_V2S1_SIGNED, "!" + SCHEMA1_REFUSAL),
    "v2s1-unsigned.manifest.json": (mt.DOCKER_V2S1, "!" + SCHEMA1_REFUSAL),
    "v2s1.everything.json": (mt.DOCKER_V2S1, "!" + SCHEMA1_REFUSAL),
    "v2s1.manifest.json": (mt.DOCKER_V2S1_SIGNED, "!" + SCHEMA1_REFUSAL),
    "v2s2.everything.json": (mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST),
    "v2s2.manifest.json": (mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST),
    "v2s2.nondistributable.gzip.manifest.json": (mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST),
    "v2s2.nondistributable.manifest.json": (mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST),
    "v2s2.uncompressed.manifest.json": (mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST),
    "v2s2nomime.manifest.json": (mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST),
}

_CORPUS = CONFORMANCE / "manifests"
# Every file on disk and every expectation: a new file without one fails, so does a vanished one.
ALL_FILES = sorted(set(EXPECTED) | ({p.name for p in _CORPUS.iterdir() if p.is_file()} if _CORPUS.is_dir() else set()))
ACCEPTED = sorted(name for name, (_, outcome) in EXPECTED.items() if not outcome.startswith("!"))
H = {c: f"sha256:{c * 64}" for c in "abcdef0123"}  # short fake digests


def fixture(name: str) -> bytes:
    return (conformance_dir("manifests") / name).read_bytes()


def index_fixture(name: str) -> Index:
    index = parse(fixture(name))
    assert isinstance(index, Index)
    return index


def check_descriptor(d: Descriptor, raw: dict) -> None:
    assert (d.media_type, d.digest, d.size) == (raw["mediaType"], raw["digest"], raw["size"])
    assert d.urls == raw.get("urls", [])
    assert d.annotations == raw.get("annotations", {})
    if "platform" in raw:
        assert d.platform is not None
        assert (d.platform.os, d.platform.architecture, d.platform.variant) == (
            raw["platform"]["os"], raw["platform"]["architecture"], raw["platform"].get("variant", ""))
        assert list(d.platform.features) == raw["platform"].get("os.features", [])
    else:
        assert d.platform is None


# --- every corpus file: detection, then parsing or a clear refusal ---------------------------------

@pytest.mark.parametrize("name", ALL_FILES)
def test_corpus_file(name: str) -> None:
    folder = conformance_dir("manifests")
    assert name in EXPECTED, f"{name} is new in the corpus: add its expected media type or refusal to EXPECTED"
    assert (folder / name).is_file(), f"{name} has an expectation but is not in {folder}"
    body = (folder / name).read_bytes()
    detected, outcome = EXPECTED[name]
    if detected is None:
        with pytest.raises(ArchiveError):
            detect_media_type(body)
    else:
        assert detect_media_type(body) == detected
    if outcome.startswith("!"):
        with pytest.raises(ArchiveError) as info:
            parse(body)
        assert outcome[1:] in str(info.value)
        assert "\n" not in str(info.value)
        return
    result = parse(body)
    raw = json.loads(body)
    assert result.media_type == outcome
    assert result.annotations == raw.get("annotations", {})
    if isinstance(result, Manifest):
        assert mt.is_manifest(outcome)
        check_descriptor(result.config, raw["config"])
        assert len(result.layers) == len(raw["layers"])
        for layer, raw_layer in zip(result.layers, raw["layers"]):
            check_descriptor(layer, raw_layer)
    else:
        assert isinstance(result, Index) and mt.is_index(outcome)
        assert len(result.manifests) == len(raw["manifests"])
        for entry, raw_entry in zip(result.manifests, raw["manifests"]):
            check_descriptor(entry, raw_entry)


@pytest.mark.parametrize("name", ACCEPTED)
def test_round_trip_and_oci_schema(name: str) -> None:
    """What capsa would write back is stable, parses to the same object, and OCI output is schema-valid."""
    parsed = parse(fixture(name))
    written = manifest_json(parsed) if isinstance(parsed, Manifest) else index_json(parsed)
    assert parse(written) == parsed
    assert (manifest_json(parse(written)) if isinstance(parsed, Manifest) else index_json(parse(written))) == written
    assert b"\n" not in written and b": " not in written
    doc = json.loads(written)
    assert doc["mediaType"] == parsed.media_type  # written even when the source omitted it
    if parsed.media_type == mt.OCI_MANIFEST:
        assert_oci_valid("image-manifest-schema.json", doc)
    elif parsed.media_type == mt.OCI_INDEX:
        assert_oci_valid("image-index-schema.json", doc)
    if parsed.media_type in (mt.OCI_MANIFEST, mt.OCI_INDEX):
        descriptors = [doc["config"], *doc["layers"]] if "config" in doc else doc["manifests"]
        for d in descriptors:
            assert_oci_valid("content-descriptor.json", d)


def test_everything_fixtures_keep_all_fields() -> None:
    m = parse(fixture("ociv1.everything.json"))
    assert isinstance(m, Manifest) and m.is_artifact
    assert m.artifact_type == "application/our-artifact"
    assert m.config.data == "YQ==" and m.config.urls == ["https://some.example/config"]
    assert m.subject is not None and m.subject.platform == Platform("b", "a", "e", "c", ("d",))
    assert m.subject.artifact_type == "application/our-subject"
    i = index_fixture("oci1.index.everything.json")
    assert i.artifact_type == "application/our-top-artifact" and i.subject is not None
    assert i.manifests[0].artifact_type == "application/our-sub-artifact"
    docker = index_fixture("v2list.everything.json")  # Docker's extra "features" is not os.features
    assert docker.manifests[0].platform == Platform("b", "a", "e", "c", ("d",))


def test_nomime_fixtures_parse_like_their_twins() -> None:
    assert parse(fixture("ociv1nomime.manifest.json")) == parse(fixture("ociv1.manifest.json"))
    assert parse(fixture("ociv1nomime.image.index.json")) == parse(fixture("ociv1.image.index.json"))
    v2 = parse(fixture("v2s2nomime.manifest.json"))
    assert isinstance(v2, Manifest) and v2.layers == [] and not v2.is_artifact


# --- declared media types (HTTP Content-Type, descriptors) -----------------------------------------

def test_declared_type_matching_the_body_is_accepted() -> None:
    assert parse(fixture("ociv1.manifest.json"), mt.OCI_MANIFEST).media_type == mt.OCI_MANIFEST
    assert parse(fixture("ociv1nomime.manifest.json"), mt.OCI_MANIFEST).media_type == mt.OCI_MANIFEST
    assert parse(fixture("v2s2.manifest.json"), mt.DOCKER_MANIFEST + "; charset=utf-8").media_type == mt.DOCKER_MANIFEST
    assert parse(fixture("ociv1nomime.image.index.json"), mt.OCI_INDEX).media_type == mt.OCI_INDEX


@pytest.mark.parametrize("declared", ["application/json", "text/plain", "application/octet-stream"])
def test_unknown_declared_type_is_ignored(declared: str) -> None:
    assert detect_media_type(fixture("v2s2.manifest.json"), declared) == mt.DOCKER_MANIFEST
    assert parse(fixture("ociv1.manifest.json"), declared).media_type == mt.OCI_MANIFEST


def test_declared_type_contradicting_the_body_is_refused() -> None:
    for call in (detect_media_type, parse):
        with pytest.raises(ArchiveError, match="declared as .* but its mediaType field says"):
            call(fixture("v2s2.manifest.json"), mt.OCI_MANIFEST)
    with pytest.raises(ArchiveError, match="declared as"):
        parse(fixture("schema2list.json"), mt.OCI_INDEX)


def test_declared_type_of_another_kind_is_refused_as_ambiguous() -> None:
    """A body without mediaType parsed as the declared kind must not carry another kind's fields."""
    with pytest.raises(ArchiveError, match="ambiguous manifest: .* manifests"):
        parse(fixture("ociv1nomime.image.index.json"), mt.OCI_MANIFEST)
    with pytest.raises(ArchiveError, match="ambiguous manifest: .* config, layers"):
        parse(fixture("ociv1nomime.manifest.json"), mt.OCI_INDEX)
    with pytest.raises(ArchiveError, match="schema 1"):
        parse(fixture("ociv1nomime.manifest.json"), mt.DOCKER_V2S1)


@pytest.mark.parametrize("body, message", [
    (b"[]", "not a JSON object"),
    (b"{", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"{}", "no schemaVersion"),
    (b'{"schemaVersion": "2", "manifests": []}', "schemaVersion '2'"),
    (b'{"schemaVersion": true, "manifests": []}', "schemaVersion True"),
    (b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.config.v1+json"}', "unknown manifest media type"),
    (b'{"schemaVersion": 2, "mediaType": 5}', "mediaType is not a string"),
    (b'{"schemaVersion": 3, "mediaType": "application/vnd.oci.image.manifest.v1+json"}', "schemaVersion 3"),
    (b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": []}', "no config"),
    (b'{"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 1,'
     b' "digest": "sha256:' + b"a" * 64 + b'"}, "layers": {}}', "layers is not a list"),
    (b'{"schemaVersion": 2, "manifests": [{"mediaType": "x", "size": 1, "digest": "sha256:' + b"a" * 64 + b'"}]}',
     "invalid mediaType 'x'"),
    (b'{"schemaVersion": 2, "manifests": [], "annotations": {"a": 1}}', "annotations must map strings"),
])
def test_malformed_bodies_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(ArchiveError) as info:
        parse(body)
    assert message in str(info.value)


@pytest.mark.parametrize("raw, message", [
    ({"mediaType": "a/b", "digest": "sha256:" + "A" * 64, "size": 1}, "lowercase hex"),
    ({"mediaType": "a/b", "digest": "sha256:" + "a" * 63, "size": 1}, "needs 64"),
    ({"mediaType": "a/b", "digest": "sha512:" + "a" * 64, "size": 1}, "needs 128"),
    ({"mediaType": "a/b", "digest": "md5:" + "a" * 32, "size": 1}, "unsupported digest algorithm 'md5'"),
    ({"mediaType": "a/b", "digest": "a" * 64, "size": 1}, "expected ALGORITHM:HEX"),
    ({"mediaType": "a/b", "size": 1}, "is not a string"),
    ({"mediaType": "a/b", "digest": H["a"], "size": -1}, "invalid size -1"),
    ({"mediaType": "a/b", "digest": H["a"], "size": True}, "invalid size True"),
    ({"mediaType": "a/b", "digest": H["a"], "size": 1.5}, "invalid size 1.5"),
    ({"mediaType": "a/b", "digest": H["a"]}, "invalid size None"),
    ({"digest": H["a"], "size": 1}, "invalid mediaType None"),
    ({"mediaType": "a/b", "digest": H["a"], "size": 1, "urls": "http://x"}, "list of strings"),
    ({"mediaType": "a/b", "digest": H["a"], "size": 1, "platform": {"os": "linux"}}, "no architecture"),
])
def test_descriptor_validation(raw: dict, message: str) -> None:
    with pytest.raises(ArchiveError) as info:
        Descriptor.from_json(raw)
    assert message in str(info.value)


def test_descriptor_accepts_sha512_and_zero_size() -> None:
    d = Descriptor.from_json({"mediaType": mt.OCI_EMPTY, "digest": "sha512:" + "0" * 128, "size": 0})
    assert d.size == 0 and Descriptor.from_json(d.to_json()) == d


# --- media types -----------------------------------------------------------------------------------

@pytest.mark.parametrize("media_type, compression", [
    (mt.OCI_LAYER, "none"), (mt.OCI_LAYER_GZIP, "gzip"), (mt.OCI_LAYER_ZSTD, "zstd"),
    (mt.OCI_LAYER_NONDIST, "none"), (mt.OCI_LAYER_NONDIST_GZIP, "gzip"), (mt.OCI_LAYER_NONDIST_ZSTD, "zstd"),
    (mt.DOCKER_LAYER, "none"), (mt.DOCKER_LAYER_GZIP, "gzip"), (mt.DOCKER_LAYER_ZSTD, "zstd"),
    (mt.DOCKER_FOREIGN_LAYER, "none"), (mt.DOCKER_FOREIGN_LAYER_GZIP, "gzip"),
])
def test_layer_compression(media_type: str, compression: str) -> None:
    assert mt.layer_compression(media_type) == compression and mt.is_layer(media_type)


def test_layer_compression_refusals() -> None:
    with pytest.raises(ArchiveError, match="encrypted layers are not supported"):
        mt.layer_compression(mt.OCI_LAYER_GZIP + "+encrypted")
    for bad in ("application/vnd.oci.image.layer.v1.tar+unknown", mt.OCI_CONFIG, ""):
        with pytest.raises(ArchiveError, match="unknown layer media type"):
            mt.layer_compression(bad)


def test_kind_predicates() -> None:
    assert mt.is_index(mt.OCI_INDEX) and mt.is_index(mt.DOCKER_MANIFEST_LIST) and not mt.is_index(mt.OCI_MANIFEST)
    assert mt.is_manifest(mt.OCI_MANIFEST) and mt.is_manifest(mt.DOCKER_MANIFEST)
    assert not mt.is_manifest(mt.DOCKER_V2S1) and not mt.is_manifest(mt.OCI_INDEX) and mt.is_schema1(mt.DOCKER_V2S1)
    assert mt.is_nondistributable(mt.DOCKER_FOREIGN_LAYER_GZIP) and not mt.is_nondistributable(mt.OCI_LAYER)


# --- platform selection ----------------------------------------------------------------------------

@pytest.mark.parametrize("name, arch, variant, digest_start", [
    ("schema2list.json", "amd64", "", "030fcb92"),
    ("schema2list.json", "arm64", "", "dc472a59"),      # arm64 implies v8
    ("schema2list.json", "arm64", "v8", "dc472a59"),
    ("schema2list.json", "arm", "v6", "b5dbad4b"),
    ("schema2list.json", "arm", "v7", "b5dbad4b"),      # v7 machines run v6 images
    ("schema2list.json", "arm", "v5", "9142d97e"),
    ("schema2list.json", "386", "", "9a33b990"),
    ("schema2list-variants.json", "arm", "v7", "f365626a"),
    ("schema2list-variants.json", "arm", "", "c84b0a3a"),
    ("schema2list-variants.json", "arm", "v5", "c84b0a3a"),  # falls back to the variant-less image
    ("schema2list-variants.json", "arm", "unrecognized-present", "bcf9771c"),
    ("ocilist-variants.json", "arm", "v7", "eeeeeeee"),
    ("ocilist-variants.json", "arm", "v6", "dddddddd"),  # several match: the first
    ("oci1index.json", "amd64", "", "5b0bcabd"),
    ("oci1index.json", "arm64", "", "615e8db5"),
    ("oci1index.json", "arm64", "v8", "615e8db5"),        # an image without variant still fits
    ("oci1.index.zstd-selection.json", "amd64", "", "aaaaaaaa"),
    ("oci1.index.zstd-selection2.json", "arm64", "", "1c98002b"),
    ("oci1.index.zstd-selection2.json", "riscv64", "", "c76757bb"),  # platform-less entries: last resort
])
def test_select_platform(name: str, arch: str, variant: str, digest_start: str) -> None:
    chosen = select_platform(index_fixture(name), "linux", arch, variant)
    assert chosen.digest.startswith("sha256:" + digest_start)


def test_select_platform_prefer_gzip_skips_zstd_instances() -> None:
    index = index_fixture("oci1.index.zstd-selection2.json")
    assert select_platform(index, "linux", "arm64", prefer_gzip=True).digest.startswith("sha256:6dc14a60")
    assert select_platform(index, "linux", "amd64", prefer_gzip=True).digest == H["a"]


@pytest.mark.parametrize("name, os, arch, variant", [
    ("schema2list.json", "windows", "amd64", ""),
    ("schema2list.json", "linux", "riscv64", ""),
    ("schema2list.json", "linux", "arm", "v4"),
    ("oci1index.json", "linux", "s390x", ""),
    ("v2list.manifest.json", "linux", "arm64", ""),  # its variant is spelled "armv8": not v8
])
def test_select_platform_missing(name: str, os: str, arch: str, variant: str) -> None:
    index = index_fixture(name)
    with pytest.raises(StorageError) as info:
        select_platform(index, os, arch, variant)
    assert f"{os}/{arch}" in info.value.message
    assert "available platforms: linux/" in info.value.hint
    assert all(str(d.platform) in info.value.hint for d in index.manifests if d.platform)


def test_select_platform_empty_index() -> None:
    with pytest.raises(StorageError) as info:
        select_platform(Index(mt.OCI_INDEX, []), "linux", "amd64")
    assert "lists no platforms" in info.value.hint


@pytest.mark.parametrize("machine, digest_start", [("aarch64", "dc472a59"), ("armv6l", "b5dbad4b"),
                                                   ("x86_64", "030fcb92"), ("s390x", "e5aa1b0a")])
def test_select_platform_defaults_to_the_host(monkeypatch: pytest.MonkeyPatch, machine: str, digest_start: str) -> None:
    import os
    real = os.uname()
    fake = os.uname_result((real.sysname, real.nodename, real.release, real.version, machine))
    monkeypatch.setattr(os, "uname", lambda: fake)
    assert select_platform(index_fixture("schema2list.json")).digest.startswith("sha256:" + digest_start)


# --- what capsa writes -----------------------------------------------------------------------------

def built_manifest() -> Manifest:
    config = Descriptor(mt.OCI_CONFIG, H["c"], 1234)
    layers = [Descriptor(mt.OCI_LAYER_GZIP, H["a"], 100), Descriptor(mt.OCI_LAYER, H["b"], 2048,
                                                                     annotations={"org.example": "x"})]
    return Manifest(mt.OCI_MANIFEST, config, layers, {"org.opencontainers.image.ref.name": "latest"})


def built_index() -> Index:
    amd = Descriptor(mt.OCI_MANIFEST, H["d"], 500, platform=Platform("linux", "amd64"))
    arm = Descriptor(mt.OCI_MANIFEST, H["e"], 501, platform=Platform("linux", "arm64", "v8"))
    win = Descriptor(mt.OCI_MANIFEST, H["f"], 502, platform=Platform("windows", "amd64", os_version="10.0.17763",
                                                                   features=("win32k",)))
    return Index(mt.OCI_INDEX, [amd, arm, win])


def test_written_manifest_is_compact_stable_and_valid() -> None:
    m = built_manifest()
    body = manifest_json(m)
    assert body == manifest_json(built_manifest())
    assert body.startswith(b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":')
    doc = json.loads(body)
    assert "urls" not in doc["config"] and "annotations" not in doc["config"] and "platform" not in doc["config"]
    assert doc["layers"][1]["annotations"] == {"org.example": "x"}
    assert_oci_valid("image-manifest-schema.json", doc)
    assert parse(body) == m
    assert digest_of(body) == "sha256:" + hashlib.sha256(body).hexdigest()
    assert "annotations" not in json.loads(manifest_json(replace(m, annotations={})))


def test_written_index_is_compact_stable_and_valid() -> None:
    i = built_index()
    body = index_json(i)
    doc = json.loads(body)
    assert "annotations" not in doc and list(doc) == ["schemaVersion", "mediaType", "manifests"]
    assert doc["manifests"][1]["platform"] == {"architecture": "arm64", "os": "linux", "variant": "v8"}
    assert doc["manifests"][2]["platform"]["os.features"] == ["win32k"]
    assert_oci_valid("image-index-schema.json", doc)
    for entry in doc["manifests"]:
        assert_oci_valid("content-descriptor.json", entry)
    assert parse(body) == i
    assert select_platform(parse(body), "linux", "arm64").digest == H["e"]


def test_schema_validation_catches_bad_output() -> None:
    """The validator is not vacuous: what the OCI schemas forbid is reported."""
    doc = json.loads(manifest_json(built_manifest()))
    doc["layers"] = []
    doc["config"]["digest"] = "sha256:NOT HEX"
    with pytest.raises(AssertionError, match="config/digest.*layers"):
        assert_oci_valid("image-manifest-schema.json", doc)
    with pytest.raises(AssertionError, match="architecture"):
        assert_oci_valid("image-index-schema.json", {"schemaVersion": 2, "manifests": [
            {"mediaType": mt.OCI_MANIFEST, "digest": H["a"], "size": 1, "platform": {"os": "linux"}}]})


def test_digest_of() -> None:
    assert digest_of(b"") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_corpus_is_where_conftest_says() -> None:
    assert conformance_dir("manifests") == _CORPUS
