"""The real-registry test infrastructure (capsa.testing.registryserver and friends), checked
with raw requests: the servers answer, uploads land, cleanup leaves nothing."""
from __future__ import annotations

import gzip
import io
import json
import os
import tarfile

import pytest
import requests

from capsa.testing.imagebuilder import (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST,
                                        busybox_image, decompress, sha256_digest)
from capsa.testing.registryserver import RegistryServer
from capsa.testing.registryupload import MANIFEST_ACCEPT, RegistryClient, upload_image, upload_index


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie would still answer kill(0): the server waits for its child, so none may remain
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ")[1][0] != "Z"


def test_plain_registry_answers_and_logs_requests(registry: RegistryServer) -> None:
    assert registry.host.startswith("127.0.0.1:") and registry.url == f"http://{registry.host}"
    response = requests.get(f"{registry.url}/v2/", timeout=10)
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    requests.get(f"{registry.url}/v2/logged/blobs/sha256:{'0' * 64}", timeout=10)
    assert registry.requests_seen("GET", "/v2/logged/blobs/") == [f"/v2/logged/blobs/sha256:{'0' * 64}"]
    assert ("GET", "/v2/", 200) in registry.access_log()
    assert len(registry.requests_seen("GET", "/v2/")) == 2  # not the start-up probe: only this test's
    assert any("listening on" in line for line in registry.log_lines())


@pytest.mark.parametrize("compression,flavor", [("gzip", "oci"), ("zstd", "oci"), (None, "oci"), ("gzip", "docker")])
def test_upload_image_and_read_it_back(registry: RegistryServer, compression: str | None, flavor: str) -> None:
    img = busybox_image(compression, flavor)
    repo = f"tests/busybox-{compression or 'plain'}-{flavor}"
    digest = upload_image(registry, repo, "latest", img.layers, img.config, img.manifest_media_type)
    response = requests.get(f"{registry.url}/v2/{repo}/manifests/latest", headers={"Accept": MANIFEST_ACCEPT}, timeout=10)
    assert response.status_code == 200 and sha256_digest(response.content) == digest
    assert response.headers["Content-Type"] == (DOCKER_MANIFEST if flavor == "docker" else OCI_MANIFEST)
    manifest = response.json()
    assert [layer["digest"] for layer in manifest["layers"]] == [layer.digest for layer in img.layers]
    config = requests.get(f"{registry.url}/v2/{repo}/blobs/{manifest['config']['digest']}", timeout=10).content
    assert json.loads(config)["rootfs"]["diff_ids"] == [layer.diff_id for layer in img.layers]
    base = requests.get(f"{registry.url}/v2/{repo}/blobs/{img.layers[0].digest}", timeout=10).content
    assert base == img.layers[0].data and registry.blob_path(img.layers[0].digest).read_bytes() == base
    with tarfile.open(fileobj=io.BytesIO(decompress(base))) as tar:
        names = tar.getnames()
        assert "bin/busybox" in names and tar.getmember("bin/sh").linkname == "busybox"
    with tarfile.open(fileobj=io.BytesIO(decompress(img.layers[1].data))) as tar:
        assert {"etc/.wh.removed.txt", "data/.wh..wh..opq", "data/new.txt"} <= set(tar.getnames())
    kind = {"gzip": "gzip", "zstd": "zstd", None: "tar"}[compression]
    assert img.layers[0].media_type.endswith(kind if kind != "gzip" else ".gzip" if flavor == "docker" else "+gzip")
    if compression == "gzip":
        gzip.decompress(base)


@pytest.mark.parametrize("index_type", [OCI_INDEX, DOCKER_MANIFEST_LIST])
def test_upload_index_of_platforms(registry: RegistryServer, index_type: str) -> None:
    flavor = "docker" if index_type == DOCKER_MANIFEST_LIST else "oci"
    pairs = []
    for arch, variant in (("amd64", None), ("arm64", "v8")):
        img = busybox_image("gzip", flavor, whiteouts=False, architecture=arch, variant=variant)
        digest = upload_image(registry, "tests/multi", None, img.layers, img.config, img.manifest_media_type)
        pairs.append((digest, {"os": "linux", "architecture": arch, **({"variant": variant} if variant else {})}))
    index_digest = upload_index(registry, "tests/multi", "latest", pairs, index_type)
    response = requests.get(f"{registry.url}/v2/tests/multi/manifests/latest", headers={"Accept": MANIFEST_ACCEPT},
                            timeout=10)
    assert response.headers["Content-Type"] == index_type and sha256_digest(response.content) == index_digest
    entries = response.json()["manifests"]
    assert [(e["digest"], e["platform"]["architecture"]) for e in entries] == [(d, p["architecture"]) for d, p in pairs]
    assert entries[1]["platform"]["variant"] == "v8"


def test_blob_path_lets_a_test_corrupt_a_blob(registry: RegistryServer) -> None:
    img = busybox_image("gzip", whiteouts=False)
    upload_image(registry, "tests/corrupt", "v1", img.layers, img.config)
    path = registry.blob_path(img.layers[0].digest)
    path.write_bytes(b"not the layer")
    served = requests.get(f"{registry.url}/v2/tests/corrupt/blobs/{img.layers[0].digest}", timeout=10)
    assert served.content == b"not the layer"  # the registry serves it unverified: the client must check


def test_raw_client_lists_tags(registry: RegistryServer) -> None:
    img = busybox_image(None, whiteouts=False)
    for tag in ("a", "b"):
        upload_image(registry, "tests/tags", tag, img.layers, img.config)
    with RegistryClient(registry) as client:
        assert sorted(client.get("/v2/tests/tags/tags/list").json()["tags"]) == ["a", "b"]


def test_server_stops_and_cleans_up_even_when_the_test_fails() -> None:
    server = RegistryServer()
    with pytest.raises(RuntimeError, match="boom"):
        with server:
            pid, workdir, url = server.pid, server.workdir, server.url
            assert pid and _alive(pid) and workdir.is_dir()
            raise RuntimeError("boom")
    assert not _alive(pid)
    assert not workdir.exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/v2/", timeout=5)
