"""The store under stress: OCI-valid metadata, parallel writers, and commands killed midway."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import CAPSA, Capsa, make_rootfs_tar
from oci_schema import assert_oci_valid


def test_what_import_writes_is_valid_oci(capsa: Capsa, tmp_path: Path) -> None:
    tar = make_rootfs_tar(tmp_path / "r.tar")
    assert capsa("import", "-c", "ENV A=1", "-c", "EXPOSE 80", str(tar), "x").returncode == 0
    doc = json.loads(capsa("image", "inspect", "x").stdout)[0]
    blobs = capsa.root / "blobs" / "sha256"
    manifest = json.loads((blobs / doc["Digest"][7:]).read_text())
    assert_oci_valid("image-manifest-schema.json", manifest)
    assert_oci_valid("config-schema.json", json.loads((blobs / doc["Id"]).read_text()))
    assert_oci_valid("image-layout-schema.json", json.loads((capsa.root / "oci-layout").read_text()))
    for descriptor in [manifest["config"], *manifest["layers"]]:
        assert_oci_valid("content-descriptor.json", descriptor)
        assert (blobs / descriptor["digest"][7:]).stat().st_size == descriptor["size"]


def test_parallel_imports_and_tags_never_corrupt_the_store(capsa: Capsa, tmp_path: Path) -> None:
    tars = [make_rootfs_tar(tmp_path / f"r{i}.tar", {"id": str(i)}, busybox=False) for i in range(8)]

    def work(i: int) -> int:
        r = capsa("import", str(tars[i]), f"img{i}")
        if r.returncode == 0:
            r = capsa("tag", f"img{i}", f"alias{i}")
        return r.returncode

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(work, range(8)))
    assert codes == [0] * 8
    images = json.loads((capsa.root / "images.json").read_text())
    assert len(images) == 8
    assert sorted(n for i in images for n in i["names"]) == sorted(
        [f"localhost/img{i}:latest" for i in range(8)] + [f"localhost/alias{i}:latest" for i in range(8)])
    assert len(json.loads((capsa.root / "layers.json").read_text())) == 8


def test_a_killed_import_leaves_nothing_that_the_next_command_misreads(capsa: Capsa, tmp_path: Path) -> None:
    # A large layer keeps the import busy long enough to be killed in the middle.
    big = tmp_path / "big"
    big.mkdir()
    for i in range(400):
        (big / f"f{i}").write_bytes(os.urandom(256 * 1024))
    tar = tmp_path / "big.tar"
    subprocess.run(["tar", "-C", str(big), "-cf", str(tar), "."], check=True)
    assert capsa("import", str(make_rootfs_tar(tmp_path / "ok.tar", busybox=False)), "ok").returncode == 0

    proc = subprocess.Popen([str(CAPSA), "--root", str(capsa.root), "--runroot", str(capsa.runroot), "import",
                             str(tar), "big"], env=capsa.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    layers = capsa.root / "layers.json"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(l.get("incomplete") for l in json.loads(layers.read_text() or "[]")):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert any(l.get("incomplete") for l in json.loads(layers.read_text())), "the import was not caught midway"

    # Readers see only complete images; the next writer removes the leftovers.
    assert capsa("images", "--format", "{{.Repository}}").stdout == "localhost/ok\n"
    assert capsa("tag", "ok", "ok2").returncode == 0
    records = json.loads(layers.read_text())
    assert len(records) == 1 and not records[0].get("incomplete")
    driver = json.loads((capsa.root / "storage.json").read_text())["driver"]
    home = capsa.root / "storage" / driver
    kept = {p.name for p in home.iterdir() if p.name not in ("l", "dir")} | (
        {p.name for p in (home / "dir").iterdir()} if (home / "dir").exists() else set())
    assert kept == {records[0]["id"]}
    assert list((capsa.root / "blobs" / ".ingest").iterdir()) == []
    manifest, config = (json.loads(capsa("image", "inspect", "ok").stdout)[0][k] for k in ("Digest", "Id"))
    assert {p.name for p in (capsa.root / "blobs" / "sha256").iterdir()} == {
        manifest[7:], config, records[0]["blob"][7:]}


@pytest.mark.parametrize("size", [0, 1, 5000, 1 << 20, (1 << 20) + 1, 3 << 20])
def test_sha256_of_gives_hashlibs_digest_whichever_implementation_hashes(size: int) -> None:
    """Small data goes to CPython's built-in sha256 (cheap to load), large data to hashlib's."""
    import hashlib

    from capsa.store.blobs import sha256_of

    data = (bytes(range(256)) * (size // 256 + 1))[:size]
    assert sha256_of(data) == "sha256:" + hashlib.sha256(data).hexdigest()
