"""Who and where, end to end through ``pull`` against real registries: mirrors in order (a dead
one skipped), blocked registries, aliases, the search list's ambiguity, certs.d and insecure
settings, and credentials from ``login``'s auth file, docker's config.json and the
``capsa_registry_credentials`` hook of a real plugin package."""
from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from capsa.testing.imagebuilder import busybox_image
from capsa.testing.registryupload import upload_image
from conftest import Capsa
from registries import BASIC_PASSWORD, BASIC_USER
from test_third_party import package_fixture


def push(registry, repo: str, tag: str, image, auth=None) -> str:  # type: ignore[no-untyped-def]
    return upload_image(registry, repo, tag, [(layer.data, layer.media_type) for layer in image.layers], image.config,
                        image.manifest_media_type, auth=auth)


def image_id(image) -> str:  # type: ignore[no-untyped-def]
    return hashlib.sha256(image.config).hexdigest()


def manifest_gets(registry, repo: str) -> int:  # type: ignore[no-untyped-def]
    return len([t for t in registry.requests_seen("GET", f"/v2/{repo}/manifests/")])


def insecure(*hosts: str) -> str:
    return "".join(f'[registry.registries."{host}"]\ninsecure = true\n' for host in hosts)


@pytest.fixture
def cap(capsa: Capsa) -> Iterator[Capsa]:
    capsa.env.update(XDG_RUNTIME_DIR=str(capsa.tmp / "xdg-run"), DOCKER_CONFIG=str(capsa.tmp / "docker"))
    yield capsa
    capsa("rmi", "--all", "--force")


def ids(cap: Capsa) -> list[str]:
    return cap("images", "-q", "--no-trunc").stdout.split()


def test_mirrors_are_tried_in_order_before_the_registry(cap: Capsa, registry_factory) -> None:  # type: ignore[no-untyped-def]
    origin, mirror = registry_factory(), registry_factory()
    at_origin = busybox_image("gzip", whiteouts=False, labels={"served-by": "origin"})
    at_mirror = busybox_image("gzip", whiteouts=False, labels={"served-by": "mirror"})
    push(origin, "lib/bb", "1", at_origin)
    push(mirror, "cache/lib/bb", "1", at_mirror)
    cap.write_config(f'[registry.registries."{origin.host}"]\ninsecure = true\n'
                     f'mirrors = ["127.0.0.1:1", "{mirror.host}/cache"]\n' + insecure("127.0.0.1:1", mirror.host))
    r = cap("pull", "-q", f"{origin.host}/lib/bb:1", timeout=120)
    assert (r.returncode, r.stdout) == (0, image_id(at_mirror) + "\n"), r.stderr  # the dead mirror skipped, the live one used
    assert manifest_gets(origin, "lib/bb") == 0 and manifest_gets(mirror, "cache/lib/bb") >= 1
    assert cap("images", "--format", "{{.Repository}}:{{.Tag}}").stdout == f"{origin.host}/lib/bb:1\n"

    cap("rmi", "--all", "--force")
    mirror.clear_log()
    cap.write_config(f'[registry.registries."{origin.host}"]\ninsecure = true\nmirrors = ["127.0.0.1:1"]\n'
                     + insecure("127.0.0.1:1"))
    r = cap("pull", "-q", f"{origin.host}/lib/bb:1", timeout=120)
    assert (r.returncode, r.stdout) == (0, image_id(at_origin) + "\n"), r.stderr  # every mirror failed: the registry


def test_a_blocked_registry_is_refused_without_a_request(cap: Capsa, registry) -> None:  # type: ignore[no-untyped-def]
    push(registry, "lib/bb", "1", busybox_image("gzip", whiteouts=False))
    cap.write_config(f'[registry.registries."{registry.host}/lib"]\nblocked = true\ninsecure = true\n')
    registry.clear_log()
    r = cap("pull", f"{registry.host}/lib/bb:1")
    assert r.returncode == 125 and "Traceback" not in r.stderr
    assert [line for line in r.stderr.splitlines() if line.startswith("Error")] == [(f"Error: cannot pull {registry.host}/lib/bb:1: registry {registry.host}/lib is "
                                        f'blocked by the configuration ([registry.registries."{registry.host}/lib"] blocked = true)')]
    assert registry.access_log() == [] and ids(cap) == []
    from conftest import make_rootfs_tar

    tar = make_rootfs_tar(cap.tmp / "rootfs.tar", {"etc/x": "x"}, busybox=False)
    assert cap("import", "-q", str(tar), f"{registry.host}/lib/local:1").returncode == 0
    r = cap("push", f"{registry.host}/lib/local:1")
    assert r.returncode == 125 and registry.access_log() == []
    assert f"Error: cannot push {registry.host}/lib/local:1: registry {registry.host}/lib is blocked" in r.stderr


def test_an_alias_names_the_registry(cap: Capsa, registry) -> None:  # type: ignore[no-untyped-def]
    image = busybox_image("gzip", whiteouts=False)
    push(registry, "team/bb", "2", image)
    cap.write_config(f'[registry]\nunqualified_search = ["quay.io", "docker.io"]\n'
                     f'[registry.aliases]\nbb = "{registry.host}/team/bb"\n' + insecure(registry.host))
    r = cap("pull", "-q", "bb:2")
    assert (r.returncode, r.stdout) == (0, image_id(image) + "\n"), r.stderr
    assert cap("images", "--format", "{{.Repository}}:{{.Tag}}").stdout == f"{registry.host}/team/bb:2\n"


def test_an_ambiguous_short_name_without_a_terminal(cap: Capsa, registry_factory) -> None:  # type: ignore[no-untyped-def]
    one, two = registry_factory(), registry_factory()
    cap.write_config(f'[registry]\nunqualified_search = ["{one.host}", "{two.host}"]\n' + insecure(one.host, two.host))
    r = cap("pull", "bb:1")
    assert r.returncode == 125
    assert r.stderr.splitlines()[0] == (f"Error: short name 'bb:1' is ambiguous: it may be any of {one.host}/bb:1, "
                                        f"{two.host}/bb:1")
    assert "fully qualified name" in r.stderr.splitlines()[1]
    assert one.access_log() == [] and two.access_log() == []


def test_certs_d_and_cert_dir_reach_the_pull(cap: Capsa, tls_registry) -> None:  # type: ignore[no-untyped-def]
    image = busybox_image("gzip", whiteouts=False)
    push(tls_registry, "lib/bb", "1", image)
    name = f"{tls_registry.host}/lib/bb:1"
    r = cap("pull", "-q", name)
    assert r.returncode == 125 and "certificate" in r.stderr  # a CA nobody trusts
    r = cap("pull", "-q", "--cert-dir", str(tls_registry.tls.cert_dir), name)
    assert (r.returncode, r.stdout) == (0, image_id(image) + "\n"), r.stderr
    cap("rmi", "--all", "--force")
    cap.write_config(f'[registry]\ncerts_dir = "{tls_registry.certs_d}"\n')
    r = cap("pull", "-q", name)
    assert (r.returncode, r.stdout) == (0, image_id(image) + "\n"), r.stderr


def test_credentials_from_login_and_from_docker_config(cap: Capsa, basic_registry) -> None:  # type: ignore[no-untyped-def]
    image = busybox_image("gzip", whiteouts=False)
    push(basic_registry, "lib/bb", "1", image, auth=(BASIC_USER, BASIC_PASSWORD))
    name = f"{basic_registry.host}/lib/bb:1"
    cap.write_config(insecure(basic_registry.host))
    r = cap("pull", "-q", name)
    assert r.returncode == 125 and ids(cap) == []  # anonymous: refused
    r = cap("login", "-u", BASIC_USER, "--password-stdin", basic_registry.host, input=BASIC_PASSWORD)
    assert r.returncode == 0, r.stderr
    assert cap("pull", "-q", name).stdout == image_id(image) + "\n"
    cap("rmi", "--all", "--force")
    assert cap("logout", "--all").returncode == 0
    docker = Path(cap.env["DOCKER_CONFIG"])
    docker.mkdir()
    entry = {"auth": base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()}
    (docker / "config.json").write_text(json.dumps({"auths": {f"https://{basic_registry.host}/v1/": entry}}))
    r = cap("pull", "-q", name)
    assert (r.returncode, r.stdout) == (0, image_id(image) + "\n"), r.stderr


recorder = package_fixture("capsa-hook-recorder")


def test_hooks_give_the_pull_its_name_and_credentials(recorder: None, cap: Capsa, basic_registry) -> None:  # type: ignore[no-untyped-def]
    image = busybox_image("gzip", whiteouts=False)
    push(basic_registry, "lib/bb", "3", image, auth=(BASIC_USER, BASIC_PASSWORD))
    host = basic_registry.host
    cap.write_config('[registry]\nunqualified_search = ["quay.io", "docker.io"]\n' + insecure(host))
    record = cap.tmp / "hooks.jsonl"
    env = {"CAPSA_HOOK_RECORD": str(record), "CAPSA_HOOK_SHORT_NAMES": json.dumps({"hooked": f"{host}/lib/bb"}),
           "CAPSA_HOOK_CREDENTIALS": json.dumps({host: [BASIC_USER, BASIC_PASSWORD]})}
    r = cap("--log-level", "debug", "pull", "-q", "hooked:3", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == image_id(image) and BASIC_PASSWORD not in r.stdout + r.stderr
    rows = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(row["name"], row["search_registries"]) for row in rows if row["hook"] == "capsa_resolve_short_name"] == \
        [("hooked", ["quay.io", "docker.io"])]
    assert {row["registry"] for row in rows if row["hook"] == "capsa_registry_credentials"} == {host}
    assert cap("images", "--format", "{{.Repository}}:{{.Tag}}").stdout == f"{host}/lib/bb:3\n"
    assert not (cap.tmp / "xdg-run" / "containers" / "auth.json").exists()  # nothing stored


def test_a_refused_pull_never_shows_the_password(cap: Capsa, basic_registry) -> None:  # type: ignore[no-untyped-def]
    secret = "Pull-distinctive-Secret-9921"
    push(basic_registry, "lib/bb", "1", busybox_image("gzip", whiteouts=False), auth=(BASIC_USER, BASIC_PASSWORD))
    cap.write_config(insecure(basic_registry.host))
    r = cap("--log-level", "debug", "pull", "--creds", f"{BASIC_USER}:{secret}", f"{basic_registry.host}/lib/bb:1")
    assert r.returncode == 125 and ids(cap) == []
    assert secret not in r.stdout + r.stderr
    assert base64.b64encode(f"{BASIC_USER}:{secret}".encode()).decode() not in r.stdout + r.stderr


def test_a_docker_identity_token_is_used_as_a_refresh_token(cap: Capsa, registry_factory) -> None:  # type: ignore[no-untyped-def]
    from capsa.testing.tokenservice import TokenService

    server = registry_factory(token=TokenService(users={"reader": "read-secret", "pusher": "push-secret"},
                                                 permissions={"reader": ("pull",), "pusher": ("pull", "push")}))
    image = busybox_image("gzip", whiteouts=False)
    push(server, "lib/bb", "1", image, auth=("pusher", "push-secret"))
    cap.write_config(insecure(server.host))
    name = f"{server.host}/lib/bb:1"
    assert cap("pull", "-q", name).returncode == 125  # anonymous may not pull here
    docker = Path(cap.env["DOCKER_CONFIG"])
    docker.mkdir()
    (docker / "config.json").write_text(json.dumps({"auths": {server.host: {"identitytoken": "refresh-reader"}}}))
    server.token.clear()
    r = cap("pull", "-q", name)
    assert (r.returncode, r.stdout) == (0, image_id(image) + "\n"), r.stderr
    assert any(req.user == "reader" and req.status == 200 and req.params.get("grant_type") == "refresh_token"
               for req in server.token.requests)
