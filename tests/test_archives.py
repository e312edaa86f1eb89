"""capsa save / load: OCI layouts, OCI archives and docker archives, on both storage drivers.

Images are built for real (``import_tarball``) in a temporary store, saved, and loaded into a
fresh store; the loaded images must have the same ids, names, diff ids and files. Bad archives
must fail with a one-line ArchiveError and leave the store's files exactly as they were.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from capsa import plugins
from capsa.errors import ArchiveError, ImageNotFound, StorageError, UsageError
from capsa.image.archives import load_images, save_images
from capsa.image.docker_archive import legacy_layers
from capsa.image.importing import import_tarball
from capsa.store.images import Image
from capsa.store.store import Store
from capsa.testing.drivers import make_driver
from oci_schema import assert_oci_valid

FORMATS = ["oci-dir", "oci-archive", "docker-archive"]
REF_NAME = "org.opencontainers.image.ref.name"


# -- building blocks -------------------------------------------------------------------------

def _tar(entries: list[tuple[str, Any]], prefix: str = "") -> bytes:
    """A tar of (name, content): bytes = file, ("dir",) = directory, ("sym", target),
    ("hard", target), ("exec", bytes) = mode 0755 file."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in entries:
            info = tarfile.TarInfo(prefix + name)
            info.mtime = 1_700_000_000
            data = b""
            if isinstance(content, bytes):
                info.mode, data = 0o644, content
            elif content[0] == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif content[0] == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
            elif content[0] == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, prefix + content[1]
            elif content[0] == "exec":
                info.mode, data = 0o755, content[1]
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def alpha_rootfs() -> bytes:
    return _tar([("bin", ("dir",)), ("bin/tool", ("exec", b"#!/bin/sh\necho tool\n")), ("etc", ("dir",)),
                 ("etc/hello", b"hello, world\n"), ("etc/hello-hard", ("hard", "etc/hello")),
                 ("usr", ("dir",)), ("usr/share", ("dir",)), ("usr/share/doc", ("dir",)),
                 ("usr/share/doc/readme", b"read me\n" * 100), ("link", ("sym", "etc/hello"))])


def beta_rootfs() -> bytes:
    return _tar([("data", ("dir",)), ("data/beta.txt", b"beta\n"), ("data/sub", ("dir",)),
                 ("data/sub/deep.txt", os.urandom(3000))])


def build_images(store: Store) -> tuple[Image, Image]:
    """alpha: a gzip layer with files, a symlink, a hardlink and subdirs; beta: a plain layer
    sharing nothing with it."""
    alpha = import_tarball(store, io.BytesIO(gzip.compress(alpha_rootfs())), ["localhost/alpha:1"],
                           ['CMD ["/bin/tool"]'], "alpha")
    beta = import_tarball(store, io.BytesIO(beta_rootfs()), ["localhost/beta:latest"], [], "beta")
    return alpha, beta


@pytest.fixture(params=["overlay", "vfs"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], Store]]:
    """Makes stores (one per name) on the parametrized driver; unmounts everything afterwards."""
    drivers: list[Any] = []

    def make(name: str) -> Store:
        base = tmp_path / name
        driver = make_driver("storage", request.param, base)
        drivers.append(driver)
        return Store(base / "root", base / "run", driver)

    yield make
    for driver in drivers:
        driver.cleanup()


@pytest.fixture
def src(new_store: Callable[[str], Store]) -> tuple[Store, Image, Image]:
    store = new_store("src")
    return (store, *build_images(store))


def files_of(store: Store, image: Image) -> dict[str, Any]:
    """Every path of the image's mounted root: type, mode, content or link target; hardlinked
    files carry the list of their fellow names."""
    root = store.driver.mount(image.top_layer)
    try:
        out: dict[str, Any] = {}
        inodes: dict[int, list[str]] = {}
        for path in sorted(root.rglob("*")):
            rel, st = str(path.relative_to(root)), path.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("file", stat.S_IMODE(st.st_mode), path.read_bytes())
                inodes.setdefault(st.st_ino, []).append(rel)
        for names in inodes.values():
            for name in names:
                out[name] += (tuple(names),)
        return out
    finally:
        store.driver.unmount(image.top_layer)


def diff_ids(store: Store, image: Image) -> list[str]:
    return [layer.diff_id for layer in store.image_layers(image)]  # type: ignore[misc]


def snapshot(root: Path) -> dict[str, Any]:
    """The store's files: regular files with their sizes, links, directories."""
    out: dict[str, Any] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(dirpath, name)
            st = path.lstat()
            out[str(path.relative_to(root))] = st.st_size if stat.S_ISREG(st.st_mode) else stat.S_IFMT(st.st_mode)
    return out


def saved(store: Store, refs: list[str], fmt: str, tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    dest = tmp_path / ("out-dir" if fmt == "oci-dir" else f"out-{fmt}.tar")
    save_images(store, refs, fmt, dest)  # type: ignore[arg-type]
    return dest


def tar_members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def tar_read(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.extractfile(name).read()  # type: ignore[union-attr]


def rewrite_tar(data: bytes, change: Callable[[str, bytes], bytes | None], extra: dict[str, bytes] | None = None) -> bytes:
    """A copy of a tar with each regular member's content passed through ``change`` (None drops it)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as old, tarfile.open(fileobj=out, mode="w") as new:
        for m in old.getmembers():
            if not m.isreg():
                new.addfile(m)
                continue
            content = change(m.name, old.extractfile(m).read())  # type: ignore[union-attr]
            if content is not None:
                m.size = len(content)
                new.addfile(m, io.BytesIO(content))
        for name, content in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            new.addfile(info, io.BytesIO(content))
    return out.getvalue()


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
        layers = json.loads((dst.root / "layers.json").read_bytes())
        blobs = sorted(os.listdir(dst.root / "blobs" / "sha256"))
        again = load_images(dst, archive)
        assert [i.id for i in again] == [i.id for i in first] == [alpha.id, beta.id]
        assert len(json.loads((dst.root / "layers.json").read_bytes())) == len(layers) == 2
        assert sorted(os.listdir(dst.root / "blobs" / "sha256")) == blobs
        assert len(dst.images.all()) == 2


def test_load_reports_an_image_event(src: Any, new_store: Callable[[str], Store], tmp_path: Path) -> None:
    from capsa.hookspecs import hookimpl

    store, alpha, _ = src
    seen: list[tuple[str, str, list[str]]] = []

    class Plugin:
        @hookimpl
        def capsa_image_event(self, action: str, image_id: str, names: list[str]) -> None:
            seen.append((action, image_id, names))

    plugins.reset_manager()
    plugins.get_manager().register(Plugin(), name="archive-test")
    try:
        load_images(new_store("dst"), saved(store, ["alpha:1"], "oci-archive", tmp_path))
    finally:
        plugins.reset_manager()
    assert seen == [("load", alpha.id, ["localhost/alpha:1"])]


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
    store.blobs.path(blob).unlink()  # a damaged store: the save fails midway
    for fmt in FORMATS:
        with pytest.raises(StorageError):
            save_images(store, ["alpha:1"], fmt, out / f"{fmt}.out")  # type: ignore[arg-type]
    assert os.listdir(out) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    save_images(store, ["beta"], "oci-dir", empty)  # an empty directory is fine
    assert (empty / "index.json").is_file()
