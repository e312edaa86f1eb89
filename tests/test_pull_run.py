"""``run``/``create`` pulling their image from a real registry: ``--pull missing`` (the
default), ``never``, ``always`` and ``newer``, the pull's output on standard error, ``-q``."""
from __future__ import annotations

import hashlib

import pytest

from capsa.testing.imagebuilder import busybox_image
from capsa.testing.registryupload import upload_image

from conftest import Capsa

TLS = "--tls-verify=false"


def push(registry, repo: str, tag: str, image) -> str:  # type: ignore[no-untyped-def]
    return upload_image(registry, repo, tag, [(layer.data, layer.media_type) for layer in image.layers], image.config,
                        image.manifest_media_type)


@pytest.fixture
def cap(capsa: Capsa) -> Capsa:
    yield capsa
    capsa("rm", "--all", "--force")
    capsa("rmi", "--all", "--force")


def test_run_pulls_a_missing_image_its_output_on_stderr(cap: Capsa, registry) -> None:
    image = busybox_image("gzip")
    push(registry, "bb", "1", image)
    name = f"{registry.host}/bb:1"
    r = cap("run", "--rm", TLS, name, "cat", "/etc/added.txt")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "added by the second layer\n"
    lines = r.stderr.splitlines()
    assert lines[0] == f"Trying to pull {name}..." and lines[-1] == "Storing signatures"
    registry.clear_log()
    r = cap("run", "--rm", TLS, name, "true")  # present now: no pull, no request
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert registry.access_log() == []


def test_create_pulls_quietly_with_q(cap: Capsa, registry) -> None:
    push(registry, "bb", "1", busybox_image("gzip", whiteouts=False))
    r = cap("create", "-q", TLS, f"{registry.host}/bb:1")
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" and len(r.stdout.strip()) == 64
    assert cap("container", "inspect", "--format", "{{.ImageName}}", r.stdout.strip()).stdout == f"{registry.host}/bb:1\n"


def test_pull_never_fails_as_podman_when_absent(cap: Capsa, registry) -> None:
    push(registry, "bb", "1", busybox_image("gzip", whiteouts=False))
    r = cap("run", "--rm", "--pull", "never", TLS, f"{registry.host}/bb:1", "true")
    assert r.returncode == 125
    assert r.stderr.splitlines()[0] == f"Error: {registry.host}/bb:1: image not known"
    assert registry.requests_seen("GET", "/manifests/") == []
    r = cap("run", "--rm", "--pull", "sometimes", f"{registry.host}/bb:1", "true")
    assert r.returncode == 125 and 'unsupported pull policy "sometimes"' in r.stderr  # (podman's words)


def test_pull_always_and_newer(cap: Capsa, registry) -> None:
    first = busybox_image("gzip", whiteouts=False)
    push(registry, "bb", "1", first)
    name = f"{registry.host}/bb:1"
    assert cap("run", "--rm", TLS, name, "true").returncode == 0

    r = cap("run", "--rm", "--pull=always", TLS, name, "true")
    assert r.returncode == 0 and r.stderr.startswith(f"Trying to pull {name}..."), r.stderr

    r = cap("run", "--rm", "--pull", "newer", TLS, name, "true")  # same digest: nothing pulled
    assert r.returncode == 0 and r.stderr == "", r.stderr

    second = busybox_image("gzip", whiteouts=False, extra_files={"etc/second": "2\n"})
    push(registry, "bb", "1", second)
    r = cap("run", "--rm", "--pull", "newer", TLS, name, "cat", "/etc/second")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "2\n" and r.stderr.startswith(f"Trying to pull {name}...")
    ids = cap("images", "-q", "--no-trunc").stdout.split()
    assert "sha256:" + hashlib.sha256(second.config).hexdigest() in ids


def test_run_platform_flags_reach_the_pull(cap: Capsa, registry) -> None:
    push(registry, "bb", "1", busybox_image("gzip", whiteouts=False))
    r = cap("run", "--rm", "--platform", "linux/arm64", "--arch", "arm64", TLS, f"{registry.host}/bb:1", "true")
    assert r.returncode == 125 and "--platform cannot be used with" in r.stderr
