"""What capsa pushes, read by other clients: skopeo (inspect, copy to a directory) and podman
(pull into a store of the test's own). Each skips with its reason where the tool is absent; the
raw checks of tests/test_push.py need neither."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from containers import busybox_store
from pushing import Pushed

SKOPEO = shutil.which("skopeo")
PODMAN = shutil.which("podman")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    yield from busybox_store(tmp_path_factory, "push-interop")


def _pushed(store, registry, repo: str, *flags: str) -> Pushed:
    r = store("push", "--tls-verify=false", *flags, "busybox", f"{registry.host}/{repo}:1")
    assert r.returncode == 0, r.stderr
    got = Pushed(registry, repo, "1")
    got.check()
    return got


@pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed (optional: the raw checks cover the format)")
@pytest.mark.parametrize("fmt", ["oci", "v2s2"])
def test_skopeo_reads_what_capsa_pushed(store, registry, tmp_path: Path, fmt: str) -> None:
    got = _pushed(store, registry, f"interop/skopeo-{fmt}", "--format", fmt)
    ref = f"docker://{registry.host}/interop/skopeo-{fmt}:1"
    raw = subprocess.run([SKOPEO, "inspect", "--tls-verify=false", "--raw", ref], capture_output=True, check=True)
    assert raw.stdout == got.body
    info = json.loads(subprocess.run([SKOPEO, "inspect", "--tls-verify=false", ref], capture_output=True, text=True,
                                     check=True).stdout)
    assert info["Digest"] == got.digest
    assert info["Layers"] == [d["digest"] for d in got.layers]
    target = tmp_path / "copy"
    subprocess.run([SKOPEO, "copy", "--src-tls-verify=false", ref, f"dir:{target}"], capture_output=True, check=True)
    manifest = json.loads((target / "manifest.json").read_bytes())
    for desc in [manifest["config"], *manifest["layers"]]:
        data = (target / desc["digest"].split(":", 1)[1]).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == desc["digest"]
    assert [d["digest"] for d in manifest["layers"]] == [d["digest"] for d in got.layers]
    assert manifest["config"]["digest"] == got.manifest["config"]["digest"]


@pytest.mark.skipif(PODMAN is None, reason="podman is not installed (optional: the raw checks cover the format)")
def test_podman_pulls_what_capsa_pushed(store, registry, tmp_path: Path) -> None:
    got = _pushed(store, registry, "interop/podman")
    short = Path(tempfile.mkdtemp(prefix="capsa-podman-"))  # (podman wants a runroot under 50 characters)
    base = [PODMAN, "--root", str(short / "root"), "--runroot", str(short / "run"), "--tmpdir",
            str(short / "tmp"), "--storage-driver", "vfs", "--events-backend", "none"]
    name = f"{registry.host}/interop/podman:1"
    try:
        r = subprocess.run([*base, "pull", "--tls-verify=false", name], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        r = subprocess.run([*base, "image", "inspect", "--format", "{{.Id}} {{.Digest}}", name], capture_output=True,
                           text=True, check=True)
        image_id, digest = r.stdout.split()
        assert "sha256:" + image_id == got.manifest["config"]["digest"]
        assert digest == got.digest
    finally:
        subprocess.run([*base, "system", "reset", "-f"], capture_output=True, timeout=120)
        shutil.rmtree(short, ignore_errors=True)


def test_capsa_pulls_what_capsa_pushed(store, registry, tmp_path: Path) -> None:
    """The round trip through capsa's own pull, into a store of its own: the same image id
    (config bytes kept) and the pushed manifest's digest among its RepoDigests."""
    from conftest import Capsa, isolated_env

    other = Capsa(env=isolated_env(tmp_path), root=tmp_path / "root", runroot=tmp_path / "run", tmp=tmp_path)
    try:
        for fmt in ("oci", "v2s2"):
            got = _pushed(store, registry, f"interop/roundtrip-{fmt}", "--format", fmt)
            name = f"{registry.host}/interop/roundtrip-{fmt}:1"
            r = other("pull", "--tls-verify=false", "-q", name)
            assert r.returncode == 0, r.stderr
            r = other("image", "inspect", name)
            assert r.returncode == 0, r.stderr
            [doc] = json.loads(r.stdout)
            assert "sha256:" + doc["Id"].removeprefix("sha256:") == got.manifest["config"]["digest"]
            assert f"{registry.host}/interop/roundtrip-{fmt}@{got.digest}" in doc["RepoDigests"]
    finally:
        other("system", "reset", "-f", timeout=120)
