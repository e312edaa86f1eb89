"""The ``oci`` registry driver beyond the conformance suite: retries (5xx, 429 and Retry-After,
dropped connections), resumed blob downloads, restarted uploads, the chunked upload protocol,
the HTTP fallback of tls_verify=False, tag pagination, the manifest size cap, the HEAD-to-GET
fallback of resolve, cert-dir errors and option checks. A real docker-registry serves every
request; where a fault is needed, a small proxy (tests/faultproxy.py) sits in front of it and
fails some requests a few times before forwarding them."""
from __future__ import annotations

import io
import logging
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from capsa.drivers import load_driver
from capsa.drivers.registry import Endpoint
from capsa.errors import ConfigError, RegistryError
from capsa.image import mediatypes as mt
from capsa.testing.registry import closed_port, sha256
from faultproxy import FaultProxy


def make(tmp_path: Path, **options: Any) -> Any:
    return load_driver("registry", "oci", options, root=tmp_path / "root", runroot=tmp_path / "run")


@pytest.fixture
def driver(tmp_path: Path) -> Any:
    d = make(tmp_path, retries=3)
    yield d
    d.close()


@pytest.fixture
def proxy(registry) -> Any:  # type: ignore[no-untyped-def]
    with FaultProxy(registry.host) as p:
        yield p


def push_image(d: Any, host: str, repo: str, tag: str, layer: bytes = b"layer" * 1000) -> bytes:
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    for blob in (layer, config):
        d.put_blob(host, repo, sha256(blob), io.BytesIO(blob), len(blob))
    body = (b'{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s","size":%d},'
            b'"layers":[{"mediaType":"%s","digest":"%s","size":%d}]}' % (
                mt.OCI_MANIFEST.encode(), mt.OCI_CONFIG.encode(), sha256(config).encode(), len(config),
                mt.OCI_LAYER.encode(), sha256(layer).encode(), len(layer)))
    d.put_manifest(host, repo, tag, body, mt.OCI_MANIFEST)
    return body


# retries -------------------------------------------------------------------------------------

def test_5xx_is_retried_until_the_registry_answers(driver, registry, proxy) -> None:  # type: ignore[no-untyped-def]
    driver.configure(proxy.host, Endpoint(tls_verify=False))
    body = push_image(driver, proxy.host, "r/five", "v1")
    proxy.fail("HEAD", "/manifests/v1", times=2, status=503)
    proxy.fail("GET", "/manifests/v1", times=1, status=502)
    assert driver.resolve(proxy.host, "r/five", "v1").digest == sha256(body)
    assert driver.get_manifest(proxy.host, "r/five", "v1")[0] == body
    assert len(proxy.requests("HEAD", "/manifests/v1")) == 3
    assert len(proxy.requests("GET", "/manifests/v1")) == 2


def test_retries_give_up_with_the_servers_status(tmp_path, registry, proxy) -> None:  # type: ignore[no-untyped-def]
    d = make(tmp_path, retries=2)
    d.configure(proxy.host, Endpoint(tls_verify=False))
    proxy.fail("HEAD", "/manifests/", times=99, status=503,
               body=b'{"errors":[{"code":"UNAVAILABLE","message":"down for maintenance"}]}')
    proxy.fail("GET", "/tags/list", times=99, status=500,
               headers={"Content-Type": "application/json"},
               body=b'{"errors":[{"code":"UNKNOWN","message":"storage exploded"}]}')
    with pytest.raises(RegistryError) as err:
        d.resolve(proxy.host, "r/x", "v1")
    assert err.value.code == "UNAVAILABLE"
    assert len(proxy.requests("HEAD", "/manifests/")) == 3  # one try and two retries
    with pytest.raises(RegistryError) as err:
        d.list_tags(proxy.host, "r/x")
    assert err.value.code == "UNKNOWN" and "storage exploded" in err.value.message
    d.close()


def test_429_waits_as_long_as_retry_after_says(driver, registry, proxy) -> None:  # type: ignore[no-untyped-def]
    driver.configure(proxy.host, Endpoint(tls_verify=False))
    push_image(driver, proxy.host, "r/slow", "v1")
    proxy.fail("HEAD", "/manifests/v1", times=1, status=429, headers={"Retry-After": "2"})
    start = time.monotonic()
    driver.resolve(proxy.host, "r/slow", "v1")
    assert time.monotonic() - start >= 1.9
    proxy.fail("GET", "/manifests/v1", times=1, status=429, headers={"Retry-After": formatdate(time.time() + 2, usegmt=True)})
    start = time.monotonic()
    driver.get_manifest(proxy.host, "r/slow", "v1")
    assert time.monotonic() - start >= 0.9  # an HTTP date (whole seconds) about two seconds ahead


def test_429_with_a_long_retry_after_fails_at_once(driver, registry, proxy) -> None:  # type: ignore[no-untyped-def]
    driver.configure(proxy.host, Endpoint(tls_verify=False))
    proxy.fail("HEAD", "/manifests/", times=5, status=429, headers={"Retry-After": "3600"})
    start = time.monotonic()
    with pytest.raises(RegistryError) as err:
        driver.resolve(proxy.host, "r/x", "v1")
    assert err.value.code == "TOOMANYREQUESTS" and time.monotonic() - start < 5
    assert len(proxy.requests("HEAD", "/manifests/")) == 1


def test_dropped_connections_are_retried(driver, registry, proxy) -> None:  # type: ignore[no-untyped-def]
    driver.configure(proxy.host, Endpoint(tls_verify=False))
    body = push_image(driver, proxy.host, "r/drop", "v1")
    proxy.fail("GET", "/manifests/v1", times=2, drop=True)
    assert driver.get_manifest(proxy.host, "r/drop", "v1")[0] == body
    assert len(proxy.requests("GET", "/manifests/v1")) == 3


def test_a_registry_that_went_away_is_retried_then_unreachable(tmp_path, registry) -> None:  # type: ignore[no-untyped-def]
    d = make(tmp_path, retries=1)
    with FaultProxy(registry.host) as p:
        d.configure(p.host, Endpoint(tls_verify=False))
        d.check_login(p.host)
        host = p.host
    start = time.monotonic()
    with pytest.raises(RegistryError) as err:  # refused now, after it answered: retried once, then reported
        d.resolve(host, "r/x", "v1")
    assert err.value.code == "UNREACHABLE" and "connection refused" in err.value.message
    assert time.monotonic() - start >= 0.3
    d.close()


def test_a_registry_never_reached_is_not_retried(driver) -> None:  # type: ignore[no-untyped-def]
    host = f"127.0.0.1:{closed_port()}"
    driver.configure(host, Endpoint(tls_verify=False))
    start = time.monotonic()
    with pytest.raises(RegistryError) as err:
        driver.resolve(host, "r/x", "v1")
    assert time.monotonic() - start < 0.3
    assert err.value.message == f"cannot reach registry {host}: connection refused"
    assert "--tls-verify" in err.value.hint


# blob streams --------------------------------------------------------------------------------

def test_a_broken_blob_download_resumes_with_a_range(driver, registry, proxy) -> None:  # type: ignore[no-untyped-def]
    driver.configure(proxy.host, Endpoint(tls_verify=False))
    data = bytes(range(256)) * 12000  # ~3 MiB
    digest = sha256(data)
    driver.put_blob(proxy.host, "r/resume", digest, io.BytesIO(data), len(data))
    proxy.fail("GET", f"/blobs/{digest}", times=2, cut_after=1_500_000)
    assert b"".join(driver.get_blob(proxy.host, "r/resume", digest)) == data
    gets = proxy.requests("GET", f"/blobs/{digest}")
    assert len(gets) == 3 and "Range" not in gets[0][2]
    assert gets[1][2]["Range"].startswith("bytes=") and gets[1][2]["Range"] != "bytes=0-"


def test_a_blob_download_that_keeps_breaking_fails(tmp_path, registry, proxy) -> None:  # type: ignore[no-untyped-def]
    d = make(tmp_path, retries=1)
    d.configure(proxy.host, Endpoint(tls_verify=False))
    data = b"\1" * 3_000_000
    digest = sha256(data)
    d.put_blob(proxy.host, "r/broken", digest, io.BytesIO(data), len(data))
    proxy.fail("GET", f"/blobs/{digest}", times=9, cut_after=100_000)
    with pytest.raises(RegistryError) as err:
        b"".join(d.get_blob(proxy.host, "r/broken", digest))
    assert err.value.code == "UNREACHABLE" and digest in err.value.message
    d.close()


def test_blob_requests_ask_for_identity_encoding(driver, registry, proxy) -> None:  # type: ignore[no-untyped-def]
    driver.configure(proxy.host, Endpoint(tls_verify=False))
    data = b"gzip-looking" * 10
    driver.put_blob(proxy.host, "r/enc", sha256(data), io.BytesIO(data), len(data))
    b"".join(driver.get_blob(proxy.host, "r/enc", sha256(data)))
    (_, _, headers), = proxy.requests("GET", "/blobs/")
    assert headers["Accept-Encoding"] == "identity"


# uploads -------------------------------------------------------------------------------------

def test_chunked_upload_protocol(tmp_path, registry) -> None:  # type: ignore[no-untyped-def]
    d = make(tmp_path, chunk_size=100_000)
    d.configure(registry.host, Endpoint(tls_verify=False))
    data = b"c" * 250_000
    registry.clear_log()
    d.put_blob(registry.host, "r/chunks", sha256(data), io.BytesIO(data), len(data))
    log = [(m, t.split("?")[0].rsplit("/", 1)[0], s) for m, t, s in registry.access_log()
           if "/blobs/uploads/" in t]
    assert [(m, s) for m, _, s in log] == [("POST", 202), ("PATCH", 202), ("PATCH", 202), ("PATCH", 202), ("PUT", 201)]
    d.close()


def test_small_blobs_go_in_one_put_even_when_chunking(tmp_path, registry) -> None:  # type: ignore[no-untyped-def]
    d = make(tmp_path, chunk_size=100_000)
    d.configure(registry.host, Endpoint(tls_verify=False))
    registry.clear_log()
    d.put_blob(registry.host, "r/small", sha256(b"tiny"), io.BytesIO(b"tiny"), 4)
    assert [m for m, t, _ in registry.access_log() if "/blobs/uploads/" in t] == ["POST", "PUT"]
    d.close()


@pytest.mark.parametrize("how", [{"status": 503}, {"drop": True}])
def test_a_failed_upload_starts_over(driver, registry, proxy, how) -> None:  # type: ignore[no-untyped-def]
    driver.configure(proxy.host, Endpoint(tls_verify=False))
    data = b"u" * 300_000
    proxy.fail("PUT", "/blobs/uploads/", times=1, **how)
    driver.put_blob(proxy.host, "r/restart", sha256(data), io.BytesIO(data), len(data))
    assert len(proxy.requests("POST", "/blobs/uploads/")) == 2
    assert b"".join(driver.get_blob(proxy.host, "r/restart", sha256(data))) == data


def test_a_stream_shorter_than_its_size_is_refused(driver, registry) -> None:  # type: ignore[no-untyped-def]
    driver.configure(registry.host, Endpoint(tls_verify=False))
    data = b"short" * 1000
    with pytest.raises(RegistryError) as err:
        driver.put_blob(registry.host, "r/short", sha256(data + b"!"), io.BytesIO(data), len(data) + 1)
    assert err.value.code == "SIZE_INVALID"
    assert not driver.blob_exists(registry.host, "r/short", sha256(data + b"!"))


def test_a_declined_mount_cancels_its_upload_session(driver, registry) -> None:  # type: ignore[no-untyped-def]
    driver.configure(registry.host, Endpoint(tls_verify=False))
    registry.clear_log()
    assert driver.mount_blob(registry.host, "r/to", sha256(b"absent"), "r/from") is False
    assert [(m, s) for m, t, s in registry.access_log() if "/blobs/uploads/" in t] == [("POST", 202), ("DELETE", 204)]


# manifests and tags --------------------------------------------------------------------------

def test_resolve_accepts_every_manifest_type(driver, registry, proxy) -> None:  # type: ignore[no-untyped-def]
    driver.configure(proxy.host, Endpoint(tls_verify=False))
    push_image(driver, proxy.host, "r/accept", "v1")
    driver.resolve(proxy.host, "r/accept", "v1")
    (_, _, headers), = proxy.requests("HEAD", "/manifests/v1")
    accepted = {a.strip() for a in headers["Accept"].split(",")}
    assert accepted == {mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST,
                        mt.DOCKER_V2S1, mt.DOCKER_V2S1_SIGNED}


def test_resolve_falls_back_to_get_without_a_digest_header(driver, registry, proxy) -> None:  # type: ignore[no-untyped-def]
    driver.configure(proxy.host, Endpoint(tls_verify=False))
    body = push_image(driver, proxy.host, "r/nodigest", "v1")
    proxy.fail("HEAD", "/manifests/v1", times=1, strip=("Docker-Content-Digest",))
    desc = driver.resolve(proxy.host, "r/nodigest", "v1")
    assert (desc.digest, desc.size, desc.media_type) == (sha256(body), len(body), mt.OCI_MANIFEST)
    assert len(proxy.requests("GET", "/manifests/v1")) == 1


def test_a_manifest_over_the_cap_is_refused(driver, registry, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from capsa_registry_oci import manifests

    driver.configure(registry.host, Endpoint(tls_verify=False))
    body = push_image(driver, registry.host, "r/big", "v1")
    monkeypatch.setattr(manifests, "MAX_MANIFEST", len(body) - 1)
    with pytest.raises(RegistryError) as err:
        driver.get_manifest(registry.host, "r/big", "v1")
    assert err.value.code == "MANIFEST_INVALID" and "larger than" in err.value.message


def paginate(path: str, headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    """What a paginating registry answers (distribution 2.8 paginates only its catalog):
    ``n`` tags after ``last``, and a ``Link`` to the next page."""
    import json
    from urllib.parse import parse_qs, urlencode, urlsplit

    query = parse_qs(urlsplit(path).query)
    doc = json.loads(body)
    tags = sorted(doc["tags"])
    last = query.get("last", [""])[0]
    n = int(query.get("n", ["2"])[0])
    page = [t for t in tags if t > last][:n]
    doc["tags"] = page
    if page and page[-1] != tags[-1]:
        headers["Link"] = f'<{urlsplit(path).path}?{urlencode({"n": n, "last": page[-1]})}>; rel="next"'
    return headers, json.dumps(doc).encode()


def test_list_tags_follows_link_pages(driver, registry, proxy) -> None:  # type: ignore[no-untyped-def]
    driver.configure(proxy.host, Endpoint(tls_verify=False))
    body = push_image(driver, proxy.host, "r/pages", "t0")
    for i in range(1, 7):
        driver.put_manifest(proxy.host, "r/pages", f"t{i}", body, mt.OCI_MANIFEST)
    proxy.fail("GET", "/tags/list", times=10, transform=paginate)
    assert driver.list_tags(proxy.host, "r/pages") == [f"t{i}" for i in range(7)]
    pages = [path for _, path, _ in proxy.requests("GET", "/tags/list")]
    assert pages == ["/v2/r/pages/tags/list", "/v2/r/pages/tags/list?n=2&last=t1",
                     "/v2/r/pages/tags/list?n=2&last=t3", "/v2/r/pages/tags/list?n=2&last=t5"]


def test_schema1_media_type_is_returned_as_served(driver, registry, proxy) -> None:  # type: ignore[no-untyped-def]
    driver.configure(proxy.host, Endpoint(tls_verify=False))
    proxy.fail("GET", "/manifests/old", times=1, status=200, body=b'{"schemaVersion":1}',
               headers={"Content-Type": mt.DOCKER_V2S1_SIGNED + "; charset=utf-8"})
    assert driver.get_manifest(proxy.host, "r/old", "old") == (b'{"schemaVersion":1}', mt.DOCKER_V2S1_SIGNED)


# TLS settings --------------------------------------------------------------------------------

def test_tls_verify_false_falls_back_to_plain_http(driver, registry) -> None:  # type: ignore[no-untyped-def]
    driver.configure(registry.host, Endpoint(tls_verify=False))
    driver.check_login(registry.host)
    assert driver._remote(registry.host).scheme == "http"


def test_verified_tls_to_a_plain_http_registry_says_so(driver, registry) -> None:  # type: ignore[no-untyped-def]
    driver.configure(registry.host, Endpoint())
    with pytest.raises(RegistryError) as err:
        driver.check_login(registry.host)
    assert err.value.code == "UNREACHABLE"
    assert err.value.message == (f"TLS connection to registry {registry.host} failed: "
                                 "the registry does not speak TLS on that port")
    assert "--tls-verify=false" in err.value.hint


def test_cert_dir_with_a_cert_but_no_key_is_refused(driver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs/client.cert").write_text("x")
    with pytest.raises(RegistryError) as err:
        driver.configure("127.0.0.1:5000", Endpoint(cert_dir=str(tmp_path / "certs")))
    assert "client.key" in err.value.message


def test_cert_dir_with_a_bad_ca_is_refused(driver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs/ca.crt").write_text("not a certificate")
    with pytest.raises(RegistryError) as err:
        driver.configure("127.0.0.1:5000", Endpoint(cert_dir=str(tmp_path / "certs")))
    assert "ca.crt" in err.value.message and err.value.hint


def test_a_missing_cert_dir_holds_nothing(driver, registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    driver.configure(registry.host, Endpoint(tls_verify=False, cert_dir=str(tmp_path / "none")))
    driver.check_login(registry.host)


# options -------------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [{"timeout": 0}, {"retries": -1}, {"chunk_size": -5}, {"insecure": []}])
def test_bad_options_are_config_errors(tmp_path, options) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as err:
        make(tmp_path, **options)
    assert next(iter(options)) in err.value.message and err.value.hint


def test_status_describes_the_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    status = make(tmp_path, chunk_size=1 << 20, retries=5).status()
    assert status["ready"] is True
    assert status["detail"] == "OCI distribution client, timeout 30s, 5 retries, chunks of 1048576 bytes uploads"


def test_debug_log_names_requests_without_upload_state(driver, registry, caplog) -> None:  # type: ignore[no-untyped-def]
    driver.configure(registry.host, Endpoint(tls_verify=False))
    with caplog.at_level(logging.DEBUG, logger="capsa.registry.oci"):
        push_image(driver, registry.host, "r/log", "v1")
    lines = [r.getMessage() for r in caplog.records if r.name == "capsa.registry.oci"]
    assert any(line.startswith("PUT http://") and "/manifests/v1 -> 201" in line for line in lines)
    assert not any("_state=" in line for line in lines)


def test_a_registry_requiring_a_client_certificate_says_so(driver, mtls_registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    only_ca = tmp_path / "only-ca"
    only_ca.mkdir()
    (only_ca / "ca.crt").write_bytes(mtls_registry.tls.ca_cert.read_bytes())
    for endpoint in (Endpoint(cert_dir=str(only_ca)), Endpoint(tls_verify=False)):
        driver.configure(mtls_registry.host, endpoint)
        with pytest.raises(RegistryError) as err:
            driver.check_login(mtls_registry.host)
        assert err.value.code == "UNREACHABLE" and "requires a client certificate" in err.value.message
    driver.configure(mtls_registry.host, Endpoint(cert_dir=str(mtls_registry.tls.cert_dir)))
    driver.check_login(mtls_registry.host)


def test_tls_verify_false_uses_https_when_the_registry_speaks_it(driver, tls_registry) -> None:  # type: ignore[no-untyped-def]
    driver.configure(tls_registry.host, Endpoint(tls_verify=False))
    driver.check_login(tls_registry.host)
    assert driver._remote(tls_registry.host).scheme == "https"


def test_a_stream_that_says_seekable_but_cannot_seek_is_sent_once(driver, registry, proxy) -> None:  # type: ignore[no-untyped-def]
    class NoSeek:  # like a metering wrapper that forwards seekable() and tell() only
        def __init__(self, data: bytes) -> None:
            self._raw = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self._raw.read(n)

        def seekable(self) -> bool:
            return True

        def tell(self) -> int:
            return self._raw.tell()

    driver.configure(proxy.host, Endpoint(tls_verify=False))
    data = b"n" * 100_000
    proxy.fail("PUT", "/blobs/uploads/", times=1, status=503)
    with pytest.raises(RegistryError) as err:
        driver.put_blob(proxy.host, "r/noseek", sha256(data), NoSeek(data), len(data))  # type: ignore[arg-type]
    assert err.value.code == "UNAVAILABLE"
    driver.put_blob(proxy.host, "r/noseek", sha256(data), NoSeek(data), len(data))  # type: ignore[arg-type]
    assert driver.blob_exists(proxy.host, "r/noseek", sha256(data))


def test_docker_io_requests_go_to_its_api_host(driver) -> None:  # type: ignore[no-untyped-def]
    """Image references say docker.io; Docker Hub's registry API answers on registry-1.docker.io
    (as in podman). No request is made here: the machine has no internet."""
    driver.configure("docker.io", Endpoint())
    remote = driver._remote("docker.io")
    assert remote.url("/v2/library/busybox/manifests/latest") == \
        "https://registry-1.docker.io/v2/library/busybox/manifests/latest"
    driver.configure("quay.io", Endpoint())
    assert driver._remote("quay.io").url("/v2/") == "https://quay.io/v2/"
