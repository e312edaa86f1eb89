"""capsa save / load round trips: OCI layouts, OCI archives and docker archives, on both storage
drivers (loading archives other tools wrote, and refusals: test_archives_load.py).

Images are built for real (``import_tarball``) in a temporary store, saved, and loaded into a
fresh store; the loaded images must have the same ids, names, diff ids and files.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archive_helpers import (FORMATS, REF_NAME, diff_ids, files_of, new_store, saved, src, tar_members,  # noqa: F401
                             tar_read)
from capsa.image.archives import load_images, save_images
from capsa.image.docker_archive import legacy_layers
from capsa.store.store import Store
from oci_schema import assert_oci_valid


# -- round trips -----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_save_then_load_keeps_ids_names_layers_and_files(src: Any, new_store: Callable[[str], Store], fmt: str,
                                                          tmp_path: Path) -> None:
    store, alpha, beta = src
    archive = saved(store, ["localhost/alpha:1", "beta"], fmt, tmp_path)
    dst = new_store("dst")
    loaded = load_images(dst, archive)
    assert [i.id for i in loaded] == [alpha.id, beta.id]
    with dst.reading():
        for original in (alpha, beta):
            image = dst.find_image(original.id)
            assert image.names == original.names
            assert diff_ids(dst, image) == diff_ids(store, original)
            assert files_of(dst, image) == files_of(store, original)
            if fmt != "docker-archive":  # the manifest bytes travel: the digest is kept
                assert image.digest == original.digest
    hello = files_of(dst, dst.find_image(alpha.id))
    assert hello["link"] == ("symlink", "etc/hello")
    assert hello["etc/hello"][-1] == ("etc/hello", "etc/hello-hard")
    assert hello["bin/tool"][1] == 0o755 and hello["usr/share/doc"][0] == "dir"


@pytest.mark.parametrize("fmt", ["oci-archive", "docker-archive"])
def test_archives_go_to_and_come_from_streams(src: Any, new_store: Callable[[str], Store], fmt: str) -> None:
    store, alpha, beta = src
    out = io.BytesIO()
    save_images(store, ["alpha:1", "beta"], fmt, out)  # type: ignore[arg-type]
    for variant in (out.getvalue(), gzip.compress(out.getvalue())):
        dst = new_store(f"dst-{len(variant)}")
        loaded = load_images(dst, io.BytesIO(variant))
        assert {i.id: i.names for i in loaded} == {alpha.id: alpha.names, beta.id: beta.names}


def test_zstd_compressed_archive_loads(src: Any, new_store: Callable[[str], Store], tmp_path: Path) -> None:
    zstandard = pytest.importorskip("zstandard")
    store, alpha, _ = src
    path = tmp_path / "a.tar.zst"
    out = io.BytesIO()
    save_images(store, [alpha.id], "oci-archive", out)
    path.write_bytes(zstandard.ZstdCompressor().compress(out.getvalue()))
    assert [i.id for i in load_images(new_store("dst"), path)] == [alpha.id]


@pytest.mark.parametrize("fmt", FORMATS)
def test_saving_by_id_saves_no_name(src: Any, new_store: Callable[[str], Store], fmt: str, tmp_path: Path) -> None:
    store, alpha, _ = src
    archive = saved(store, [alpha.id[:12]], fmt, tmp_path)
    if fmt == "docker-archive":
        manifest = json.loads(tar_read(archive.read_bytes(), "manifest.json"))
        assert manifest[0]["RepoTags"] == [] and json.loads(tar_read(archive.read_bytes(), "repositories")) == {}
    (image,) = load_images(new_store("dst"), archive)
    assert image.id == alpha.id and image.names == []


def test_one_image_under_two_names(src: Any, new_store: Callable[[str], Store], tmp_path: Path) -> None:
    store, alpha, _ = src
    with store.writing():
        store.add_image(store.blobs.read("sha256:" + alpha.id), store.image_layers(alpha), ["localhost/other:2"])
    for fmt in FORMATS:
        archive = saved(store, ["alpha:1", "other:2", "alpha:1"], fmt, tmp_path / fmt)
        (image,) = load_images(new_store(f"dst-{fmt}"), archive)
        assert image.names == ["localhost/alpha:1", "localhost/other:2"]


# -- what the outputs look like -------------------------------------------------------------

def test_oci_layout_is_valid_and_named_as_podman_names(src: Any, tmp_path: Path) -> None:
    store, alpha, beta = src
    layout = saved(store, ["alpha:1", "beta"], "oci-dir", tmp_path)
    assert_oci_valid("image-layout-schema.json", json.loads((layout / "oci-layout").read_bytes()))
    index = json.loads((layout / "index.json").read_bytes())
    assert_oci_valid("image-index-schema.json", index)
    assert [e["annotations"] for e in index["manifests"]] == [{REF_NAME: "localhost/alpha:1"}, {REF_NAME: "localhost/beta:latest"}]
    for entry, image in zip(index["manifests"], (alpha, beta)):
        blob = (layout / "blobs" / "sha256" / entry["digest"].split(":")[1]).read_bytes()
        assert hashlib.sha256(blob).hexdigest() == entry["digest"].split(":")[1] and len(blob) == entry["size"]
        manifest = json.loads(blob)
        assert_oci_valid("image-manifest-schema.json", manifest)
        assert manifest["config"]["digest"] == "sha256:" + image.id
        config = json.loads((layout / "blobs" / "sha256" / image.id).read_bytes())
        assert_oci_valid("config-schema.json", config)
        for layer in manifest["layers"]:
            path = layout / "blobs" / "sha256" / layer["digest"].split(":")[1]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == layer["digest"].split(":")[1]
    archive = saved(store, ["alpha:1", "beta"], "oci-archive", tmp_path)
    members = tar_members(archive.read_bytes())
    assert {"oci-layout", "index.json", "blobs/sha256"} <= set(members)
    assert {n for n in members if n.startswith("blobs/sha256/")} == {f"blobs/sha256/{p.name}" for p in (layout / "blobs" / "sha256").iterdir()}


def test_docker_archive_has_the_shape_podman_writes(src: Any, tmp_path: Path) -> None:
    store, alpha, beta = src
    data = saved(store, ["alpha:1", "beta"], "docker-archive", tmp_path).read_bytes()
    members = tar_members(data)
    manifest = json.loads(tar_read(data, "manifest.json"))
    assert [sorted(item) for item in manifest] == [["Config", "Layers", "RepoTags"]] * 2
    repositories = json.loads(tar_read(data, "repositories"))
    for item, image in zip(manifest, (alpha, beta)):
        assert item["Config"] == f"{image.id}.json"
        assert hashlib.sha256(tar_read(data, item["Config"])).hexdigest() == image.id
        assert item["RepoTags"] == image.names
        expected = diff_ids(store, image)
        assert item["Layers"] == [f"{d.split(':')[1]}.tar" for d in expected]
        for path, diff_id in zip(item["Layers"], expected):  # uncompressed: the sha256 is the diff id
            assert "sha256:" + hashlib.sha256(tar_read(data, path)).hexdigest() == diff_id
        legacy = legacy_layers(tar_read(data, item["Config"]), expected)
        for (legacy_id, legacy_json), path in zip(legacy, item["Layers"]):
            link = members[f"{legacy_id}/layer.tar"]
            assert link.issym() and link.linkname == f"../{path}"
            assert tar_read(data, f"{legacy_id}/VERSION") == b"1.0"
            assert json.loads(tar_read(data, f"{legacy_id}/json"))["id"] == legacy_id
        repo, tag = image.names[0].rsplit(":", 1)
        assert repositories[repo] == {tag: legacy[-1][0]}


def test_legacy_layer_ids_match_containers_image() -> None:
    """The v1 id podman 5 wrote for a one-layer busybox image (computed from the config it saved)."""
    config = (b'{"created":"2026-11-29T06:10:39.385146372Z","architecture":"amd64","os":"linux","config":{"Env":["PATH='
              b'/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:623381f'
              b'ed158cf790dd55e181734d37cbbe28709c5c3a83968d6154182970751"]},"history":[]}')
    ((legacy_id, _),) = legacy_layers(config, ["sha256:623381fed158cf790dd55e181734d37cbbe28709c5c3a83968d6154182970751"])
    assert legacy_id == "0e86ba10c93480785649046b45c9517cdcab677b90a02685b3c9809150abbb54"
