"""``push`` against a real registry (docker-registry on 127.0.0.1): what arrives is checked with
raw requests (manifest, config and layers, digests and media types), the registry's access log
shows what capsa asked (HEADs that skip blobs, cross-repository mounts, chunked uploads)."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from capsa.testing.imagebuilder import DOCKER_CONFIG, DOCKER_MANIFEST, OCI_CONFIG, OCI_MANIFEST, busybox_image
from capsa.testing.registryserver import free_port
from containers import busybox_store
from pushing import GZIP_MAGIC, ZSTD_MAGIC, Pushed, load_image

OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
INSECURE = "--tls-verify=false"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    yield from busybox_store(tmp_path_factory, "push")


def push(store, *args: str):
    return store("push", INSECURE, *args)


def image_id(store, name: str) -> str:
    r = store("image", "inspect", "--format", "{{.Id}}", name)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().removeprefix("sha256:")


def one_line_error(r, *words: str) -> None:
    assert r.returncode == 125, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    first = r.stderr.splitlines()[0]
    assert first.startswith("Error: "), r.stderr
    for word in words:
        assert word in first, r.stderr


def test_push_imported_image_gzips_its_layer(store, registry, tmp_path: Path) -> None:
    """The imported busybox has an uncompressed OCI layer: the registry gets it gzipped, in an
    OCI manifest (the stored type), with the config's bytes; --digestfile has the digest."""
    digestfile = tmp_path / "digest"
    r = push(store, "--digestfile", str(digestfile), "busybox", f"{registry.host}/tests/busybox:1")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0] == "Getting image source signatures"
    assert lines[-2:] == ["Writing manifest to image destination", "Storing signatures"]
    copying = [line for line in lines if line.startswith("Copying ")]  # podman's: no "done" off a terminal
    assert len(copying) == 2 and re.fullmatch(r"Copying blob sha256:[0-9a-f]{64}", copying[0]), lines
    assert copying[1] == f"Copying config sha256:{image_id(store, 'busybox')}"
    got = Pushed(registry, "tests/busybox", "1")
    got.check()
    assert got.media_type == OCI_MANIFEST
    assert got.manifest["config"]["mediaType"] == OCI_CONFIG
    assert [d["mediaType"] for d in got.layers] == [OCI_GZIP]
    assert got.magic()[:2] == GZIP_MAGIC
    assert got.manifest["config"]["digest"] == "sha256:" + image_id(store, "busybox")
    assert digestfile.read_text() == got.digest
    # the temporary gzip file went away; the store kept nothing of the push but its blob cache
    root = Path(store.root)
    assert list((root / "blobs" / ".ingest").iterdir()) == []
    assert json.loads((root / "blob-locations.json").read_text())["locations"]


def test_push_again_skips_blobs_the_registry_has(store, registry) -> None:
    target = f"{registry.host}/tests/again:1"
    assert push(store, "busybox", target).returncode == 0
    first = Pushed(registry, "tests/again", "1")
    registry.clear_log()
    r = push(store, "busybox", target)
    assert r.returncode == 0, r.stderr
    assert registry.requests_seen("POST", "/blobs/uploads/") == []
    assert registry.requests_seen("PUT", "/blobs/uploads/") == []
    assert len(registry.requests_seen("HEAD", "/blobs/sha256:")) >= 2
    assert sum(line.startswith("Copying ") for line in r.stderr.splitlines()) == 2  # (no "skipped" off a terminal)
    assert Pushed(registry, "tests/again", "1").digest == first.digest


def test_second_repository_gets_blobs_by_mount(store, registry) -> None:
    assert push(store, "busybox", f"{registry.host}/tests/first:1").returncode == 0
    registry.clear_log()
    r = push(store, "busybox", f"{registry.host}/tests/second:1")
    assert r.returncode == 0, r.stderr
    mounts = registry.requests_seen("POST", "mount=")
    assert len(mounts) == 2 and all("from=tests%2Ffirst" in m or "from=tests/first" in m for m in mounts), mounts
    assert registry.requests_seen("PUT", "/blobs/uploads/") == []
    Pushed(registry, "tests/second", "1").check()


def test_other_names_of_the_image_are_mount_sources(store, registry) -> None:
    """No cache needed: the image's own name on that registry is where its blobs may be."""
    name = f"{registry.host}/tests/named:1"
    assert store("tag", "busybox", name).returncode == 0
    try:
        assert push(store, name).returncode == 0  # (destination: the image's own name)
        os.unlink(Path(store.root) / "blob-locations.json")
        registry.clear_log()
        assert push(store, name, f"{registry.host}/tests/other:1").returncode == 0
        assert len(registry.requests_seen("POST", "mount=")) == 2
        assert registry.requests_seen("PUT", "/blobs/uploads/") == []
    finally:
        store("untag", "busybox", name)


def test_format_v2s2(store, registry) -> None:
    r = push(store, "--format", "v2s2", "busybox", f"{registry.host}/tests/docker:1")
    assert r.returncode == 0, r.stderr
    got = Pushed(registry, "tests/docker", "1")
    got.check()
    assert got.media_type == DOCKER_MANIFEST
    assert got.manifest["config"]["mediaType"] == DOCKER_CONFIG
    assert [d["mediaType"] for d in got.layers] == [DOCKER_GZIP]
    assert got.manifest["config"]["digest"] == "sha256:" + image_id(store, "busybox")


def test_stored_manifest_is_pushed_byte_for_byte(store, registry, tmp_path: Path) -> None:
    """Compressed layers keep their bytes and the manifest its digest, in either format."""
    for flavor in ("oci", "docker"):
        image = busybox_image("gzip", flavor, extra_files={"flavor": flavor})
        digest = load_image(store, tmp_path, image, f"localhost/kept-{flavor}:1")
        r = push(store, f"kept-{flavor}:1", f"{registry.host}/tests/kept-{flavor}:1")
        assert r.returncode == 0, r.stderr
        got = Pushed(registry, f"tests/kept-{flavor}", "1")
        got.check()
        assert got.digest == digest
        assert [d["digest"] for d in got.layers] == [layer.digest for layer in image.layers]
        assert got.media_type == image.manifest_media_type


def test_zstd_layers(store, registry, tmp_path: Path) -> None:
    """zstd layers stay zstd in OCI; v2s2 gets them as gzip; --compression-format converts."""
    image = busybox_image("zstd", extra_files={"z": "1"})
    load_image(store, tmp_path, image, "localhost/zimage:1")
    assert push(store, "zimage:1", f"{registry.host}/tests/z:oci").returncode == 0
    got = Pushed(registry, "tests/z", "oci")
    got.check()
    assert [d["mediaType"] for d in got.layers] == [OCI_ZSTD, OCI_ZSTD]
    assert [d["digest"] for d in got.layers] == [layer.digest for layer in image.layers]

    assert push(store, "--format", "v2s2", "zimage:1", f"{registry.host}/tests/z:docker").returncode == 0
    got = Pushed(registry, "tests/z", "docker")
    got.check()
    assert [d["mediaType"] for d in got.layers] == [DOCKER_GZIP, DOCKER_GZIP]
    assert all(got.magic(n)[:2] == GZIP_MAGIC for n in range(2))

    assert push(store, "--compression-format", "gzip", "zimage:1", f"{registry.host}/tests/z:gzip").returncode == 0
    assert [d["mediaType"] for d in Pushed(registry, "tests/z", "gzip").layers] == [OCI_GZIP, OCI_GZIP]

    r = push(store, "--compression-format", "zstd", "busybox", f"{registry.host}/tests/z:fromplain")
    assert r.returncode == 0, r.stderr
    got = Pushed(registry, "tests/z", "fromplain")
    got.check()
    assert got.magic() == ZSTD_MAGIC and [d["mediaType"] for d in got.layers] == [OCI_ZSTD]


def test_recompression_is_remembered(store, registry) -> None:
    """A second push of a layer that needs gzip asks the registry for the gzip blob made last
    time (and mounts it) before compressing again."""
    assert push(store, "busybox", f"{registry.host}/tests/memo-a:1").returncode == 0
    registry.clear_log()
    assert push(store, "busybox", f"{registry.host}/tests/memo-b:1").returncode == 0
    assert registry.requests_seen("PUT", "/blobs/uploads/") == []
    ingest = Path(store.root) / "blobs" / ".ingest"
    assert list(ingest.iterdir()) == []


def test_chunked_upload(store, registry, tmp_path: Path) -> None:
    image = busybox_image("gzip", extra_files={"chunked": "yes"})
    load_image(store, tmp_path, image, "localhost/chunky:1")
    store.write_config('[registry.options.oci]\nchunk_size = 65536\n')
    try:
        registry.clear_log()
        r = push(store, "chunky:1", f"{registry.host}/tests/chunky:1")
        assert r.returncode == 0, r.stderr
    finally:
        store.write_config("")
    patches = registry.requests_seen("PATCH", "/blobs/uploads/")
    assert len(patches) >= image.layers[0].size // 65536, patches
    got = Pushed(registry, "tests/chunky", "1")
    got.check()
    assert [d["digest"] for d in got.layers] == [layer.digest for layer in image.layers]


def test_image_push_and_docker_transport(store, registry) -> None:
    r = store("image", "push", INSECURE, "-q", "busybox", f"docker://{registry.host}/tests/transport:1")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""
    Pushed(registry, "tests/transport", "1").check()


def test_oci_archive_destination(store, tmp_path: Path) -> None:
    archive = tmp_path / "bb.tar"
    r = store("push", "busybox", f"oci-archive:{archive}")
    assert r.returncode == 0, r.stderr
    listing = subprocess.run(["tar", "-tf", str(archive)], capture_output=True, text=True, check=True).stdout
    assert "index.json" in listing.split()


def test_archive_destination_digestfile_is_the_written_manifests(store, tmp_path: Path) -> None:
    """As podman: --digestfile (and --format, which the archive's format decides) work with an
    archive destination; the file holds the digest of the manifest in the archive's index."""
    archive, digestfile = tmp_path / "bb.tar", tmp_path / "digest"
    r = store("push", "--format", "v2s2", "--digestfile", str(digestfile), "busybox", f"oci-archive:{archive}")
    assert r.returncode == 0, r.stderr
    index = subprocess.run(["tar", "-xOf", str(archive), "index.json"], capture_output=True, check=True).stdout
    assert digestfile.read_text() == json.loads(index)["manifests"][0]["digest"]


def test_bad_input_is_one_line_and_changes_nothing(store, registry, tmp_path: Path) -> None:
    dest = f"{registry.host}/tests/bad:1"
    before = sorted(p.name for p in Path(store.root).iterdir())
    one_line_error(push(store, "no-such-image", dest), "no-such-image")
    one_line_error(push(store, "--format", "v2s1", "busybox", dest), "v2s1")
    one_line_error(push(store, "--format", "v2s2", "--compression-format", "zstd", "busybox", dest), "zstd")
    one_line_error(push(store, "--compression-format", "zstd:chunked", "busybox", dest), "zstd:chunked")
    one_line_error(push(store, "--sign-by", "me@example.com", "busybox", dest), "--sign-by")
    one_line_error(push(store, "--sign-by-sigstore-private-key", "/k", "busybox", dest), "sign")
    one_line_error(push(store, "--encryption-key", "jwe:/k.pem", "busybox", dest), "encrypt")
    one_line_error(push(store, "busybox", f"dir:{tmp_path / 'd'}"), "dir:")
    one_line_error(push(store, "busybox", f"{dest}@sha256:{'a' * 64}"), "digest")
    one_line_error(push(store, "--digestfile", str(tmp_path / "no" / "such" / "f"), "busybox", dest), "--digestfile")
    one_line_error(push(store, image_id(store, "busybox")), "no name")
    one_line_error(store("push", INSECURE, "--creds", "alice", "busybox", dest, input=""), "--creds alice")
    unreachable = f"127.0.0.1:{free_port()}/tests/bad:1"
    one_line_error(push(store, "busybox", unreachable), "127.0.0.1")
    assert registry.requests_seen("PUT", "/manifests/") == []
    assert not (tmp_path / "d").exists()
    assert sorted(p.name for p in Path(store.root).iterdir()) == before
    assert list((Path(store.root) / "blobs" / ".ingest").iterdir()) == []
