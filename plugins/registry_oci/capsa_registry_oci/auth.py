"""The registry auth challenge (``WWW-Authenticate``), Basic credentials and Bearer tokens.

Contracts: :func:`parse_challenge` never raises (an unknown scheme gives None);
:class:`Tokens` caches tokens per set of scopes and answers a request for fewer actions with a
token granted more (``pull,push`` covers ``pull``); :func:`fetch_token` raises RegistryError
``UNAUTHORIZED`` when the token service refuses the credentials, and refuses (``INSECURE_REALM``)
a plain-HTTP realm unless the registry itself is reached insecurely. Secrets appear only in
headers, never in messages, logs or reprs.
"""
from __future__ import annotations

import base64
import threading
import time

from capsa.errors import RegistryError
from capsa.fastpath.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import requests

    from capsa.drivers.registry import Credentials

IDENTITY_TOKEN_USER = "<token>"  # docker's convention: the password is an OAuth2 refresh token
DEFAULT_TOKEN_LIFETIME = 60  # seconds, when the token service does not say (the distribution spec's default)


@record(frozen=True)
class Challenge:
    """What a 401 asked for: ``scheme`` "basic" or "bearer" and its parameters (realm, service, scope)."""

    scheme: str
    params: dict

    @property
    def realm(self) -> str:
        return str(self.params.get("realm", ""))


def parse_challenge(header: str | None) -> Challenge | None:
    """The first Basic or Bearer challenge of a ``WWW-Authenticate`` header."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("basic", "bearer"):
        return None
    return Challenge(scheme, _parse_params(rest))


def _parse_params(text: str) -> dict:
    """``key="value", key2=token`` pairs (quoted values may hold commas and escaped quotes)."""
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " ,\t":
            i += 1
        eq = text.find("=", i)
        if eq < 0:
            break
        key = text[i:eq].strip().lower()
        i = eq + 1
        if i < n and text[i] == '"':
            i += 1
            value = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(text[i])
                i += 1
            i += 1
            params[key] = "".join(value)
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            params[key] = text[i:end].strip()
            i = end
    return params


def basic_header(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _actions(scopes: tuple[str, ...]) -> set[tuple[str, str]]:
    """``repository:a/b:pull,push`` -> {("repository:a/b", "pull"), ("repository:a/b", "push")}."""
    out = set()
    for scope in scopes:
        resource, _, actions = scope.rpartition(":")
        for action in actions.split(","):
            out.add((resource, action))
    return out


class Tokens:
    """Bearer tokens by scope set, with their expiry; thread-safe."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}
        self.lock = threading.RLock()  # held while fetching, so parallel requests fetch once

    def __repr__(self) -> str:
        return f"Tokens({len(self._tokens)} cached)"

    def get(self, scopes: tuple[str, ...]) -> str | None:
        wanted = _actions(scopes)
        now = time.monotonic()
        with self.lock:
            for key, (token, expiry) in self._tokens.items():
                if expiry > now and wanted <= _actions(key):
                    return token
        return None

    def put(self, scopes: tuple[str, ...], token: str, lifetime: float) -> None:
        with self.lock:
            self._tokens[scopes] = (token, time.monotonic() + max(lifetime - 10, 5))

    def drop(self, scopes: tuple[str, ...]) -> None:
        wanted = _actions(scopes)
        with self.lock:
            for key in [k for k in self._tokens if wanted <= _actions(k)]:
                del self._tokens[key]


def fetch_token(session: requests.Session, registry: str, challenge: Challenge, scopes: tuple[str, ...],
                credentials: Credentials | None, timeout: float, what: str = "token request",
                retries: int = 0, allow_http: bool = False) -> tuple[str, float]:
    """A token for ``scopes`` from the challenge's realm, and its lifetime in seconds; errors
    name ``what`` the token is for. Transient failures of the token service (a dropped
    connection, 5xx, 429) are retried ``retries`` times, as the registry's own are. An
    ``http://`` realm is refused unless ``allow_http`` (the registry is reached without TLS
    verification anyway): credentials, a refresh token or the token itself would otherwise
    cross the network in the clear although the registry was reached over verified HTTPS."""
    import requests

    from capsa_registry_oci import errors, retry

    realm = challenge.realm
    if not realm.startswith(("https://", "http://")):
        raise RegistryError(f"registry {registry} asked for a token from an invalid realm {realm!r}",
                            "the registry's token auth is misconfigured", code="UNAUTHORIZED")
    if realm.startswith("http://") and not allow_http:
        raise RegistryError(f"registry {registry} asked for a token from {realm} over plain HTTP; "
                            "capsa does not send credentials or tokens unencrypted",
                            "the registry's token service should use https; if the network is trusted, "
                            f"reach {registry} with --tls-verify=false (or insecure = true in its "
                            "[registry.registries] settings)", code="INSECURE_REALM")
    service = challenge.params.get("service")
    scope_list = list(scopes) or ([challenge.params["scope"]] if challenge.params.get("scope") else [])
    attempt = 0
    while True:
        response, failure = _ask(session, realm, service, scope_list, credentials, timeout)
        wait: float | None = None
        if failure is not None:
            if not isinstance(failure, requests.ConnectionError) or errors.is_tls_error(failure) \
                    or errors.network_reason(failure) in ("connection refused", "name not resolved"):
                attempt = retries  # not transient: report it now
            wait = retry.backoff(attempt)
        elif response is not None and response.status_code in retry.RETRY_STATUSES:
            wait = retry.retry_after(response.headers.get("Retry-After"))
            wait = retry.backoff(attempt) if wait is None else wait
        if wait is None or attempt >= retries or wait > retry.MAX_RETRY_AFTER:
            break
        if response is not None:
            response.close()
        time.sleep(wait)
        attempt += 1
    if failure is not None:  # raised here, outside any except block: the request stays out of the error
        raise RegistryError(f"cannot reach the token service of registry {registry}: {errors.network_reason(failure)}",
                            errors.UNREACHABLE_HINT, code="UNREACHABLE")
    assert response is not None
    with response:
        if response.status_code in (401, 403):
            raise errors.unauthorized(registry, what, credentials is not None)
        if response.status_code != 200:
            raise errors.from_response(response, registry, f"{what} (token request)")
        try:
            body = response.json()
            token = body.get("token") or body.get("access_token")
            lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        except Exception:
            token, lifetime = None, 0.0
    if not isinstance(token, str) or not token:
        raise RegistryError(f"the token service of registry {registry} answered without a token",
                            "the registry's token auth is misconfigured", code="UNAUTHORIZED")
    return token, lifetime


def _ask(session: requests.Session, realm: str, service: str | None, scope_list: list[str],
         credentials: Credentials | None, timeout: float) -> tuple[requests.Response | None, Exception | None]:
    """One token request: ``(response, None)`` or ``(None, the requests exception)``."""
    import requests

    headers = {"Accept": "application/json"}
    try:
        if credentials is not None and credentials.username == IDENTITY_TOKEN_USER:
            form = {"grant_type": "refresh_token", "refresh_token": credentials.password, "client_id": "capsa",
                    "scope": " ".join(scope_list)}
            if service:
                form["service"] = service
            return session.post(realm, data=form, headers=headers, timeout=timeout), None
        params: list[tuple[str, str]] = [("service", service)] if service else []
        params += [("scope", s) for s in scope_list]
        if credentials is not None:
            headers["Authorization"] = basic_header(credentials)
            params.append(("account", credentials.username))
        return session.get(realm, params=params, headers=headers, timeout=timeout), None
    except requests.RequestException as exc:
        return None, exc
