"""A small Bearer token service for test registries (the Docker token protocol).

::

    with TokenService(users={"pusher": "pw"}, permissions={"pusher": ("pull", "push"), None: ("pull",)}) as tokens, \\
            RegistryServer(token=tokens) as server:
        ...
        tokens.requests   # every token request: who asked, which scopes, what was granted

The registry answers an unauthenticated request with ``401`` and ``WWW-Authenticate: Bearer
realm=".../token",service="...",scope="repository:NAME:pull,push"``; the client then asks
``GET /token?service=...&scope=...`` (Basic credentials, or none for anonymous) or ``POST
/token`` (OAuth2 form: ``grant_type=password``, ``username``, ``password``, ``scope``...).
This service checks the credentials (a wrong password: 401), grants for each requested
``repository:NAME:ACTIONS`` scope the actions the user may do (``permissions``: user, or None
for anonymous, -> actions on every repository; ``repository_permissions`` refines it per
``(user, repository)``), and returns a JWT signed ES256 by a certificate its own CA issued
(``x5c`` header); the registry trusts that CA through ``auth.token.rootcertbundle``.

It runs a threaded :mod:`http.server` on 127.0.0.1 (HTTPS when given a TlsFiles), in this
process; ``__exit__`` shuts it down and removes its directory.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from capsa.testing.registrycerts import TlsFiles

DEFAULT_USERS = {"pusher": "push-secret", "reader": "read-secret"}
DEFAULT_PERMISSIONS: dict[str | None, tuple[str, ...]] = {"pusher": ("pull", "push", "delete"),
                                                          "reader": ("pull",), None: ("pull",)}


@dataclass
class TokenRequest:
    """One request the token service answered (for tests to check)."""

    method: str
    user: str | None  # None: anonymous (or refused: see ``status``)
    service: str
    scopes: list[str]  # as requested, e.g. ["repository:a/b:push,pull"] (see normalize_scope)
    granted: list[dict[str, Any]] = field(default_factory=list)  # the token's "access" claim
    status: int = 200
    params: dict[str, str] = field(default_factory=dict)  # other query/form fields (account, client_id...)


def normalize_scope(scope: str) -> str:
    """``repository:a/b:push,pull`` -> ``repository:a/b:pull,push`` (actions sorted)."""
    head, sep, actions = scope.rpartition(":")
    return f"{head}{sep}{','.join(sorted(actions.split(',')))}" if sep else scope


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenService:
    """The token service (see the module docstring); a context manager."""

    def __init__(self, users: dict[str, str] | None = None,
                 permissions: dict[str | None, tuple[str, ...]] | None = None, *,
                 repository_permissions: dict[tuple[str | None, str], tuple[str, ...]] | None = None,
                 service: str = "capsa-test-registry", issuer: str = "capsa-test-token-issuer",
                 tls: TlsFiles | None = None, lifetime: int = 300) -> None:
        self.users = dict(DEFAULT_USERS if users is None else users)
        self.permissions = dict(DEFAULT_PERMISSIONS if permissions is None else permissions)
        self.repository_permissions = dict(repository_permissions or {})
        self.service = service
        self.issuer = issuer
        self.tls = tls
        self.lifetime = lifetime
        self.requests: list[TokenRequest] = []
        self.workdir: Path | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- what tests read ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "the token service is not started"
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    @property
    def root_cert_bundle(self) -> Path:
        assert self.workdir is not None, "the token service is not started"
        return self.workdir / "token-ca.pem"

    def scopes_requested(self, raw: bool = False) -> list[str]:
        """Every scope asked for so far, in order (``repository:NAME:ACTIONS``), each with its
        actions sorted (the registry's challenges list them in random order: ``push,pull`` or
        ``pull,push``) unless ``raw``."""
        with self._lock:
            scopes = [scope for request in self.requests for scope in request.scopes]
        return scopes if raw else [normalize_scope(scope) for scope in scopes]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def registry_auth_config(self) -> dict[str, str]:
        """The registry's ``auth.token`` section trusting this service."""
        return {"realm": self.realm, "service": self.service, "issuer": self.issuer,
                "rootcertbundle": str(self.root_cert_bundle)}

    # -- the policy ----------------------------------------------------------------------------
    def authenticate(self, user: str | None, password: str | None) -> bool:
        return user is None or (user in self.users and self.users[user] == password)

    def allowed(self, user: str | None, repository: str) -> tuple[str, ...]:
        if (user, repository) in self.repository_permissions:
            return self.repository_permissions[(user, repository)]
        return self.permissions.get(user, ())

    def grant(self, user: str | None, scopes: list[str]) -> list[dict[str, Any]]:
        """The ``access`` claim for ``scopes``: the requested actions the user may do."""
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository" or not name:
                continue  # (registry:catalog:* and the like: nothing granted)
            allowed = self.allowed(user, name)
            granted = sorted(a for a in actions.split(",") if a in allowed or (a == "*" and "push" in allowed))
            if granted:
                access.append({"type": kind, "name": name, "actions": granted})
        return access

    def issue(self, user: str | None, access: list[dict[str, Any]]) -> str:
        """A signed JWT (ES256, ``x5c``) for ``user`` with ``access``."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        from capsa.testing.registrycerts import cert_der

        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(cert_der(self._signing_cert)).decode()]}
        claims = {"iss": self.issuer, "sub": user or "", "aud": self.service, "exp": now + self.lifetime,
                  "nbf": now - 30, "iat": now, "jti": os.urandom(12).hex(), "access": access}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        der = self._signing_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    # -- life cycle -----------------------------------------------------------------------------
    def start(self) -> TokenService:
        from capsa.testing.registrycerts import CertificateAuthority, cert_pem

        self.workdir = Path(tempfile.mkdtemp(prefix="capsa-tokens-"))
        try:
            ca = CertificateAuthority("capsa test token CA")
            self._signing_cert, self._signing_key = ca.issue("capsa test token signer")
            self.root_cert_bundle.write_bytes(ca.cert_pem)
            (self.workdir / "token-signer.pem").write_bytes(cert_pem(self._signing_cert))
            self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
            self._httpd.daemon_threads = True
            if self.tls:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(str(self.tls.server_cert), str(self.tls.server_key))
                self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="capsa-token-service", daemon=True)
            self._thread.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving, join the thread, remove the directory. Idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            if self._thread is not None:
                httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> TokenService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one request ------------------------------------------------------------------------------
    def answer(self, method: str, authorization: str | None, fields: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """(status, JSON body) for a token request with these query or form ``fields``."""
        user: str | None = None
        password: str | None = None
        if method == "POST":
            user = (fields.get("username") or [None])[0]
            password = (fields.get("password") or [None])[0]
            if fields.get("grant_type", [""])[0] == "refresh_token":
                user, password = _refresh_user(self, (fields.get("refresh_token") or [""])[0])
        elif authorization and authorization.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(authorization[6:].strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, password = "", None
        scopes = [s for value in fields.get("scope", []) for s in value.split(" ") if s]
        service = (fields.get("service") or [""])[0]
        extra = {k: v[0] for k, v in fields.items() if k not in ("scope", "service", "password", "refresh_token")}
        record = TokenRequest(method, user, service, scopes, params=extra)
        if not self.authenticate(user, password):
            record.status = 401
            body: dict[str, Any] = {"errors": [{"code": "UNAUTHORIZED", "message": "invalid username or password"}]}
        elif service and service != self.service:
            record.status = 400
            body = {"errors": [{"code": "UNSUPPORTED", "message": f"unknown service {service}"}]}
        else:
            record.granted = self.grant(user, scopes)
            token = self.issue(user, record.granted)
            body = {"token": token, "access_token": token, "expires_in": self.lifetime,
                    "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            if user is not None and (extra.get("offline_token") == "true" or method == "POST"):
                body["refresh_token"] = f"refresh-{user}"
        with self._lock:
            self.requests.append(record)
        return record.status, body


def _refresh_user(service: TokenService, refresh_token: str) -> tuple[str | None, str | None]:
    user = refresh_token.removeprefix("refresh-")
    if refresh_token.startswith("refresh-") and user in service.users:
        return user, service.users[user]
    return "", None


def _handler_for(service: TokenService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
            pass  # (quiet: tests read service.requests)

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="capsa-test-tokens"')
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/token":
                self._reply(404, {"errors": [{"code": "NOT_FOUND"}]})
                return
            self._reply(*service.answer("GET", self.headers.get("Authorization"), urllib.parse.parse_qs(url.query)))

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            if urllib.parse.urlsplit(self.path).path != "/token":
                self._reply(404, {"errors": [{"code": "NOT_FOUND"}]})
                return
            self._reply(*service.answer("POST", self.headers.get("Authorization"), form))

    return Handler
