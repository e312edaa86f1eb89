"""``capsa.image.committing`` through a real store, on both storage drivers: a writable
layer's changes (files added, deleted: whiteouts) become an image layer; the same content gives
the same diff id and layer; empty-layer steps, ``FROM scratch`` and Docker-format images."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Capsa
from containers import STORAGE_DRIVERS, driver_store, store_session

STAMP = 1_000_000_000


@pytest.fixture(scope="module", params=STORAGE_DRIVERS)
def store_cli(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    yield from driver_store(request, tmp_path_factory, "committing")


@pytest.fixture
def store(store_cli: Capsa) -> Iterator[object]:
    from capsa.engine.session import open_store

    sess = store_session(store_cli)
    st = open_store(sess)
    yield st
    st.driver.cleanup()
    sess.close()


def busybox(store: object):  # type: ignore[no-untyped-def]
    return store.find_image("busybox")  # type: ignore[attr-defined]


def writable_with(store, parent: str | None, files: dict[str, str], delete: tuple[str, ...] = ()) -> str:  # type: ignore[no-untyped-def]
    """A new writable layer on ``parent`` holding ``files`` and without ``delete``, every
    path's mtime fixed (so that two such layers hold identical trees)."""
    layer = store.layers.create_empty(parent)
    root = Path(store.driver.mount(layer.id))
    try:
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        for rel in delete:
            os.unlink(root / rel)
        for rel in {*files, *delete}:
            path = root / rel
            while path != root:
                if path.exists():
                    os.utime(path, (STAMP, STAMP))
                path = path.parent
    finally:
        store.driver.unmount(layer.id)
    return layer.id


def test_a_layer_from_a_writable_layer_holds_its_changes_and_same_content_gives_the_same_layer(store) -> None:  # type: ignore[no-untyped-def]
    from capsa.image.committing import derive_image, layer_from_container

    with store.writing():
        base = busybox(store)
        top = store.layers.get(base.top_layer)
        one = writable_with(store, top.id, {"new/file.txt": "hello\n"}, delete=("etc/group",))
        two = writable_with(store, top.id, {"new/file.txt": "hello\n"}, delete=("etc/group",))
        first = layer_from_container(store, one, top)
        second = layer_from_container(store, two, top)
        assert first.diff_id == second.diff_id and first.id == second.id
        assert first.parent == top.id and first.blob == first.diff_id  # stored uncompressed
        other = layer_from_container(store, writable_with(store, top.id, {"new/file.txt": "bye\n"}), top)
        assert other.diff_id != first.diff_id
        runtime = {**store.config_of(base)["config"], "Cmd": ["cat", "/new/file.txt"]}
        image = derive_image(store, base, first, runtime, {"created_by": "/bin/sh -c test"}, ["localhost/derived:latest"],
                             author="someone")
        config = store.config_of(image)
        base_config = store.config_of(base)
        assert config["rootfs"]["diff_ids"] == [*base_config["rootfs"]["diff_ids"], first.diff_id]
        assert config["config"] == runtime and config["author"] == "someone"
        assert config["history"][:-1] == base_config["history"]
        assert config["history"][-1]["created_by"] == "/bin/sh -c test" and "empty_layer" not in config["history"][-1]
        assert config["architecture"] == base_config["architecture"]
        manifest = json.loads(store.manifest_of(image))
        assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        assert manifest["layers"][-1] == {"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                          "digest": first.diff_id, "size": store.blobs.size(first.diff_id)}
        root = Path(store.driver.mount(image.top_layer))
        try:
            assert (root / "new/file.txt").read_text() == "hello\n"
            assert not (root / "etc/group").exists() and (root / "etc/passwd").exists()
        finally:
            store.driver.unmount(image.top_layer)
        for layer_id in (one, two):
            store.layers.remove(layer_id)
        store.delete_images([image])
        store.collect_garbage()


def test_an_empty_layer_step_adds_history_only(store) -> None:  # type: ignore[no-untyped-def]
    from capsa.image.committing import derive_image

    with store.writing():
        base = busybox(store)
        runtime = {**store.config_of(base)["config"], "Env": ["A=b"]}
        image = derive_image(store, base, None, runtime, {"created_by": "/bin/sh -c #(nop) ENV A=b"}, [],
                             intermediate=True)
        config = store.config_of(image)
        assert image.top_layer == base.top_layer and image.intermediate and not image.names
        assert config["rootfs"] == store.config_of(base)["rootfs"]
        assert config["history"][-1]["empty_layer"] is True and config["config"]["Env"] == ["A=b"]
        store.delete_images([image])


def test_from_scratch_and_the_docker_format(store) -> None:  # type: ignore[no-untyped-def]
    from capsa.hostinfo import go_arch
    from capsa.image.committing import derive_image, layer_from_container

    with store.writing():
        writable = writable_with(store, None, {"hello": "world\n"})
        layer = layer_from_container(store, writable, None)
        assert layer.parent is None
        image = derive_image(store, None, layer, {"Cmd": ["/hello"]}, {"created_by": "/bin/sh -c #(nop) COPY hello /"},
                             ["localhost/scratchy:1"], fmt="docker", comment="a message")
        config = store.config_of(image)
        assert config["rootfs"]["diff_ids"] == [layer.diff_id]
        assert (config["architecture"], config["os"]) == (go_arch(), "linux")
        assert len(config["history"]) == 1 and config["comment"] == "a message"
        manifest = json.loads(store.manifest_of(image))
        assert manifest["mediaType"] == image.manifest_media_type == "application/vnd.docker.distribution.manifest.v2+json"
        assert manifest["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
        assert [entry["mediaType"] for entry in manifest["layers"]] == ["application/vnd.docker.image.rootfs.diff.tar"]
        store.layers.remove(writable)
        store.delete_images([image])
