"""Pull and push together, against a real registry (docker-registry on 127.0.0.1): the one
progress renderer's lines (podman 4.3's, off a terminal), what a failed pull leaves in a store
that had things of its own, the blob cache a pull fills (a later push mounts from there), and an
extraction that fails on its own stopping its download."""
from __future__ import annotations

import hashlib
import os
import re

import pytest

from capsa.testing.imagebuilder import busybox_image, image_config, make_layer, whiteout_tar
from capsa.testing.registryupload import upload_image

from conftest import Capsa
from test_pull import _corrupt, created_store, image_id, open_store, push, store_tree

TLS = "--tls-verify=false"


@pytest.fixture
def cap(capsa: Capsa) -> Capsa:
    yield capsa
    capsa("rmi", "--all", "--force")


def test_pull_and_push_print_podmans_lines_off_a_terminal(cap: Capsa, registry) -> None:
    """The shapes podman 4.3 prints with standard error not a terminal: one line per blob
    (also one already there, with no "skipped"), the config's full digest, no "done"."""
    image = busybox_image("gzip")
    push(registry, "lib/bb", "1", image)
    name = f"{registry.host}/lib/bb:1"
    blobs = [f"Copying blob {layer.digest}" for layer in image.layers]
    tail = [f"Copying config sha256:{image_id(image)}", "Writing manifest to image destination", "Storing signatures"]
    for _ in range(2):  # fetched, then already stored: the same lines
        r = cap("pull", TLS, name)
        assert r.returncode == 0, r.stderr
        assert r.stderr.splitlines() == [f"Trying to pull {name}...", "Getting image source signatures", *blobs, *tail]
    for _ in range(2):  # uploaded, then skipped (the registry has them): the same lines
        r = cap("push", TLS, name, f"{registry.host}/other/bb:1")
        assert r.returncode == 0, r.stderr
        lines = r.stderr.splitlines()
        assert lines[0] == "Getting image source signatures"
        assert sorted(lines[1:3]) == sorted(blobs)  # (layers go up in parallel)
        assert lines[3:] == tail
    assert cap("pull", "-q", TLS, name).stderr == ""
    assert cap("push", "-q", TLS, name, f"{registry.host}/other/bb:2").stderr == ""


def test_a_failed_pull_removes_only_what_it_made(cap: Capsa, registry) -> None:
    """A layer no image uses (and its blob), made before the pull, survive its failure; the
    layer the pull made (the base, before the corrupt top failed) does not. (A blob nothing
    refers to at all is the store's own business: any writer reclaims it, Store.recover.)"""
    image = busybox_image("gzip")
    push(registry, "bb", "1", image)
    _corrupt(registry.blob_path(image.layers[1].digest))
    created_store(cap, registry)
    lone = make_layer(whiteout_tar({"etc/lone.txt": "mine\n"}), "gzip")
    store = open_store(cap)
    with store.writing():
        store.blobs.put(lone.data, lone.digest)
        layer = store.layers.add_from_blob(lone.digest, lone.media_type, None)
    before = store_tree(cap)
    r = cap("pull", TLS, f"{registry.host}/bb:1")
    assert r.returncode == 125 and image.layers[1].digest in r.stderr, r.stderr
    assert store_tree(cap) == before
    store = open_store(cap)
    assert store.layers.driver.list_layers() == [layer.id]
    assert [l.id for l in store.layers.all()] == [layer.id]
    assert store.blobs.exists(lone.digest)
    assert not store.blobs.exists(image.layers[0].digest)


def test_a_pulled_image_pushed_to_another_repository_is_mounted_from_where_it_was_pulled(cap: Capsa, registry) -> None:
    """The pull records where its blobs are (the store's blob cache): the image, known by a name
    on another registry only, is pushed with cross-repository mounts, not uploads."""
    image = busybox_image("gzip")
    push(registry, "pulled/bb", "1", image)
    name = f"{registry.host}/pulled/bb:1"
    assert cap("pull", "-q", TLS, name).returncode == 0
    assert cap("tag", name, "elsewhere.invalid/bb:1").returncode == 0
    assert cap("untag", name, name).returncode == 0  # no name on the registry: mount_from is empty
    registry.clear_log()
    r = cap("push", TLS, "elsewhere.invalid/bb:1", f"{registry.host}/pushed/bb:1")
    assert r.returncode == 0, r.stderr
    mounts = registry.requests_seen("POST", "mount=")
    assert len(mounts) == 3 and all("from=pulled%2Fbb" in m or "from=pulled/bb" in m for m in mounts), mounts
    assert registry.requests_seen("PUT", "/blobs/uploads/") == []


def _bytes_sent(registry, digest: str) -> list[int]:  # type: ignore[no-untyped-def]
    """The response sizes the registry logged for GETs of the blob ``digest``."""
    registry.access_log()  # (waits until the log settles)
    pattern = re.compile(r'"GET [^"]*/blobs/' + re.escape(digest) + r' HTTP/[0-9.]+" \d+ (\d+)')
    return [int(m.group(1)) for line in registry.log_lines() if (m := pattern.search(line))]


def test_a_layer_that_is_not_a_tar_stops_its_download(cap: Capsa, registry) -> None:
    """The extraction fails on the layer's first bytes: the download is cancelled then, not
    waited for to its end (the registry sent a part of the blob only), and nothing is stored."""
    garbage = b"X" * 512 + os.urandom(64 << 20)  # not a tar (a bad header), uncompressed: 64 MiB
    media_type = "application/vnd.oci.image.layer.v1.tar"
    config = image_config(["sha256:" + hashlib.sha256(garbage).hexdigest()])
    upload_image(registry, "junk", "1", [(garbage, media_type)], config)
    digest = "sha256:" + hashlib.sha256(garbage).hexdigest()
    before = created_store(cap, registry)
    registry.clear_log()
    r = cap("pull", TLS, f"{registry.host}/junk:1")
    assert r.returncode == 125 and "Traceback" not in r.stderr, r.stderr
    errors = [l for l in r.stderr.splitlines() if l.startswith("Error:")]
    assert len(errors) == 1 and digest in errors[0], r.stderr
    sent = _bytes_sent(registry, digest)
    assert len(sent) == 1 and sent[0] < len(garbage), (sent, len(garbage))  # waited for: all of it
    assert store_tree(cap) == before
    assert open_store(cap).layers.driver.list_layers() == []
