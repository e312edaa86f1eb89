"""The real-registry test infrastructure (capsa.testing.registryserver and friends), checked
with raw requests: the servers answer, uploads land, cleanup leaves nothing."""
from __future__ import annotations

import gzip
import io
import json
import os
import tarfile

import pytest
import requests

from capsa.testing.imagebuilder import (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST,
                                        busybox_image, decompress, sha256_digest)
from capsa.testing.registryserver import RegistryServer
from capsa.testing.registryupload import MANIFEST_ACCEPT, RegistryClient, upload_image, upload_index


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie would still answer kill(0): the server waits for its child, so none may remain
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ")[1][0] != "Z"


def test_plain_registry_answers_and_logs_requests(registry: RegistryServer) -> None:
    assert registry.host.startswith("127.0.0.1:") and registry.url == f"http://{registry.host}"
    response = requests.get(f"{registry.url}/v2/", timeout=10)
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    requests.get(f"{registry.url}/v2/logged/blobs/sha256:{'0' * 64}", timeout=10)
    assert registry.requests_seen("GET", "/v2/logged/blobs/") == [f"/v2/logged/blobs/sha256:{'0' * 64}"]
    assert ("GET", "/v2/", 200) in registry.access_log()
    assert len(registry.requests_seen("GET", "/v2/")) == 2  # not the start-up probe: only this test's
    assert any("listening on" in line for line in registry.log_lines())


@pytest.mark.parametrize("compression,flavor", [("gzip", "oci"), ("zstd", "oci"), (None, "oci"), ("gzip", "docker")])
def test_upload_image_and_read_it_back(registry: RegistryServer, compression: str | None, flavor: str) -> None:
    img = busybox_image(compression, flavor)
    repo = f"tests/busybox-{compression or 'plain'}-{flavor}"
    digest = upload_image(registry, repo, "latest", img.layers, img.config, img.manifest_media_type)
    response = requests.get(f"{registry.url}/v2/{repo}/manifests/latest", headers={"Accept": MANIFEST_ACCEPT}, timeout=10)
    assert response.status_code == 200 and sha256_digest(response.content) == digest
    assert response.headers["Content-Type"] == (DOCKER_MANIFEST if flavor == "docker" else OCI_MANIFEST)
    manifest = response.json()
    assert [layer["digest"] for layer in manifest["layers"]] == [layer.digest for layer in img.layers]
    config = requests.get(f"{registry.url}/v2/{repo}/blobs/{manifest['config']['digest']}", timeout=10).content
    assert json.loads(config)["rootfs"]["diff_ids"] == [layer.diff_id for layer in img.layers]
    base = requests.get(f"{registry.url}/v2/{repo}/blobs/{img.layers[0].digest}", timeout=10).content
    assert base == img.layers[0].data and registry.blob_path(img.layers[0].digest).read_bytes() == base
    with tarfile.open(fileobj=io.BytesIO(decompress(base))) as tar:
        names = tar.getnames()
        assert "bin/busybox" in names and tar.getmember("bin/sh").linkname == "busybox"
    with tarfile.open(fileobj=io.BytesIO(decompress(img.layers[1].data))) as tar:
        assert {"etc/.wh.removed.txt", "data/.wh..wh..opq", "data/new.txt"} <= set(tar.getnames())
    kind = {"gzip": "gzip", "zstd": "zstd", None: "tar"}[compression]
    assert img.layers[0].media_type.endswith(kind if kind != "gzip" else ".gzip" if flavor == "docker" else "+gzip")
    if compression == "gzip":
        gzip.decompress(base)


@pytest.mark.parametrize("index_type", [OCI_INDEX, DOCKER_MANIFEST_LIST])
def test_upload_index_of_platforms(registry: RegistryServer, index_type: str) -> None:
    flavor = "docker" if index_type == DOCKER_MANIFEST_LIST else "oci"
    pairs = []
    for arch, variant in (("amd64", None), ("arm64", "v8")):
        img = busybox_image("gzip", flavor, whiteouts=False, architecture=arch, variant=variant)
        digest = upload_image(registry, "tests/multi", None, img.layers, img.config, img.manifest_media_type)
        pairs.append((digest, {"os": "linux", "architecture": arch, **({"variant": variant} if variant else {})}))
    index_digest = upload_index(registry, "tests/multi", "latest", pairs, index_type)
    response = requests.get(f"{registry.url}/v2/tests/multi/manifests/latest", headers={"Accept": MANIFEST_ACCEPT},
                            timeout=10)
    assert response.headers["Content-Type"] == index_type and sha256_digest(response.content) == index_digest
    entries = response.json()["manifests"]
    assert [(e["digest"], e["platform"]["architecture"]) for e in entries] == [(d, p["architecture"]) for d, p in pairs]
    assert entries[1]["platform"]["variant"] == "v8"


def test_blob_path_lets_a_test_corrupt_a_blob(registry: RegistryServer) -> None:
    img = busybox_image("gzip", whiteouts=False)
    upload_image(registry, "tests/corrupt", "v1", img.layers, img.config)
    path = registry.blob_path(img.layers[0].digest)
    path.write_bytes(b"not the layer")
    served = requests.get(f"{registry.url}/v2/tests/corrupt/blobs/{img.layers[0].digest}", timeout=10)
    assert served.content == b"not the layer"  # the registry serves it unverified: the client must check


def test_raw_client_lists_tags(registry: RegistryServer) -> None:
    img = busybox_image(None, whiteouts=False)
    for tag in ("a", "b"):
        upload_image(registry, "tests/tags", tag, img.layers, img.config)
    with RegistryClient(registry) as client:
        assert sorted(client.get("/v2/tests/tags/tags/list").json()["tags"]) == ["a", "b"]


def test_server_stops_and_cleans_up_even_when_the_test_fails() -> None:
    server = RegistryServer()
    with pytest.raises(RuntimeError, match="boom"):
        with server:
            pid, workdir, url = server.pid, server.workdir, server.url
            assert pid and _alive(pid) and workdir.is_dir()
            raise RuntimeError("boom")
    assert not _alive(pid)
    assert not workdir.exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/v2/", timeout=5)


# -- HTTPS ------------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_registry_verifies_with_the_test_ca_only(tls_registry: RegistryServer, tmp_path) -> None:
    from capsa.testing.registrycerts import make_tls_files

    assert tls_registry.url.startswith("https://127.0.0.1:")
    assert requests.get(f"{tls_registry.url}/v2/", verify=str(tls_registry.tls.ca_cert), timeout=10).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{tls_registry.url}/v2/", timeout=10)  # the system CAs do not know the test CA
    other = make_tls_files(tmp_path / "other")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{tls_registry.url}/v2/", verify=str(other.ca_cert), timeout=10)
    assert requests.get(f"{tls_registry.url}/v2/", verify=False, timeout=10).status_code == 200
    # cert_dir and certs.d hold what podman expects there
    assert sorted(p.name for p in tls_registry.tls.cert_dir.iterdir()) == ["ca.crt", "client.cert", "client.key"]
    host_dir = tls_registry.certs_d / tls_registry.host
    assert (host_dir / "ca.crt").read_bytes() == tls_registry.tls.ca_cert.read_bytes()
    assert requests.get(f"{tls_registry.url}/v2/", verify=str(host_dir / "ca.crt"), timeout=10).status_code == 200
    assert requests.get(f"http://{tls_registry.host}/v2/", timeout=10).status_code == 400  # no plain HTTP
    img = busybox_image("gzip", whiteouts=False)
    upload_image(tls_registry, "tests/over-tls", "latest", img.layers, img.config)
    assert tls_registry.blob_path(img.layers[0].digest).is_file()


def test_mtls_registry_requires_the_client_certificate(mtls_registry: RegistryServer) -> None:
    url, ca = f"{mtls_registry.url}/v2/", str(mtls_registry.tls.ca_cert)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, verify=ca, timeout=10)
    d = mtls_registry.tls.cert_dir
    response = requests.get(url, verify=str(d / "ca.crt"), cert=(str(d / "client.cert"), str(d / "client.key")),
                            timeout=10)
    assert response.status_code == 200
    assert any("client didn't provide a certificate" in line for line in mtls_registry.log_lines())


# -- htpasswd Basic auth ------------------------------------------------------------------------------

@pytest.mark.parametrize("fixture", ["basic_registry", "basic_tls_registry"])
def test_basic_registry_refuses_without_credentials(fixture: str, request: pytest.FixtureRequest) -> None:
    from registries import BASIC_PASSWORD, BASIC_USER

    server: RegistryServer = request.getfixturevalue(fixture)
    assert server.credentials == (BASIC_USER, BASIC_PASSWORD)
    sess = server.session()
    anonymous = sess.get(f"{server.url}/v2/", timeout=10)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert sess.get(f"{server.url}/v2/", auth=(BASIC_USER, "wrong"), timeout=10).status_code == 401
    assert sess.get(f"{server.url}/v2/", auth=(BASIC_USER, BASIC_PASSWORD), timeout=10).status_code == 200
    img = busybox_image(None, whiteouts=False)
    with pytest.raises(RuntimeError, match="401"):
        upload_image(server, "tests/basic", "v1", img.layers, img.config)
    digest = upload_image(server, "tests/basic", "v1", img.layers, img.config, auth=server.credentials)
    with RegistryClient(server, server.credentials) as client:
        assert sha256_digest(client.get("/v2/tests/basic/manifests/v1",
                                        headers={"Accept": MANIFEST_ACCEPT}).content) == digest
    assert not any(BASIC_PASSWORD in line for line in server.log_lines())


# -- Bearer tokens ------------------------------------------------------------------------------------

def _jwt_claims(token: str) -> dict:
    import base64

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_token_registry_grants_per_user_and_records_scopes(token_registry: RegistryServer) -> None:
    from capsa.testing.tokenservice import normalize_scope

    tokens = token_registry.token
    challenge = requests.get(f"{token_registry.url}/v2/", timeout=10)
    assert challenge.status_code == 401
    assert challenge.headers["WWW-Authenticate"] == f'Bearer realm="{tokens.realm}",service="{tokens.service}"'
    img = busybox_image("zstd", whiteouts=False)
    for who in (None, ("reader", "read-secret")):
        with pytest.raises(RuntimeError, match="401"):
            upload_image(token_registry, "tests/tokens", "v1", img.layers, img.config, auth=who)
    digest = upload_image(token_registry, "tests/tokens", "v1", img.layers, img.config,
                          auth=token_registry.credentials)
    assert token_registry.credentials == ("pusher", "push-secret")
    assert "repository:tests/tokens:pull,push" in tokens.scopes_requested()
    push_scope = "repository:tests/tokens:pull,push"
    pushes = [r for r in tokens.requests if r.user == "pusher" and list(map(normalize_scope, r.scopes)) == [push_scope]]
    assert pushes and pushes[0].granted == [{"type": "repository", "name": "tests/tokens", "actions": ["pull", "push"]}]
    readers = [r for r in tokens.requests if r.user == "reader" and list(map(normalize_scope, r.scopes)) == [push_scope]]
    assert [r.granted for r in readers] == [[{"type": "repository", "name": "tests/tokens", "actions": ["pull"]}]], tokens.requests
    tokens.clear()
    with RegistryClient(token_registry) as anonymous:  # anonymous may pull
        response = anonymous.get("/v2/tests/tokens/manifests/v1", headers={"Accept": MANIFEST_ACCEPT})
        assert response.status_code == 200 and sha256_digest(response.content) == digest
    assert [(r.user, r.scopes) for r in tokens.requests] == [(None, ["repository:tests/tokens:pull"])]
    wrong = requests.get(tokens.realm, params={"service": tokens.service, "scope": "repository:tests/tokens:pull"},
                         auth=("pusher", "wrong"), timeout=10)
    assert wrong.status_code == 401 and tokens.requests[-1].status == 401
    # the OAuth2 form (POST) is served as well, with a refresh token
    posted = requests.post(tokens.realm, data={"grant_type": "password", "username": "pusher",
                                               "password": "push-secret", "service": tokens.service,
                                               "scope": "repository:tests/tokens:pull", "client_id": "capsa"},
                           timeout=10).json()
    claims = _jwt_claims(posted["access_token"])
    assert claims["sub"] == "pusher" and claims["aud"] == tokens.service and claims["iss"] == tokens.issuer
    assert claims["access"] == [{"type": "repository", "name": "tests/tokens", "actions": ["pull"]}]
    assert posted["refresh_token"] and tokens.requests[-1].params["client_id"] == "capsa"
    bearer = {"Authorization": f"Bearer {posted['access_token']}", "Accept": MANIFEST_ACCEPT}
    assert requests.get(f"{token_registry.url}/v2/tests/tokens/manifests/v1", headers=bearer, timeout=10).ok


def test_token_registry_refuses_a_token_from_another_issuer(registry_factory, tmp_path) -> None:
    from capsa.testing.tokenservice import TokenService

    server = registry_factory(token=TokenService())
    with TokenService() as stranger:  # same protocol, another CA: the registry must not trust it
        token = stranger.issue("pusher", [{"type": "repository", "name": "x/y", "actions": ["pull", "push"]}])
    response = requests.get(f"{server.url}/v2/x/y/tags/list", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 401


def test_token_service_over_https_with_client_certificates(registry_factory, tmp_path) -> None:
    from capsa.testing.registrycerts import make_tls_files
    from capsa.testing.tokenservice import TokenService

    tls = make_tls_files(tmp_path / "tls", require_client_cert=True)
    server = registry_factory(tls=tls, token=TokenService(tls=tls))
    assert server.token.realm.startswith("https://127.0.0.1:") and server.client_certs
    img = busybox_image("gzip", "docker", whiteouts=False)
    digest = upload_image(server, "tests/all-of-it", "v1", img.layers, img.config, DOCKER_MANIFEST,
                          auth=server.credentials)
    with RegistryClient(server, ("reader", "read-secret")) as client:
        response = client.get("/v2/tests/all-of-it/manifests/v1", headers={"Accept": MANIFEST_ACCEPT})
    assert sha256_digest(response.content) == digest
    assert server.token.requests[-1].user == "reader"


def test_factory_stops_everything_it_started() -> None:
    from capsa.testing.tokenservice import TokenService
    from registries import started_registries

    tokens = TokenService(users={"u": "p"}, permissions={"u": ("pull", "push")})
    with pytest.raises(RuntimeError, match="boom"):
        with started_registries() as start:
            server = start(token=tokens, tls=True)
            plain = start()
            assert server.url.startswith("https://") and server.credentials == ("u", "p")
            realm, workdirs = tokens.realm, [server.workdir, plain.workdir, tokens.workdir]
            pids = [server.pid, plain.pid]
            assert requests.get(realm, timeout=10).status_code == 200
            raise RuntimeError("boom")
    assert not any(_alive(pid) for pid in pids)
    assert not any(path.exists() for path in workdirs)
    with pytest.raises(requests.ConnectionError):
        requests.get(realm, timeout=5)


def test_no_registry_process_survives_the_tests() -> None:
    """Every registry started by this module's tests was stopped (none is a child any more)."""
    import subprocess

    mine = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(os.getpid())], capture_output=True, text=True).stdout
    assert "docker-registry" not in mine


def test_requests_seen_counts_cross_repository_mounts(registry: RegistryServer) -> None:
    img = busybox_image(None, whiteouts=False)
    upload_image(registry, "tests/source", "v1", img.layers, img.config)
    registry.clear_log()
    digest = img.layers[0].digest
    mounted = requests.post(f"{registry.url}/v2/tests/target/blobs/uploads/?mount={digest}&from=tests/source",
                            timeout=10)
    assert mounted.status_code == 201 and mounted.headers["Docker-Content-Digest"] == digest
    assert registry.requests_seen("POST", "mount=") == [f"/v2/tests/target/blobs/uploads/?mount={digest}&from=tests/source"]
    assert registry.access_log() == [("POST", f"/v2/tests/target/blobs/uploads/?mount={digest}&from=tests/source", 201)]


def test_a_port_taken_meanwhile_is_retried_and_never_confused_with_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another server on the port found free (a race with other tests): this registry must not
    take it for itself, and starts on another port."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import capsa.testing.registryserver as registryserver

    class Impostor(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    impostor = HTTPServer(("127.0.0.1", 0), Impostor)
    thread = threading.Thread(target=impostor.serve_forever, daemon=True)
    thread.start()
    taken = impostor.server_address[1]
    ports = iter([taken])
    real = registryserver.free_port
    monkeypatch.setattr(registryserver, "free_port", lambda: next(ports, None) or real())
    try:
        with RegistryServer() as server:
            assert server.port != taken
            assert requests.get(f"{server.url}/v2/", timeout=10).headers["Docker-Distribution-Api-Version"]
    finally:
        impostor.shutdown()
        impostor.server_close()
        thread.join()
