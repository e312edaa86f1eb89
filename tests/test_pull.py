"""``pull`` against a real registry (Debian's docker-registry on 127.0.0.1): by tag and digest,
OCI and Docker schema 2, gzip/zstd/uncompressed layers, whiteouts that ``run`` honours, layers
already present not fetched again, and what a damaged registry does to a pull (nothing stored)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from capsa.testing.imagebuilder import busybox_image, make_layer
from capsa.testing.registryupload import upload_blob, upload_image

from conftest import Capsa

TLS = "--tls-verify=false"


def push(registry, repo: str, tag: str | None, image) -> str:  # type: ignore[no-untyped-def]
    return upload_image(registry, repo, tag, [(layer.data, layer.media_type) for layer in image.layers], image.config,
                        image.manifest_media_type)


def image_id(image) -> str:  # type: ignore[no-untyped-def]
    return hashlib.sha256(image.config).hexdigest()


def blob_gets(registry, digest: str) -> int:  # type: ignore[no-untyped-def]
    return len(registry.requests_seen("GET", f"/blobs/{digest}"))


def store_tree(cap: Capsa) -> dict[str, int]:
    """Every path under the store's root (directories too: -1), with file sizes."""
    return {str(path.relative_to(cap.root)): -1 if path.is_dir() else path.stat().st_size
            for path in cap.root.rglob("*")}


def created_store(cap: Capsa, registry) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Make the store exist and have had a layer (its driver's directories, its records), then
    be empty again; give its tree."""
    other = busybox_image(None, whiteouts=False, extra_files={"etc/warm-up": "1\n"})
    push(registry, "warm-up", "1", other)
    assert cap("pull", "-q", TLS, f"{registry.host}/warm-up:1").returncode == 0
    assert cap("rmi", "--all", "--force").returncode == 0
    assert open_store(cap).layers.driver.list_layers() == []
    return store_tree(cap)


def open_store(cap: Capsa):  # type: ignore[no-untyped-def]
    from capsa.drivers import load_driver
    from capsa.store.store import Store

    name = json.loads((cap.root / "storage.json").read_text())["driver"]
    return Store(cap.root, cap.runroot, load_driver("storage", name, {}, root=cap.root, runroot=cap.runroot))


def assert_nothing_stored(cap: Capsa, before: dict[str, int]) -> None:
    """The store is as it was: the same paths and sizes, and its storage driver has no layers."""
    assert store_tree(cap) == before
    assert open_store(cap).layers.driver.list_layers() == []
    assert cap("images", "-q").stdout == ""


@pytest.fixture
def cap(capsa: Capsa) -> Capsa:
    yield capsa
    capsa("rmi", "--all", "--force")


@pytest.mark.parametrize("compression,flavor", [("gzip", "oci"), ("zstd", "oci"), (None, "oci"), ("gzip", "docker"),
                                                (None, "docker")])
def test_pull_by_tag_then_run_sees_whiteouts(cap: Capsa, registry, compression: str | None, flavor: str) -> None:
    image = busybox_image(compression, flavor)
    digest = push(registry, "lib/bb", "1", image)
    name = f"{registry.host}/lib/bb:1"
    r = cap("pull", TLS, name)
    assert r.returncode == 0, r.stderr
    assert r.stdout == image_id(image) + "\n"
    lines = r.stderr.splitlines()
    assert lines[0] == f"Trying to pull {name}..." and lines[1] == "Getting image source signatures"
    assert [l for l in lines if l.startswith("Copying blob")] == [f"Copying blob {layer.digest}" for layer in image.layers]
    assert lines[-3:] == [f"Copying config sha256:{image_id(image)}", "Writing manifest to image destination",
                          "Storing signatures"]

    doc = json.loads(cap("image", "inspect", name).stdout)[0]
    assert doc["RepoTags"] == [name]
    assert doc["Digest"] == digest and doc["RepoDigests"] == [f"{registry.host}/lib/bb@{digest}"]
    out = cap("run", "--rm", name, "sh", "-c", "ls /etc /data; cat /etc/added.txt")
    assert out.returncode == 0, out.stderr
    assert "removed.txt" not in out.stdout and "old.txt" not in out.stdout
    assert "new.txt" in out.stdout and "added by the second layer" in out.stdout


def test_pull_by_digest_names_the_image_by_its_digest(cap: Capsa, registry) -> None:
    image = busybox_image("gzip", whiteouts=False)
    digest = push(registry, "bb", None, image)
    r = cap("pull", "-q", TLS, f"{registry.host}/bb@{digest}")
    assert r.returncode == 0, r.stderr
    assert r.stdout == image_id(image) + "\n" and r.stderr == ""
    doc = json.loads(cap("image", "inspect", f"{registry.host}/bb@{digest}").stdout)[0]
    assert doc["Digest"] == digest and doc["RepoTags"] == []
    assert cap("images", "--format", "{{.Repository}} {{.Tag}}").stdout == f"{registry.host}/bb <none>\n"


def test_a_manifest_that_does_not_match_the_digest_asked_for_is_refused(cap: Capsa, registry) -> None:
    image = busybox_image("gzip", whiteouts=False)
    digest = push(registry, "bb", None, image)
    # the registry serves a different manifest under the digest it was asked for
    other = busybox_image("gzip", whiteouts=False, extra_files={"etc/x": "x"})
    other_digest = push(registry, "bb", None, other)
    blob = registry.blob_path(digest)
    blob.write_bytes(registry.blob_path(other_digest).read_bytes())
    before = created_store(cap, registry)
    r = cap("pull", TLS, f"{registry.host}/bb@{digest}")
    assert r.returncode == 125
    assert_nothing_stored(cap, before)


def test_index_platform_selection(cap: Capsa, registry) -> None:
    from capsa.testing.imagebuilder import host_architecture
    from capsa.testing.registryupload import upload_index

    host = host_architecture()
    other_arch = "arm64" if host != "arm64" else "amd64"
    native = busybox_image("gzip", whiteouts=False, extra_files={"etc/arch": "native\n"})
    foreign = busybox_image("gzip", whiteouts=False, architecture=other_arch, extra_files={"etc/arch": "foreign\n"})
    arm_v7 = busybox_image("gzip", whiteouts=False, architecture="arm", variant="v7", extra_files={"etc/arch": "armv7\n"})
    entries = []
    for img, platform in ((foreign, {"os": "linux", "architecture": other_arch}),
                          (native, {"os": "linux", "architecture": host}),
                          (arm_v7, {"os": "linux", "architecture": "arm", "variant": "v7"})):
        entries.append((push(registry, "multi", None, img), platform))
    index_digest = upload_index(registry, "multi", "1", entries)
    name = f"{registry.host}/multi:1"

    r = cap("pull", "-q", TLS, name)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == image_id(native)
    doc = json.loads(cap("image", "inspect", name).stdout)[0]
    assert f"{registry.host}/multi@{index_digest}" in doc["RepoDigests"]
    assert f"{registry.host}/multi@{entries[1][0]}" in doc["RepoDigests"]
    check = cap("system", "check")  # the index's digest is recorded with its blob: nothing to repair
    assert check.returncode == 0 and "No problems found" in check.stdout, check.stdout + check.stderr

    assert cap("pull", "-q", TLS, "--arch", other_arch, name).stdout.strip() == image_id(foreign)
    assert cap("pull", "-q", TLS, "--platform", f"linux/{other_arch}", name).stdout.strip() == image_id(foreign)
    assert cap("pull", "-q", TLS, "--platform", "linux/arm/v7", name).stdout.strip() == image_id(arm_v7)
    assert cap("pull", "-q", TLS, "--arch", "arm", "--variant", "v7", name).stdout.strip() == image_id(arm_v7)

    r = cap("pull", TLS, "--platform", "linux/s390x", name)
    assert r.returncode == 125
    error = [l for l in r.stderr.splitlines() if l.startswith("Error:")]
    assert error == ["Error: no image for platform linux/s390x in the image index"]
    assert f"linux/{other_arch}" in r.stderr and "linux/arm/v7" in r.stderr
    r = cap("pull", TLS, "--platform", "linux/arm64", "--arch", "arm64", name)
    assert r.returncode == 125 and "--platform cannot be used with --os, --arch or --variant" in r.stderr


def test_schema1_is_refused_in_one_line(cap: Capsa, registry) -> None:
    image = busybox_image("gzip", whiteouts=False)
    layer = image.layers[0]
    upload_blob(registry, "old", layer.data)
    schema1 = {"schemaVersion": 1, "name": "old", "tag": "1", "architecture": "amd64",
               "fsLayers": [{"blobSum": layer.digest}], "history": [{"v1Compatibility": "{}"}]}
    body = json.dumps(schema1).encode()
    _plant_manifest(registry, "old", "1", body)
    before = created_store(cap, registry)
    r = cap("pull", TLS, f"{registry.host}/old:1")
    assert r.returncode == 125
    errors = [l for l in r.stderr.splitlines() if l.startswith("Error:")]
    assert len(errors) == 1 and "schema 1" in errors[0], r.stderr
    assert_nothing_stored(cap, before)


def _plant_manifest(registry, repo: str, tag: str, body: bytes) -> str:  # type: ignore[no-untyped-def]
    """Put a manifest straight into the registry's storage (what a registry of old, or a damaged
    one, serves) under ``tag``: the registry would refuse it on upload."""
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    blob = registry.blob_path(digest)
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(body)
    repo_dir = registry.repository_dir(repo) / "_manifests"
    for link in (repo_dir / "revisions/sha256" / digest[7:] / "link", repo_dir / "tags" / tag / "current/link",
                 repo_dir / "tags" / tag / "index/sha256" / digest[7:] / "link"):
        link.parent.mkdir(parents=True, exist_ok=True)
        link.write_text(digest)
    return digest


def test_layers_already_present_are_not_downloaded_again(cap: Capsa, registry) -> None:
    first = busybox_image("gzip")
    push(registry, "bb", "1", first)
    assert cap("pull", "-q", TLS, f"{registry.host}/bb:1").returncode == 0
    base, top = first.layers

    # an image on the same base layer: only its own top layer and config are fetched
    from capsa.testing.imagebuilder import image_config, whiteout_tar

    top2 = make_layer(whiteout_tar({"etc/second.txt": "2\n"}), "gzip")
    config2 = image_config([base.diff_id, top2.diff_id])
    upload_image(registry, "bb", "2", [(base.data, base.media_type), (top2.data, top2.media_type)], config2)
    registry.clear_log()
    r = cap("pull", TLS, f"{registry.host}/bb:2")
    assert r.returncode == 0, r.stderr
    assert blob_gets(registry, base.digest) == 0
    assert blob_gets(registry, top2.digest) == 1

    # an image already present: the manifest only (and no blob at all)
    registry.clear_log()
    r = cap("pull", TLS, f"{registry.host}/bb:1")
    assert r.returncode == 0, r.stderr
    assert r.stdout == image_id(first) + "\n"
    assert registry.requests_seen("GET", "/blobs/") == []
    assert len(registry.requests_seen("GET", "/manifests/")) == 1
    # and the same image under a new tag gets the new name
    upload_image(registry, "bb", "again", [(l.data, l.media_type) for l in first.layers], first.config)
    registry.clear_log()
    assert cap("pull", "-q", TLS, f"{registry.host}/bb:again").returncode == 0
    assert registry.requests_seen("GET", "/blobs/") == []
    names = json.loads(cap("image", "inspect", image_id(first)).stdout)[0]["RepoTags"]
    assert sorted(names) == sorted([f"{registry.host}/bb:1", f"{registry.host}/bb:again"])


def _corrupt(path: Path, grow: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data) + b"\0" * grow)


@pytest.mark.parametrize("which", ["base", "top"])
def test_a_corrupt_blob_fails_the_pull_naming_it_and_stores_nothing(cap: Capsa, registry, which: str) -> None:
    image = busybox_image("gzip")
    push(registry, "bb", "1", image)
    layer = image.layers[0 if which == "base" else 1]
    _corrupt(registry.blob_path(layer.digest))
    before = created_store(cap, registry)
    r = cap("pull", TLS, f"{registry.host}/bb:1")
    assert r.returncode == 125
    errors = [l for l in r.stderr.splitlines() if l.startswith("Error:")]
    assert len(errors) == 1 and layer.digest in errors[0], r.stderr
    assert "Traceback" not in r.stderr
    assert_nothing_stored(cap, before)


def test_a_blob_larger_than_its_descriptor_is_refused(cap: Capsa, registry) -> None:
    image = busybox_image("gzip")
    push(registry, "bb", "1", image)
    top = image.layers[1]
    path = registry.blob_path(top.digest)
    path.write_bytes(path.read_bytes() + b"\0" * (3 << 20))
    before = created_store(cap, registry)
    r = cap("pull", TLS, f"{registry.host}/bb:1")
    assert r.returncode == 125
    errors = [l for l in r.stderr.splitlines() if l.startswith("Error:")]
    assert len(errors) == 1 and top.digest in errors[0], r.stderr
    assert_nothing_stored(cap, before)


def test_a_manifest_that_is_not_json_is_refused(cap: Capsa, registry) -> None:
    image = busybox_image("gzip", whiteouts=False)
    digest = push(registry, "bb", "1", image)
    registry.blob_path(digest).write_bytes(b"this is not JSON at all" + b" " * 40)
    before = created_store(cap, registry)
    r = cap("pull", TLS, f"{registry.host}/bb:1")
    assert r.returncode == 125
    errors = [l for l in r.stderr.splitlines() if l.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in r.stderr, r.stderr
    assert_nothing_stored(cap, before)


def test_unknown_image_tag_and_unreachable_registry(cap: Capsa, registry) -> None:
    push(registry, "bb", "1", busybox_image("gzip", whiteouts=False))
    for name in (f"{registry.host}/nothing:1", f"{registry.host}/bb:2"):
        r = cap("pull", TLS, name)
        assert r.returncode == 125, r.stderr
        errors = [l for l in r.stderr.splitlines() if l.startswith("Error:")]
        assert len(errors) == 1 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.splitlines()[0] == f"Trying to pull {name}..."
    from capsa.testing.registryserver import free_port

    r = cap("pull", TLS, f"127.0.0.1:{free_port()}/bb:1", timeout=120)
    assert r.returncode == 125
    errors = [l for l in r.stderr.splitlines() if l.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in r.stderr, r.stderr
    assert cap("images", "-q").stdout == ""


def test_all_tags(cap: Capsa, registry) -> None:
    one = busybox_image("gzip", whiteouts=False)
    two = busybox_image("gzip", whiteouts=False, extra_files={"etc/two": "2"})
    push(registry, "bb", "1", one)
    push(registry, "bb", "2", two)
    r = cap("pull", "-a", "-q", TLS, f"{registry.host}/bb")
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.split()) == sorted([image_id(one), image_id(two)])
    r = cap("pull", "--all-tags", TLS, f"{registry.host}/bb:1")
    assert r.returncode == 125 and "tag can't be used with --all-tags/-a" in r.stderr


def test_flags_refused_or_accepted_as_podman(cap: Capsa, registry) -> None:
    push(registry, "bb", "1", busybox_image("gzip", whiteouts=False))
    r = cap("pull", TLS, "--decryption-key", "key.pem", f"{registry.host}/bb:1")
    assert r.returncode == 125 and r.stderr.startswith("Error: --decryption-key is not supported")
    r = cap("image", "pull", "-q", TLS, "--disable-content-trust", f"{registry.host}/bb:1")
    assert r.returncode == 0 and len(r.stdout.strip()) == 64, r.stderr
    r = cap("pull", "-q", f"{registry.host}/bb:1")  # TLS verified by default: plain HTTP fails
    assert r.returncode == 125 and "--tls-verify=false" in r.stderr


def test_an_image_pushed_by_skopeo_is_pullable(cap: Capsa, registry, tmp_path: Path) -> None:
    import shutil
    import subprocess

    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed (scripts/setup.sh installs it)")
    image = busybox_image("gzip")
    layout = tmp_path / "layout"
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    from capsa.testing.registryupload import image_manifest

    manifest = image_manifest([(l.data, l.media_type) for l in image.layers], image.config)
    for data in [l.data for l in image.layers] + [image.config, manifest]:
        (blobs / hashlib.sha256(data).hexdigest()).write_bytes(data)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + hashlib.sha256(manifest).hexdigest(),
         "size": len(manifest)}]}))
    copy = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", f"oci:{layout}",
                           f"docker://{registry.host}/skopeo/bb:1"], capture_output=True, text=True, timeout=120)
    assert copy.returncode == 0, copy.stderr
    r = cap("pull", "-q", TLS, f"{registry.host}/skopeo/bb:1")
    assert r.returncode == 0, r.stderr
    out = cap("run", "--rm", f"{registry.host}/skopeo/bb:1", "cat", "/etc/added.txt")
    assert out.returncode == 0 and out.stdout == "added by the second layer\n", out.stderr


def test_progress_bars_on_a_terminal(cap: Capsa, registry) -> None:
    import os
    import pty
    import subprocess

    from conftest import CAPSA
    from test_corruption import record_events

    image = busybox_image("gzip")
    push(registry, "bb", "1", image)
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([str(CAPSA), "--root", str(cap.root), "--runroot", str(cap.runroot), "pull", TLS,
                               f"{registry.host}/bb:1"], stdout=subprocess.PIPE, stderr=slave, env=cap.env,
                              timeout=60)
        os.close(slave)
        slave = -1
        shown = b""
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            shown += data
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    assert proc.returncode == 0
    assert proc.stdout.decode() == image_id(image) + "\n"
    text = shown.decode(errors="replace")
    assert f"Trying to pull {registry.host}/bb:1..." in text
    for layer in image.layers:
        assert f"Copying blob {layer.digest[7:19]} done" in text
    assert "Traceback" not in text and "Storing signatures" in text


def test_short_names_try_each_search_registry_in_turn(cap: Capsa, registry_factory) -> None:
    first, second = registry_factory(), registry_factory()
    image = busybox_image("gzip", whiteouts=False)
    push(second, "team/bb", "1", image)
    cap.write_config(f'[registry]\nunqualified_search = ["{first.host}", "{second.host}"]\n'
                     f'short_name_mode = "permissive"\n'
                     f'[registry.registries."{first.host}"]\ninsecure = true\n'
                     f'[registry.registries."{second.host}"]\ninsecure = true\n')
    r = cap("pull", "team/bb:1")
    assert r.returncode == 0, r.stderr
    trying = [l for l in r.stderr.splitlines() if l.startswith("Trying")]
    assert trying == [f"Trying to pull {first.host}/team/bb:1...", f"Trying to pull {second.host}/team/bb:1..."]
    assert r.stdout == image_id(image) + "\n"
    assert cap("images", "--format", "{{.Repository}}:{{.Tag}}").stdout == f"{second.host}/team/bb:1\n"
    # and run finds it by the short name without pulling again
    second.clear_log()
    out = cap("run", "--rm", "team/bb:1", "true")
    assert out.returncode == 0 and out.stderr == "", out.stderr


def test_a_mirror_serves_the_pull_and_the_image_keeps_its_name(cap: Capsa, registry) -> None:
    image = busybox_image("gzip", whiteouts=False)
    push(registry, "lib/bb", "1", image)
    cap.write_config(f'[registry.registries."nowhere.invalid:5000"]\nmirrors = ["{registry.host}"]\n'
                     f'[registry.registries."{registry.host}"]\ninsecure = true\n')
    r = cap("pull", "-q", "nowhere.invalid:5000/lib/bb:1", timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == image_id(image) + "\n"
    assert cap("images", "--format", "{{.Repository}}:{{.Tag}}").stdout == "nowhere.invalid:5000/lib/bb:1\n"


def test_pulled_layers_are_synced_before_their_records_say_they_are_complete(cap: Capsa, registry,
                                                                            tmp_path: Path) -> None:
    """The layers of a pull are extracted one after another while the earlier ones flush in
    the background; on the pulling thread, a syncfs(2) comes after the last layer's data and
    before the records that complete the layers and the image's record."""
    import re
    import shutil
    import subprocess

    from conftest import CAPSA
    from test_corruption import record_events

    if shutil.which("strace") is None:
        pytest.skip("strace is not installed (scripts/setup.sh installs it)")
    push(registry, "synced", "1", busybox_image())  # two layers
    trace = tmp_path / "trace.txt"
    r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=syncfs,sync,rename", "-o", str(trace), str(CAPSA),
                        "--root", str(cap.root), "--runroot", str(cap.runroot), "pull", "-q", TLS,
                        f"{registry.host}/synced:1"], capture_output=True, text=True, env=cap.env, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = trace.read_text().splitlines()
    main = lines[0].split()[0]  # the process's first thread: the one that pulls and records
    events = record_events([line for line in lines if line.split()[0] == main])
    # records of the incomplete layers, one sync, the two layers completed, the image
    assert re.fullmatch(r"(layers\.json )+sync layers\.json layers\.json images\.json", " ".join(events)), events
