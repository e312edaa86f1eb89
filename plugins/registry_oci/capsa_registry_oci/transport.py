"""One registry's connection: its ``requests.Session``, the scheme that works, the auth
challenge, the tokens, and the retry loop every request goes through.

Contracts of :meth:`Remote.request`: the response of the last attempt, whatever its status
(the caller checks it), except that 401s the driver cannot answer raise RegistryError
``UNAUTHORIZED`` and network failures raise RegistryError ``UNREACHABLE`` (TLS failures too,
with their own message). Transient failures are retried ``retries`` times with backoff:
connection resets and read timeouts, connection refusals once the registry has answered before,
5xx and 429 (honouring ``Retry-After`` up to ``retry.MAX_RETRY_AFTER``). A body is given as bytes
or as a callable returning a fresh body for each attempt, so every attempt can resend it. An
answered 401 is retried once with new credentials material (a Bearer token for the request's
scopes, or the Basic credentials). Credentials only ever travel in the ``Authorization`` header;
requests drops that header on a redirect to another host.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from capsa import __version__
from capsa.drivers.registry import Endpoint
from capsa_registry_oci import auth, errors, retry, tls

log = logging.getLogger("capsa.registry.oci")
# urllib3's loggers, which print request URLs (query strings included) at debug level.
URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.poolmanager", "urllib3.util.retry")

Body = bytes | Callable[[], Any] | None
# Registries whose API lives on another host than the one image references name.
API_HOSTS = {"docker.io": "registry-1.docker.io", "index.docker.io": "registry-1.docker.io"}


class Remote:
    """Everything the driver keeps for one registry (``host[:port]``)."""

    def __init__(self, registry: str, endpoint: Endpoint, timeout: float, retries: int,
                 scheme: str | None = None) -> None:
        self.registry = registry
        self.api_host = API_HOSTS.get(registry, registry)  # where requests go; messages name ``registry``
        self.endpoint = endpoint
        self.timeout = timeout
        self.retries = retries
        self.session = tls.Session()
        self.session.headers["User-Agent"] = f"capsa/{__version__}"
        tls.apply(self.session, endpoint)
        # https when verifying; otherwise unknown until the first request tries https, then http.
        self.scheme = "https" if endpoint.tls_verify else scheme
        self.challenge: auth.Challenge | None = None
        self.tokens = auth.Tokens()
        self.answered = False  # has the registry ever answered? (then refusals are transient)
        self._scheme_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Remote({self.registry!r}, scheme={self.scheme!r}, tls_verify={self.endpoint.tls_verify})"

    def close(self) -> None:
        """Close the session's connections now. (urllib3 2's ``PoolManager.clear``, which
        ``Session.close`` calls, only drops its pools: their idle connections would stay open
        until the garbage collector finds them.)"""
        for adapter in self.session.adapters.values():
            managers = [getattr(adapter, "poolmanager", None), *getattr(adapter, "proxy_manager", {}).values()]
            for manager in managers:
                if manager is None:
                    continue
                for key in manager.pools.keys():
                    pool = manager.pools.get(key)
                    if pool is not None:
                        pool.close()
        self.session.close()

    @property
    def credentials(self) -> Any:
        return self.endpoint.credentials

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (``/v2/...``) on this registry; absolute URLs pass unchanged."""
        if path.startswith(("https://", "http://")):
            return path
        return f"{self.scheme}://{self.api_host}{path}"

    # the request loop ---------------------------------------------------------------------------

    def request(self, method: str, path: str, *, what: str, scopes: tuple[str, ...] = (),
                headers: dict[str, str] | None = None, body: Body = None, stream: bool = False,
                redirects: bool = True, retries: bool = True) -> requests.Response:
        """Send ``method path`` with auth and retries (see the module's contract). ``what``
        names the object in error messages (``manifest busybox:latest``)."""
        self.ensure_scheme()
        attempt = 0
        reauthenticated = False
        while True:
            sent = dict(headers or {})
            authorization = self._authorization(scopes, what)
            if authorization:
                sent["Authorization"] = authorization
            data = body() if callable(body) else body
            url = self.url(path)
            response, failure = self._send(method, url, headers=sent, data=data, stream=stream,
                                           allow_redirects=redirects)
            if failure is not None:
                if retries and attempt < self.retries and self._transient(failure):
                    wait = retry.backoff(attempt)
                    log.debug("%s %s failed (%s); retrying in %.1fs", method, _loggable(url),
                              errors.network_reason(failure), wait)
                    time.sleep(wait)
                    attempt += 1
                    continue
                raise self.network_error(failure)
            assert response is not None
            self.answered = True
            log.debug("%s %s -> %d", method, _loggable(url), response.status_code)
            if response.status_code == 401:
                if not reauthenticated and self._reauthenticate(response, scopes):
                    response.close()
                    reauthenticated = True
                    continue
                raise self._unauthorized(response, what)
            if retries and response.status_code in retry.RETRY_STATUSES and attempt < self.retries:
                wait = retry.retry_after(response.headers.get("Retry-After"))
                wait = retry.backoff(attempt) if wait is None else wait
                if wait <= retry.MAX_RETRY_AFTER:
                    log.debug("%s %s: HTTP %d; retrying in %.1fs", method, _loggable(url), response.status_code, wait)
                    response.close()
                    time.sleep(wait)
                    attempt += 1
                    continue
            return response

    def _send(self, method: str, url: str, **kwargs: Any) -> tuple[requests.Response | None, Exception | None]:
        """One HTTP exchange: ``(response, None)``, or ``(None, the requests exception)``. The
        caller raises a RegistryError made from it outside any ``except`` block, so that the
        requests exception (which holds the request and its headers) is not even its
        ``__context__``."""
        try:
            return self.session.request(method, url, timeout=self.timeout, **kwargs), None
        except requests.RequestException as exc:
            return None, exc

    def ensure_scheme(self) -> None:
        """Find out, once, whether a registry reached without TLS verification speaks HTTPS or
        only plain HTTP (podman's rule for insecure registries: try HTTPS first; fall back
        when the port does not speak TLS, not when a TLS handshake fails)."""
        if self.scheme is not None:
            return
        with self._scheme_lock:
            if self.scheme is not None:
                return
            scheme = "https"
            response, failure = self._send("GET", f"https://{self.api_host}/v2/")
            if isinstance(failure, requests.ConnectionError) and not isinstance(failure, requests.ConnectTimeout) \
                    and not (errors.is_tls_error(failure) and errors.network_reason(failure) != errors.NO_TLS):
                scheme = "http"
                response, failure = self._send("GET", f"http://{self.api_host}/v2/")
            if failure is not None:
                raise self.network_error(failure)
            assert response is not None
            with response:
                self.answered = True
                log.debug("registry %s speaks %s (GET /v2/ -> %d)", self.registry, scheme, response.status_code)
                if response.status_code == 401:
                    self.challenge = auth.parse_challenge(response.headers.get("WWW-Authenticate"))
            self.scheme = scheme

    # auth --------------------------------------------------------------------------------------

    def _authorization(self, scopes: tuple[str, ...], what: str) -> str | None:
        challenge = self.challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return auth.basic_header(self.credentials) if self.credentials is not None else None
        token = self.tokens.get(scopes)
        if token is None:
            with self.tokens.lock:
                token = self.tokens.get(scopes)
                if token is None:
                    token, lifetime = auth.fetch_token(self.session, self.registry, challenge, scopes,
                                                       self.credentials, self.timeout, what, self.retries,
                                                       allow_http=not self.endpoint.tls_verify)
                    self.tokens.put(scopes, token, lifetime)
                    log.debug("registry %s: got a token for %s", self.registry, " ".join(scopes) or "(no scope)")
        return f"Bearer {token}"

    def _reauthenticate(self, response: requests.Response, scopes: tuple[str, ...]) -> bool:
        """Learn from a 401's challenge; True when a retry can send something new."""
        challenge = auth.parse_challenge(response.headers.get("WWW-Authenticate"))
        if challenge is None:
            return False
        previous, self.challenge = self.challenge, challenge
        if challenge.scheme == "basic":
            already_sent = previous is not None and previous.scheme == "basic"
            return self.credentials is not None and not already_sent
        self.tokens.drop(scopes)
        return True

    def _unauthorized(self, response: requests.Response, what: str) -> Exception:
        with response:
            code, _ = errors.server_error(response)
            if code in ("", "UNAUTHORIZED"):
                return errors.unauthorized(self.registry, what, self.credentials is not None)
            return errors.from_response(response, self.registry, what)

    # failures ----------------------------------------------------------------------------------

    def _transient(self, exc: BaseException) -> bool:
        if isinstance(exc, requests.exceptions.SSLError):
            return False
        if isinstance(exc, (requests.ConnectTimeout,)):
            return self.answered
        if isinstance(exc, (requests.ReadTimeout, requests.exceptions.ChunkedEncodingError)):
            return True
        if isinstance(exc, requests.ConnectionError):
            reason = errors.network_reason(exc)
            if reason in ("connection refused", "no route to host", "network is unreachable"):
                return self.answered
            return reason != "name not resolved"
        return False

    def network_error(self, exc: BaseException) -> Exception:
        """The RegistryError for a requests exception (nothing of the request kept)."""
        if errors.is_tls_error(exc):
            return errors.tls_failure(self.registry, errors.network_reason(exc))
        return errors.unreachable(self.registry, errors.network_reason(exc))


def _loggable(url: str) -> str:
    """A URL for the debug log: the upload session state in the query string is cut off."""
    return url.split("?", 1)[0]


class QueryFilter(logging.Filter):
    """Cuts query strings out of a log record's arguments (``/v2/a/blobs/uploads/ID?_state=...``
    -> ``/v2/a/blobs/uploads/ID?...``): urllib3 logs every request's URL at debug level, and an
    upload's ``_state`` (the registry's signed session state) or a token request's parameters
    have no place in a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_cut_query(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def _cut_query(text: str) -> str:
    head, mark, _ = text.partition("?")
    return f"{head}?..." if mark else text


QUERY_FILTER = QueryFilter()
for _name in URLLIB3_LOGGERS:
    logging.getLogger(_name).addFilter(QUERY_FILTER)
