"""Image commands end to end: a real store, real layers (overlay mounts and vfs copies)."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from conftest import Capsa, make_rootfs_tar, tree_snapshot

DRIVERS = ["overlay", "vfs"]


@pytest.fixture(params=DRIVERS)
def cap(request: pytest.FixtureRequest, capsa: Capsa) -> Capsa:
    capsa.write_config(f'[storage]\ndriver = "{request.param}"\n')
    yield capsa
    capsa("rmi", "--all")  # frees layers; overlay unmounts nothing here (nothing stays mounted)


def imported(cap: Capsa, tar: Path, *options: str, name: str | None = None) -> str:
    r = cap("import", *options, str(tar), *([name] if name else []))
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().removeprefix("sha256:")


def test_import_then_list_inspect_and_history(cap: Capsa, tmp_path: Path) -> None:
    tar = make_rootfs_tar(tmp_path / "rootfs.tar", {"etc/motd": "hello\n"})
    r = cap("import", "-c", 'CMD ["/bin/sh"]', "-c", "ENV PATH=/usr/bin:/bin", "-m", "first import", str(tar), "bb:1")
    assert r.returncode == 0, r.stderr
    image_id = r.stdout.strip().removeprefix("sha256:")
    assert len(image_id) == 64

    lines = cap("images").stdout.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[1].split()[:3] == ["localhost/bb", "1", image_id[:12]]
    assert cap("images", "-q").stdout == f"{image_id[:12]}\n"
    assert cap("images", "-q", "--no-trunc").stdout == f"sha256:{image_id}\n"
    assert cap("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout == f"localhost/bb:1 {image_id[:12]}\n"

    doc = json.loads(cap("image", "inspect", "bb:1").stdout)[0]
    assert doc["Id"] == image_id and doc["RepoTags"] == ["localhost/bb:1"]
    assert doc["Config"] == {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/bin:/bin"]}
    assert doc["Os"] == "linux" and doc["Architecture"] and doc["RootFS"]["Type"] == "layers"
    assert doc["RepoDigests"] == [f"localhost/bb@{doc['Digest']}"]
    assert len(doc["RootFS"]["Layers"]) == 1 and doc["History"][0]["comment"] == "first import"
    assert cap("inspect", "--format", "{{.Config.Cmd}}", "bb:1").stdout == "[/bin/sh]\n"

    history = cap("image", "history", "bb:1").stdout.splitlines()
    assert history[0].split()[:2] == ["ID", "CREATED"] and history[1].startswith(image_id[:12])
    assert "first import" in history[1] and "..." in history[1]
    full = cap("history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Comment}}", "bb:1").stdout.strip()
    assert full == f"{image_id}|/bin/sh -c #(nop) ADD file:{doc['RootFS']['Layers'][0][7:]} in /|first import"


def test_image_id_is_the_config_digest(cap: Capsa, tmp_path: Path) -> None:
    import hashlib

    image_id = imported(cap, make_rootfs_tar(tmp_path / "r.tar"))
    blob = Path(cap.root) / "blobs" / "sha256" / image_id
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == image_id
    config = json.loads(blob.read_bytes())
    assert config["rootfs"]["diff_ids"][0].startswith("sha256:")


def test_identical_layers_are_stored_once_and_freed_after_the_last_image(cap: Capsa, tmp_path: Path) -> None:
    tar = make_rootfs_tar(tmp_path / "r.tar")
    first = imported(cap, tar, "-c", "CMD [\"a\"]")
    second = imported(cap, tar, "-c", "CMD [\"b\"]")
    assert first != second
    layers = json.loads((cap.root / "layers.json").read_text())
    assert len(layers) == 1
    driver = json.loads((cap.root / "storage.json").read_text())["driver"]
    home = cap.root / "storage" / driver
    assert cap("rmi", first).returncode == 0
    assert len(json.loads((cap.root / "layers.json").read_text())) == 1
    assert cap("rmi", second).returncode == 0
    assert json.loads((cap.root / "layers.json").read_text()) == []
    leftovers = [p for p in home.rglob("*") if p.is_file()] if home.exists() else []
    assert leftovers == []
    assert list((cap.root / "blobs" / "sha256").iterdir()) == []


def test_tag_untag_and_rmi_semantics(cap: Capsa, tmp_path: Path) -> None:
    image_id = imported(cap, make_rootfs_tar(tmp_path / "r.tar"), name="x")
    assert cap("tag", "x", "y:2", "quay.io/z/w:3").returncode == 0
    names = json.loads(cap("image", "inspect", image_id).stdout)[0]["RepoTags"]
    assert names == ["localhost/x:latest", "localhost/y:2", "quay.io/z/w:3"]
    r = cap("rmi", image_id[:12])  # by id with several names: refused without -f
    assert r.returncode == 125 and "more than one tag" in r.stderr
    r = cap("rmi", "y:2")
    assert (r.returncode, r.stdout) == (0, "Untagged: localhost/y:2\n")
    r = cap("untag", "x", "nope:1")
    assert r.returncode == 125 and "localhost/nope:1: tag not known" in r.stderr
    r = cap("untag", "x", "w:3")  # names are parsed as podman does: this is localhost/w:3
    assert r.returncode == 125 and "localhost/w:3: tag not known" in r.stderr
    assert cap("untag", "x", "quay.io/z/w:3").returncode == 0
    assert cap("untag", image_id).returncode == 0
    assert cap("images", "--filter", "dangling=true", "-q").stdout == f"{image_id[:12]}\n"
    r = cap("rmi", "nope", image_id)
    assert r.returncode == 1 and "nope: image not known" in r.stderr and f"Deleted: {image_id}" in r.stdout


def test_short_names_find_images_under_any_registry(cap: Capsa, tmp_path: Path) -> None:
    image_id = imported(cap, make_rootfs_tar(tmp_path / "r.tar"), name="docker.io/library/busybox:1.36")
    assert cap("image", "exists", "busybox:1.36").returncode == 0
    assert cap("image", "exists", "library/busybox:1.36").returncode == 0
    assert cap("image", "exists", "busybox").returncode == 1  # :latest is another tag
    assert cap("image", "exists", image_id[:5]).returncode == 0


def test_filters_and_prune(cap: Capsa, tmp_path: Path) -> None:
    keep = imported(cap, make_rootfs_tar(tmp_path / "a.tar"), "-c", "LABEL team=a", name="keep:1")
    dangling = imported(cap, make_rootfs_tar(tmp_path / "b.tar", {"x": "y"}))
    assert cap("images", "-q", "--filter", "reference=kee*").stdout == f"{keep[:12]}\n"
    assert cap("images", "-q", "--filter", "label=team=a").stdout == f"{keep[:12]}\n"
    assert cap("images", "-q", "--filter", "dangling=false").stdout == f"{keep[:12]}\n"
    r = cap("images", "--filter", "colour=red")
    assert r.returncode == 125 and "unsupported image filter" in r.stderr
    r = cap("image", "prune", input="n\n")
    assert r.returncode == 0 and "Are you sure" in r.stderr and r.stdout == ""
    r = cap("image", "prune", "-f")
    assert (r.returncode, r.stdout) == (0, f"{dangling}\n")
    assert cap("image", "prune", "-a", "-f").stdout == f"{keep}\n"
    assert cap("images", "-q").stdout == ""


def test_import_from_stdin_and_compressed(cap: Capsa, tmp_path: Path) -> None:
    import gzip
    import subprocess

    from conftest import CAPSA

    tar = make_rootfs_tar(tmp_path / "r.tar")
    gz = tmp_path / "r.tar.gz"
    gz.write_bytes(gzip.compress(tar.read_bytes()))
    assert cap("import", str(gz), "fromgz").returncode == 0
    gz_doc = json.loads(cap("image", "inspect", "fromgz").stdout)[0]
    manifest = json.loads((cap.root / "blobs" / "sha256" / gz_doc["Digest"][7:]).read_text())
    assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    with open(tar, "rb") as fh:
        proc = subprocess.run([str(CAPSA), "--root", str(cap.root), "--runroot", str(cap.runroot), "import", "-",
                               "fromstdin"], stdin=fh, capture_output=True, env=cap.env)
    assert proc.returncode == 0, proc.stderr
    plain_doc = json.loads(cap("image", "inspect", "fromstdin").stdout)[0]
    assert plain_doc["RootFS"]["Layers"] == gz_doc["RootFS"]["Layers"]  # the diff id ignores compression
    # The second import reused the layer: one layer blob, two configs, two manifests.
    assert len(json.loads((cap.root / "layers.json").read_text())) == 1
    assert len(list((cap.root / "blobs" / "sha256").iterdir())) == 5


@pytest.mark.parametrize("make_bad, words", [
    (lambda p: p / "missing.tar", "no such file"),
    (lambda p: (p / "junk.tar").write_bytes(b"this is not a tarball" * 100) and p / "junk.tar", ""),
    (lambda p: _hostile(p), ""),
])
def test_bad_import_exits_125_and_leaves_the_store_as_it_was(cap: Capsa, tmp_path: Path, make_bad, words: str) -> None:
    imported(cap, make_rootfs_tar(tmp_path / "ok.tar"), name="ok")
    before = tree_snapshot(cap.root)
    bad = make_bad(tmp_path)
    r = cap("import", str(bad), "bad")
    assert r.returncode == 125
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and words in errors[0] and "Traceback" not in r.stderr
    assert tree_snapshot(cap.root) == before


def test_a_failed_first_import_creates_no_store(capsa: Capsa, tmp_path: Path) -> None:
    r = capsa("import", str(_hostile(tmp_path)), "bad")
    assert r.returncode == 125
    assert not capsa.root.exists() and not capsa.runroot.exists()


def _hostile(tmp: Path) -> Path:
    path = tmp / "hostile.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("../../escape")
        data = b"owned"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_unknown_image_errors(cap: Capsa) -> None:
    for argv, code in ((["image", "inspect", "nope"], 125), (["tag", "nope", "x"], 125), (["history", "nope"], 125),
                       (["image", "exists", "nope"], 1), (["rmi", "nope"], 1)):
        r = cap(*argv)
        assert r.returncode == code, argv
    r = cap("inspect", "nope")
    assert r.returncode == 125 and r.stdout.strip() == "[]"
    assert 'no such object: "nope"' in r.stderr


def test_a_store_refuses_another_driver(capsa: Capsa, tmp_path: Path) -> None:
    tar = make_rootfs_tar(tmp_path / "r.tar")
    assert capsa("--storage-driver", "vfs", "import", str(tar), "x").returncode == 0
    r = capsa("--storage-driver", "overlay", "images")
    assert r.returncode == 125
    assert "created with the 'vfs' storage driver" in r.stderr and "--storage-driver vfs" in r.stderr
    assert capsa("--storage-driver", "vfs", "rmi", "x").returncode == 0


def test_read_commands_do_not_create_a_store(capsa: Capsa) -> None:
    assert capsa("images").returncode == 0
    assert capsa("image", "exists", "x").returncode == 1
    assert not capsa.root.exists()


def test_info_counts_the_images(cap: Capsa, tmp_path: Path) -> None:
    assert cap("info", "--format", "{{.Store.ImageStore.Number}}").stdout == "0\n"
    imported(cap, make_rootfs_tar(tmp_path / "r.tar"), name="one")
    assert cap("info", "--format", "{{.Store.ImageStore.Number}}").stdout == "1\n"
