"""capsa load of archives other tools write (docker, podman, Docker 25+), and refusals: bad
archives must fail with a one-line ArchiveError and leave the store's files exactly as they
were; a failed save leaves nothing behind."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archive_helpers import (FORMATS, REF_NAME, _tar, alpha_rootfs, diff_ids, files_of, new_store, rewrite_tar,  # noqa: F401
                             saved, snapshot, src, tar_members, tar_read)
from capsa.errors import ArchiveError, ImageNotFound, StorageError, UsageError
from capsa.image.archives import load_images, save_images
from capsa.image.docker_archive import legacy_layers
from capsa.image.importing import import_tarball
from capsa.store.store import Store


# -- archives written by other tools ---------------------------------------------------------

def _handmade(shape: str) -> tuple[bytes, str, list[str]]:
    """An archive as docker/podman write it, of a two-layer image named busybox:latest."""
    layers = [alpha_rootfs(), _tar([("etc/motd", b"second layer\n")])]
    diffs = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    legacy = legacy_layers(config, diffs)
    files: list[tuple[str, Any]] = []
    if shape == "legacy-dirs":  # older docker: real <v1 id>/layer.tar files
        paths = [f"{lid}/layer.tar" for lid, _ in legacy]
        for (lid, ljson), layer in zip(legacy, layers):
            files += [(f"{lid}", ("dir",)), (f"{lid}/VERSION", b"1.0"), (f"{lid}/json", ljson), (f"{lid}/layer.tar", layer)]
        files.append((f"{config_hex}.json", config))
    elif shape in ("podman", "gzip", "gzip-layers"):  # flat <hex>.tar + legacy symlinks
        zipped = shape == "gzip-layers"
        paths = [f"{d.split(':')[1]}.tar" + (".gz" if zipped else "") for d in diffs]
        files += [(p, gzip.compress(layer) if zipped else layer) for p, layer in zip(paths, layers)]
        files.append((f"{config_hex}.json", config))
        for (lid, ljson), path in zip(legacy, paths):
            files += [(f"{lid}/layer.tar", ("sym", f"../{path}")), (f"{lid}/VERSION", b"1.0"), (f"{lid}/json", ljson)]
    else:  # docker 25+: an OCI layout plus manifest.json pointing into blobs/
        paths = [f"blobs/sha256/{d.split(':')[1]}" for d in diffs]
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": "sha256:" + config_hex, "size": len(config)},
                               "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d,
                                           "size": len(layer)} for d, layer in zip(diffs, layers)]}).encode()
        manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": len(manifest),
             "annotations": {"io.containerd.image.name": "docker.io/library/busybox:latest", REF_NAME: "latest"}}]}
        files += [("blobs", ("dir",)), ("blobs/sha256", ("dir",)), (f"blobs/sha256/{config_hex}", config),
                  (f"blobs/sha256/{manifest_digest.split(':')[1]}", manifest), ("index.json", json.dumps(index).encode()),
                  ("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')]
        files += [(p, layer) for p, layer in zip(paths, layers)]
    files.append(("manifest.json", json.dumps([{"Config": f"{config_hex}.json" if shape != "docker25" else f"blobs/sha256/{config_hex}",
                                                "RepoTags": ["busybox:latest"], "Layers": paths}]).encode()))
    files.append(("repositories", json.dumps({"busybox": {"latest": legacy[-1][0]}}).encode()))
    data = _tar(files)
    return (gzip.compress(data) if shape == "gzip" else data), config_hex, diffs


@pytest.mark.parametrize("shape", ["legacy-dirs", "podman", "gzip", "gzip-layers", "docker25"])
def test_docker_archives_as_docker_and_podman_write_them_load(new_store: Callable[[str], Store], shape: str,
                                                              tmp_path: Path) -> None:
    data, config_hex, diffs = _handmade(shape)
    path = tmp_path / "in.tar"
    path.write_bytes(data)
    store = new_store("dst")
    (image,) = load_images(store, path)
    assert image.id == config_hex
    assert image.names == ["docker.io/library/busybox:latest"]  # as podman loads busybox:latest
    with store.reading():
        assert diff_ids(store, image) == diffs
        files = files_of(store, image)
    assert files["etc/motd"][2] == b"second layer\n" and files["link"] == ("symlink", "etc/hello")


def test_bare_tag_in_ref_name_is_named_as_podman_names_it(src: Any, new_store: Callable[[str], Store], tmp_path: Path) -> None:
    """podman loads ref.name "latest" as localhost/latest:latest; members may start with ./"""
    store, alpha, _ = src
    layout = saved(store, ["alpha:1"], "oci-dir", tmp_path)
    index = json.loads((layout / "index.json").read_bytes())
    index["manifests"][0]["annotations"][REF_NAME] = "latest"
    (layout / "index.json").write_text(json.dumps(index))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        tar.add(layout, arcname=".")
    (image,) = load_images(new_store("dst"), io.BytesIO(out.getvalue()))
    assert image.id == alpha.id and image.names == ["localhost/latest:latest"]


def test_multi_platform_index_loads_the_host_platform(src: Any, new_store: Callable[[str], Store], tmp_path: Path) -> None:
    from capsa.hostinfo import go_arch

    store, alpha, _ = src
    layout = saved(store, ["alpha:1"], "oci-dir", tmp_path)
    index = json.loads((layout / "index.json").read_bytes())
    entry = index["manifests"][0]
    nested = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {**entry, "digest": "sha256:" + "e" * 64, "platform": {"os": "linux", "architecture": "s390x"}, "annotations": {}},
        {**entry, "platform": {"os": "linux", "architecture": go_arch()}, "annotations": {}}]}).encode()
    digest = hashlib.sha256(nested).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(nested)
    index["manifests"] = [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + digest,
                           "size": len(nested), "annotations": entry["annotations"]}]
    (layout / "index.json").write_text(json.dumps(index))
    (image,) = load_images(new_store("dst"), layout)
    assert image.id == alpha.id and image.names == ["localhost/alpha:1"]


# -- refusals --------------------------------------------------------------------------------

def _second_layer_blob(data: bytes) -> str:
    """The member name of the (last) layer blob of the second image of an OCI archive."""
    index = json.loads(tar_read(data, "index.json"))
    manifest = json.loads(tar_read(data, "blobs/sha256/" + index["manifests"][1]["digest"].split(":")[1]))
    return "blobs/sha256/" + manifest["layers"][-1]["digest"].split(":")[1]


def _corrupt_second_config(data: bytes) -> bytes:
    second = json.loads(tar_read(data, "manifest.json"))[1]["Config"]

    def change(name: str, content: bytes) -> bytes:
        if name != second:
            return content
        config = json.loads(content)
        config["rootfs"]["diff_ids"][-1] = "sha256:" + hashlib.sha256(b"something else").hexdigest()
        return json.dumps(config).encode()
    return rewrite_tar(data, change)


def _middle_of_last_layer(data: bytes) -> int:
    layer = tar_members(data)[json.loads(tar_read(data, "manifest.json"))[-1]["Layers"][-1]]
    return layer.offset_data + layer.size // 2


BAD: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "corrupt layer digest": ("oci-archive", lambda d: rewrite_tar(
        d, lambda n, c: (c[:-1] + bytes([c[-1] ^ 1])) if n == _second_layer_blob(d) else c)),
    "missing blob": ("oci-archive", lambda d: rewrite_tar(d, lambda n, c: None if n == _second_layer_blob(d) else c)),
    "truncated tar": ("docker-archive", lambda d: d[: _middle_of_last_layer(d)]),
    "truncated gzip": ("docker-archive", lambda d: gzip.compress(d)[:-4000]),
    "member with ..": ("docker-archive", lambda d: rewrite_tar(d, lambda n, c: c, {"../escape": b"x"})),
    "absolute member": ("docker-archive", lambda d: rewrite_tar(d, lambda n, c: c, {"/etc/evil": b"x"})),
    "unknown format": ("docker-archive", lambda d: _tar([("hello.txt", b"hi")])),
    "not a tar": ("docker-archive", lambda d: os.urandom(5000)),
    "diff id mismatch": ("docker-archive", _corrupt_second_config),
    "layer path with ..": ("docker-archive", lambda d: rewrite_tar(
        d, lambda n, c: c.replace(b'"Layers":["', b'"Layers":["../') if n == "manifest.json" else c)),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_archives_are_refused_and_the_store_is_untouched(src: Any, new_store: Callable[[str], Store], case: str,
                                                             tmp_path: Path) -> None:
    store, _, _ = src
    fmt, spoil = BAD[case]
    out = io.BytesIO()
    save_images(store, ["alpha:1", "beta"], fmt, out)  # type: ignore[arg-type]
    bad = tmp_path / "bad.tar"
    bad.write_bytes(spoil(out.getvalue()))
    dst = new_store("dst")
    import_tarball(dst, io.BytesIO(_tar([("gamma", b"already here\n")])), ["localhost/gamma:latest"], [], "")
    before = snapshot(dst.root)
    with pytest.raises(ArchiveError) as err:
        load_images(dst, bad)
    assert err.value.exit_code == 125 and err.value.hint
    assert "\n" not in err.value.message
    assert snapshot(dst.root) == before
    with dst.reading():
        assert [i.names for i in dst.images.all()] == [["localhost/gamma:latest"]]


def test_loading_twice_adds_nothing(src: Any, new_store: Callable[[str], Store], tmp_path: Path) -> None:
    store, alpha, beta = src
    dst = new_store("dst")
    for fmt in FORMATS:
        archive = saved(store, ["alpha:1", "beta"], fmt, tmp_path / fmt)
        first = load_images(dst, archive)
        layers = json.loads(Path(dst.root, "layers.json").read_bytes())
        blobs = sorted(os.listdir(Path(dst.root, "blobs", "sha256")))
        again = load_images(dst, archive)
        assert [i.id for i in again] == [i.id for i in first] == [alpha.id, beta.id]
        assert len(json.loads(Path(dst.root, "layers.json").read_bytes())) == len(layers) == 2
        assert sorted(os.listdir(Path(dst.root, "blobs", "sha256"))) == blobs
        assert len(dst.images.all()) == 2


def test_save_refusals_leave_nothing_behind(src: Any, tmp_path: Path) -> None:
    store, alpha, _ = src
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep").write_text("x")
    with pytest.raises(UsageError, match="not empty"):
        save_images(store, ["alpha:1"], "oci-dir", full)
    assert os.listdir(full) == ["keep"]
    with pytest.raises(UsageError):
        save_images(store, ["alpha:1"], "oci-dir", io.BytesIO())
    with pytest.raises(UsageError):
        save_images(store, ["alpha:1"], "tarball", tmp_path / "x.tar")  # type: ignore[arg-type]
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ImageNotFound):
        save_images(store, ["alpha:1", "nosuch"], "docker-archive", out / "a.tar")
    blob = store.image_layers(alpha)[0].blob
    os.unlink(store.blobs.path(blob))  # a damaged store: the save fails midway
    for fmt in FORMATS:
        with pytest.raises(StorageError):
            save_images(store, ["alpha:1"], fmt, out / f"{fmt}.out")  # type: ignore[arg-type]
    assert os.listdir(out) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    save_images(store, ["beta"], "oci-dir", empty)  # an empty directory is fine
    assert (empty / "index.json").is_file()


def test_save_to_a_fifo_writes_into_it_and_leaves_it_a_fifo(src: Any, tmp_path: Path) -> None:
    """``save -o`` replaces a regular file atomically, but a device or fifo (``/dev/null``) is
    written in place: a rename would swap it for a regular file (as root, /dev/null itself)."""
    import stat
    import tarfile
    import threading

    store, _, _ = src
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    save_images(store, ["alpha:1"], "docker-archive", fifo)
    reader.join(timeout=30)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    with tarfile.open(fileobj=io.BytesIO(received[0])) as tar:
        assert "manifest.json" in tar.getnames()
