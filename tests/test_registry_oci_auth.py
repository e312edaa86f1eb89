"""The ``oci`` driver's auth against real registries: the token scopes it asks for (pull,
pull+push, the mount's source), cached tokens, identity tokens (OAuth2 refresh), Basic auth,
the Authorization header dropped on a redirect to another host, and no secret in the debug
log (capsa's and urllib3's) nor in any error."""
from __future__ import annotations

import base64
import io
import logging
from pathlib import Path
from typing import Any

import pytest

from capsa.drivers import load_driver
from capsa.drivers.registry import Credentials, Endpoint
from capsa.errors import RegistryError
from capsa.image import mediatypes as mt
from capsa.testing.registry import sha256
from faultproxy import FaultProxy
from registries import BASIC_PASSWORD, BASIC_USER


@pytest.fixture
def driver(tmp_path: Path) -> Any:
    d = load_driver("registry", "oci", {}, root=tmp_path / "root", runroot=tmp_path / "run")
    yield d
    d.close()


def put(d: Any, host: str, repo: str, data: bytes) -> str:
    d.put_blob(host, repo, sha256(data), io.BytesIO(data), len(data))
    return sha256(data)


def test_token_scopes_for_pull_push_and_mount(driver, token_registry) -> None:  # type: ignore[no-untyped-def]
    host, tokens = token_registry.host, token_registry.token
    driver.configure(host, Endpoint(tls_verify=False, credentials=Credentials("pusher", "push-secret")))
    digest = put(driver, host, "a/src", b"layer")
    assert driver.mount_blob(host, "a/dst", digest, "a/src") is True
    assert driver.blob_exists(host, "a/dst", digest)  # the pull,push token of a/dst covers pull
    assert b"".join(driver.get_blob(host, "a/src", digest)) == b"layer"  # so does a/src's
    assert not driver.blob_exists(host, "a/other", digest)  # a new repository: a pull token
    asked = [sorted(r.scopes) for r in tokens.requests]
    assert asked == [["repository:a/src:pull,push"],
                     ["repository:a/dst:pull,push", "repository:a/src:pull"],
                     ["repository:a/other:pull"]], asked
    assert all(r.user == "pusher" and r.status == 200 for r in tokens.requests)


def test_tokens_are_cached_per_scope(driver, token_registry) -> None:  # type: ignore[no-untyped-def]
    host, tokens = token_registry.host, token_registry.token
    driver.configure(host, Endpoint(tls_verify=False, credentials=Credentials("pusher", "push-secret")))
    for i in range(5):
        put(driver, host, "a/cache", b"blob %d" % i)
    assert len(tokens.requests) == 1


def test_anonymous_pull_from_a_token_registry(driver, token_registry) -> None:  # type: ignore[no-untyped-def]
    host, tokens = token_registry.host, token_registry.token
    driver.configure(host, Endpoint(tls_verify=False, credentials=Credentials("pusher", "push-secret")))
    digest = put(driver, host, "a/public", b"public layer")
    driver.configure(host, Endpoint(tls_verify=False))  # forget the pusher
    assert b"".join(driver.get_blob(host, "a/public", digest)) == b"public layer"
    assert tokens.requests[-1].user is None
    with pytest.raises(RegistryError) as err:
        put(driver, host, "a/public", b"anonymous push")
    assert err.value.code == "UNAUTHORIZED" and "capsa login" in err.value.hint


def test_identity_token_uses_the_oauth2_refresh_grant(driver, token_registry) -> None:  # type: ignore[no-untyped-def]
    host, tokens = token_registry.host, token_registry.token
    driver.configure(host, Endpoint(tls_verify=False, credentials=Credentials("<token>", "refresh-pusher")))
    put(driver, host, "a/oauth", b"pushed with an identity token")
    (request,) = tokens.requests
    assert (request.method, request.user, request.status) == ("POST", "pusher", 200)
    assert request.params["grant_type"] == "refresh_token"


def test_check_login(driver, token_registry, basic_registry) -> None:  # type: ignore[no-untyped-def]
    for server, user, password in ((token_registry, "reader", "read-secret"),
                                   (basic_registry, BASIC_USER, BASIC_PASSWORD)):
        driver.configure(server.host, Endpoint(tls_verify=False, credentials=Credentials(user, password)))
        driver.check_login(server.host)
        driver.configure(server.host, Endpoint(tls_verify=False, credentials=Credentials(user, "wrong")))
        with pytest.raises(RegistryError) as err:
            driver.check_login(server.host)
        assert err.value.code == "UNAUTHORIZED"
        assert err.value.message == f"login on {server.host}: the registry refused the credentials"
    driver.configure(basic_registry.host, Endpoint(tls_verify=False))
    with pytest.raises(RegistryError) as err:
        driver.check_login(basic_registry.host)
    assert err.value.message == f"login on {basic_registry.host}: authentication required"


def test_basic_credentials_are_sent_once_challenged(driver, basic_registry) -> None:  # type: ignore[no-untyped-def]
    host = basic_registry.host
    driver.configure(host, Endpoint(tls_verify=False, credentials=Credentials(BASIC_USER, BASIC_PASSWORD)))
    basic_registry.clear_log()
    for i in range(3):
        put(driver, host, "b/x", b"basic %d" % i)
    statuses = [s for _, _, s in basic_registry.access_log()]
    assert statuses.count(401) == 1  # the probe; every later request carries the credentials


def test_authorization_is_dropped_on_a_redirect_to_another_host(driver, basic_registry) -> None:  # type: ignore[no-untyped-def]
    with FaultProxy(basic_registry.host) as proxy:
        host = proxy.host
        driver.configure(host, Endpoint(tls_verify=False, credentials=Credentials(BASIC_USER, BASIC_PASSWORD)))
        digest = put(driver, host, "b/redirect", b"redirected")
        # The blob "lives" on localhost:PORT (the same proxy under another name), as on a CDN.
        proxy.fail("GET", f"/blobs/{digest}", times=1, redirect_host=f"localhost:{proxy.port}")
        with pytest.raises(RegistryError) as err:  # the CDN here is the registry itself: it wants auth
            b"".join(driver.get_blob(host, "b/redirect", digest))
        assert err.value.code in ("UNAUTHORIZED",)
        first, second = proxy.requests("GET", f"/blobs/{digest}")[:2]
        assert first[2]["Host"] == host and first[2]["Authorization"].startswith("Basic ")
        assert second[2]["Host"] == f"localhost:{proxy.port}" and "Authorization" not in second[2]


def test_no_secret_in_debug_logs_or_errors(tmp_path, token_registry, basic_registry, caplog) -> None:  # type: ignore[no-untyped-def]
    secrets = ["push-secret", BASIC_PASSWORD, base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode(),
               base64.b64encode(b"pusher:push-secret").decode()]
    errors: list[BaseException] = []
    with caplog.at_level(logging.DEBUG):
        for server, creds in ((token_registry, Credentials("pusher", "push-secret")),
                              (basic_registry, Credentials(BASIC_USER, BASIC_PASSWORD))):
            d = load_driver("registry", "oci", {}, root=tmp_path / "r", runroot=tmp_path / "rr")
            d.configure(server.host, Endpoint(tls_verify=False, credentials=creds))
            digest = put(d, server.host, "s/x", b"secret-free")
            b"".join(d.get_blob(server.host, "s/x", digest))
            for call in (lambda: d.resolve(server.host, "s/x", "missing"),
                         lambda: d.put_manifest(server.host, "s/x", "v1", b"not json", mt.OCI_MANIFEST)):
                try:
                    call()
                except RegistryError as exc:
                    errors.append(exc)
            d.configure(server.host, Endpoint(tls_verify=False, credentials=Credentials(creds.username, "x" + creds.password)))
            try:
                d.check_login(server.host)
            except RegistryError as exc:
                errors.append(exc)
            assert creds.password not in repr(d.__dict__)
            d.close()
    assert len(errors) == 6
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert "capsa.registry.oci" in caplog.text and "urllib3" in caplog.text  # both loggers spoke
    import traceback

    for secret in secrets:
        assert secret not in logged
        for exc in errors:
            assert secret not in "".join(traceback.format_exception(exc)) and secret not in repr(exc)


def test_network_errors_keep_no_request_in_their_chain(driver, basic_registry) -> None:  # type: ignore[no-untyped-def]
    """requests' exceptions hold the request, Authorization header included: the driver's
    errors are raised outside the except block that caught them, so not even __context__
    refers to one."""
    host = basic_registry.host
    driver.configure(host, Endpoint(tls_verify=False, credentials=Credentials(BASIC_USER, BASIC_PASSWORD)))
    driver.check_login(host)
    basic_registry.stop()  # it answered before: the refusals now are retried, then reported
    with pytest.raises(RegistryError) as err:
        driver.blob_exists(host, "x/y", sha256(b"x"))
    assert err.value.code == "UNREACHABLE"
    assert err.value.__context__ is None and err.value.__cause__ is None


def test_token_service_hiccups_are_retried(driver, registry_factory) -> None:  # type: ignore[no-untyped-def]
    """The registry's challenge names a realm behind a fault proxy: the token service fails
    twice (503, then a dropped connection) before it is reached."""
    from capsa.testing.tokenservice import TokenService

    class ProxiedTokens(TokenService):
        proxy_host = ""

        @property
        def realm(self) -> str:
            return f"http://{self.proxy_host}/token"

    with ProxiedTokens() as tokens:
        with FaultProxy(tokens.url.removeprefix("http://")) as proxy:
            tokens.proxy_host = proxy.host
            server = registry_factory(token=tokens)
            driver.configure(server.host, Endpoint(tls_verify=False, credentials=Credentials("pusher", "push-secret")))
            proxy.fail("GET", "/token", times=1, status=503)
            proxy.fail("GET", "/token", times=1, drop=True)
            put(driver, server.host, "t/retry", b"after two failures")
            assert len(proxy.requests("GET", "/token")) == 3
            assert [r.status for r in tokens.requests] == [200]


def test_a_plain_http_realm_of_a_verified_registry_is_refused(driver, registry_factory) -> None:  # type: ignore[no-untyped-def]
    """The registry speaks verified HTTPS, its token service plain HTTP: the credentials are not
    sent there (nothing reaches the token service); reached with tls_verify=False they are."""
    from capsa.testing.tokenservice import TokenService

    server = registry_factory(tls=True, token=TokenService())
    tokens = server.token
    assert tokens.realm.startswith("http://")
    driver.configure(server.host, Endpoint(cert_dir=str(server.tls.cert_dir),
                                           credentials=Credentials("pusher", "push-secret")))
    for call in (lambda: put(driver, server.host, "r/realm", b"never sent"), lambda: driver.check_login(server.host)):
        with pytest.raises(RegistryError) as err:
            call()
        assert err.value.code == "INSECURE_REALM"
        assert tokens.realm in err.value.message and "\n" not in err.value.message
        assert "--tls-verify=false" in err.value.hint
    assert tokens.requests == []
    driver.configure(server.host, Endpoint(tls_verify=False, credentials=Credentials("pusher", "push-secret")))
    put(driver, server.host, "r/realm", b"sent: the registry is insecure anyway")
    assert [r.user for r in tokens.requests] == ["pusher"]


def test_configure_with_an_equal_endpoint_keeps_tokens_and_connections(driver, token_registry) -> None:  # type: ignore[no-untyped-def]
    host, tokens = token_registry.host, token_registry.token
    driver.configure(host, Endpoint(tls_verify=False, credentials=Credentials("pusher", "push-secret")))
    put(driver, host, "k/keep", b"first")
    token_registry.clear_log()
    driver.configure(host, Endpoint(tls_verify=False, credentials=Credentials("pusher", "push-secret")))
    put(driver, host, "k/keep", b"second")
    assert len(tokens.requests) == 1  # the token of the first push served the second
    assert token_registry.requests_seen("GET", "/v2/") == []  # no new probe or challenge either
    driver.configure(host, Endpoint(tls_verify=False, credentials=Credentials("reader", "read-secret")))
    driver.blob_exists(host, "k/keep", sha256(b"first"))
    assert [r.user for r in tokens.requests] == ["pusher", "reader"]  # other credentials: a new token


def test_debug_logs_show_no_upload_state(tmp_path, token_registry, caplog) -> None:  # type: ignore[no-untyped-def]
    """urllib3 logs every request's URL at debug level; upload URLs carry the registry's
    ``_state`` and token requests their parameters: the driver cuts query strings out."""
    host = token_registry.host
    d = load_driver("registry", "oci", {"chunk_size": 4}, root=tmp_path / "r", runroot=tmp_path / "rr")
    try:
        with caplog.at_level(logging.DEBUG):
            d.configure(host, Endpoint(tls_verify=False, credentials=Credentials("pusher", "push-secret")))
            digest = put(d, host, "l/state", b"chunked upload, several PATCHes")
            assert b"".join(d.get_blob(host, "l/state", digest)) == b"chunked upload, several PATCHes"
    finally:
        d.close()
    urllib3_lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any('"PATCH /v2/l/state/blobs/uploads/' in line for line in urllib3_lines), urllib3_lines
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert "_state=" not in logged and "account=" not in logged and "push-secret" not in logged
