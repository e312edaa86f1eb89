"""Helpers of the push tests: images with chosen layers put into a store (through ``load`` of an
OCI layout the helper writes), and reading back what a registry holds with raw requests."""
from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

from capsa.testing.imagebuilder import Image, decompress, sha256_digest
from capsa.testing.registryupload import MANIFEST_ACCEPT, RegistryClient, image_manifest

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def load_image(capsa: Any, tmp: Path, image: Image, name: str) -> str:
    """Load ``image`` (imagebuilder's) into the store as ``name`` with its manifest bytes as
    built (OCI or Docker); returns the manifest's digest."""
    layout = tmp / f"layout-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    body = image_manifest(list(image.layers), image.config, image.manifest_media_type, image.config_media_type)
    for data in [*(layer[0] for layer in image.layers), image.config, body]:
        (blobs / sha256_digest(data)[7:]).write_bytes(data)
    digest = sha256_digest(body)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": image.manifest_media_type, "digest": digest, "size": len(body),
         "annotations": {"org.opencontainers.image.ref.name": name}}]}))
    r = capsa("load", "-i", str(layout))
    assert r.returncode == 0, r.stderr
    return digest


class Pushed:
    """An image as a registry holds it, read back with raw requests and checked: the manifest's
    digest, every blob's digest and size (``check``)."""

    def __init__(self, server: Any, repo: str, reference: str, auth: tuple[str, str] | None = None) -> None:
        with RegistryClient(server, auth) as client:
            r = client.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": MANIFEST_ACCEPT})
            assert r.status_code == 200, (r.status_code, r.text)
            self.body = r.content
            self.media_type = r.headers["Content-Type"]
            self.digest = r.headers["Docker-Content-Digest"]
            self.manifest = json.loads(self.body)
            self.blobs: dict[str, bytes] = {}
            for desc in [self.manifest["config"], *self.manifest["layers"]]:
                b = client.get(f"/v2/{repo}/blobs/{desc['digest']}")
                assert b.status_code == 200, (desc, b.status_code)
                self.blobs[desc["digest"]] = b.content
        assert self.digest == sha256_digest(self.body)

    @property
    def config(self) -> bytes:
        return self.blobs[self.manifest["config"]["digest"]]

    @property
    def layers(self) -> list[dict[str, Any]]:
        return self.manifest["layers"]

    def check(self) -> None:
        """Every descriptor matches its blob; the layers' uncompressed digests are the config's
        diff ids; the manifest's media type field agrees with the served type."""
        assert self.manifest.get("mediaType", self.media_type) == self.media_type
        for desc in [self.manifest["config"], *self.layers]:
            data = self.blobs[desc["digest"]]
            assert sha256_digest(data) == desc["digest"]
            assert len(data) == desc["size"]
        diff_ids = json.loads(self.config)["rootfs"]["diff_ids"]
        assert [sha256_digest(decompress(self.blobs[d["digest"]])) for d in self.layers] == diff_ids

    def magic(self, n: int = 0) -> bytes:
        return self.blobs[self.layers[n]["digest"]][:4]


def gunzip(data: bytes) -> bytes:
    return gzip.decompress(data)
