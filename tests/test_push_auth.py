"""``push`` to registries that want credentials (htpasswd Basic auth, Bearer tokens from a token
service) and over HTTPS with a CA the test made: credentials from ``--creds`` or from the auth
file ``login`` wrote; refused without them, or with a wrong password or a read-only user, in one
line that never shows the password, with nothing pushed."""
from __future__ import annotations

from pathlib import Path

import pytest

from containers import busybox_store
from pushing import Pushed
from registries import BASIC_PASSWORD, BASIC_USER

INSECURE = "--tls-verify=false"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    yield from busybox_store(tmp_path_factory, "push-auth")


def refused(r, secret: str, *words: str, early: bool = True) -> None:
    """Exit 125 with one error line (and its hint) that never shows ``secret``; ``early``: the
    refusal came with the first request, before any progress line (credentials refused); a
    user who may not push learns it at the first upload, after podman's first line, as with
    podman."""
    assert r.returncode == 125, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and secret not in r.stderr + r.stdout, r.stderr
    lines = r.stderr.splitlines()
    errors = [n for n, line in enumerate(lines) if line.startswith("Error: ")]
    assert len(errors) == 1 and len(lines) - errors[0] <= 2, r.stderr
    assert errors[0] == 0 or not early, r.stderr
    for word in words:
        assert word in r.stderr.lower(), r.stderr


def nothing_pushed(server, repo: str) -> None:
    assert server.requests_seen("PUT", f"/v2/{repo}/manifests/") == []
    assert not server.repository_dir(repo).exists() or not (server.repository_dir(repo) / "_manifests").exists()


def test_basic_auth_with_creds(store, basic_registry) -> None:
    dest = f"{basic_registry.host}/auth/basic:1"
    r = store("push", INSECURE, "busybox", dest)
    refused(r, BASIC_PASSWORD, "authentication required")
    r = store("push", INSECURE, "--creds", f"{BASIC_USER}:wrong-{BASIC_PASSWORD}", "busybox", dest)
    refused(r, f"wrong-{BASIC_PASSWORD}", "refused the credentials")
    nothing_pushed(basic_registry, "auth/basic")
    r = store("push", INSECURE, "--creds", f"{BASIC_USER}:{BASIC_PASSWORD}", "busybox", dest)
    assert r.returncode == 0, r.stderr
    assert BASIC_PASSWORD not in r.stderr
    Pushed(basic_registry, "auth/basic", "1", auth=(BASIC_USER, BASIC_PASSWORD)).check()


def test_token_auth_pusher_reader_anonymous(store, token_registry) -> None:
    dest = f"{token_registry.host}/auth/token:1"
    refused(store("push", INSECURE, "busybox", dest), "push-secret", "authentication required", early=False)
    refused(store("push", INSECURE, "--creds", "reader:read-secret", "busybox", dest), "read-secret", early=False)
    refused(store("push", INSECURE, "--creds", "pusher:not-the-secret", "busybox", dest), "not-the-secret",
            "refused the credentials")
    nothing_pushed(token_registry, "auth/token")
    r = store("push", INSECURE, "--creds", "pusher:push-secret", "busybox", dest)
    assert r.returncode == 0, r.stderr
    Pushed(token_registry, "auth/token", "1", auth=("pusher", "push-secret")).check()
    # a second repository: the blobs are mounted, which needs pull on the source in the token
    token_registry.clear_log()
    r = store("push", INSECURE, "--creds", "pusher:push-secret", "busybox", f"{token_registry.host}/auth/token2:1")
    assert r.returncode == 0, r.stderr
    assert len(token_registry.requests_seen("POST", "mount=")) == 2
    assert token_registry.requests_seen("PUT", "/blobs/uploads/") == []
    Pushed(token_registry, "auth/token2", "1", auth=("pusher", "push-secret")).check()


def test_credentials_from_login(store, basic_registry, tmp_path: Path) -> None:
    authfile = tmp_path / "auth.json"
    r = store("login", INSECURE, "--authfile", str(authfile), "-u", BASIC_USER, "-p", BASIC_PASSWORD,
              basic_registry.host)
    assert r.returncode == 0, r.stderr
    r = store("push", INSECURE, "--authfile", str(authfile), "busybox", f"{basic_registry.host}/auth/login:1")
    assert r.returncode == 0, r.stderr
    Pushed(basic_registry, "auth/login", "1", auth=(BASIC_USER, BASIC_PASSWORD)).check()


def test_https_with_the_test_ca(store, tls_registry) -> None:
    dest = f"{tls_registry.host}/tls/busybox:1"
    refused(store("push", "busybox", dest), "no-secret-here", "certificate")
    r = store("push", "--cert-dir", str(tls_registry.tls.cert_dir), "busybox", dest)
    assert r.returncode == 0, r.stderr
    Pushed(tls_registry, "tls/busybox", "1").check()
