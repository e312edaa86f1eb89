"""Turning what a registry (or the network) answered into ``RegistryError`` with the server's code.

Contracts: every function returns an exception, which the caller raises outside the ``except``
block that caught a requests exception (or ``from None``), so that no request object or header
rides along in ``__cause__``/``__context__``;
messages are one line and never contain credentials; ``code`` is the distribution error code
from the body when there is one, else one derived from the HTTP status, else ``UNREACHABLE``
when nothing answered.
"""
from __future__ import annotations

from capsa.errors import RegistryError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import requests

# The code to report for a status whose body says nothing (HEAD responses have no body).
STATUS_CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "DENIED", 405: "UNSUPPORTED",
                413: "SIZE_INVALID", 416: "BLOB_UPLOAD_INVALID", 429: "TOOMANYREQUESTS"}
MAX_MESSAGE = 200  # characters of a server's message kept in ours

UNREACHABLE_HINT = ("check the registry's address and that it is running; a registry without TLS "
                    "needs --tls-verify=false (or insecure = true in its [registry.registries] settings)")
NO_TLS = "the registry does not speak TLS on that port"
TLS_HINT = ("trust its CA with --cert-dir DIR (a DIR/ca.crt) or the registry's certs.d directory, "
            "or skip verification with --tls-verify=false")


def server_error(response: requests.Response) -> tuple[str, str]:
    """``(code, message)`` of the first error in a distribution error body, or ``("", "")``."""
    try:
        data = b""
        for chunk in response.iter_content(8192):  # at most 64 KiB of a body: an error is short
            data += chunk
            if len(data) > 65536:
                return "", ""
        import json

        body = json.loads(data)
        first = body["errors"][0]
        code, message = str(first.get("code", "")), str(first.get("message", ""))
    except Exception:  # not JSON, not the error shape: the status speaks instead
        return "", ""
    return code, _one_line(message)


def from_response(response: requests.Response, registry: str, what: str, not_found: str = "NAME_UNKNOWN") -> RegistryError:
    """The error for an unexpected ``response`` to a request about ``what`` (e.g. ``manifest
    busybox:latest``). ``not_found`` is the code of a 404 without a body."""
    code, message = server_error(response)
    status = response.status_code
    if not code:
        if status == 404:
            code = not_found
        elif status >= 500:
            code = "UNAVAILABLE" if status == 503 else "UNKNOWN"
        else:
            code = STATUS_CODES.get(status, "UNKNOWN")
    if not message:
        message = _DEFAULT_MESSAGES.get(code, f"HTTP {status} {response.reason or ''}".strip())
    hint = _hint(code, registry)
    return RegistryError(f"{what} on {registry}: {message}", hint, code=code)


def unauthorized(registry: str, what: str, with_credentials: bool) -> RegistryError:
    """Credentials refused (or needed and absent)."""
    if with_credentials:
        return RegistryError(f"{what} on {registry}: the registry refused the credentials",
                             f"check the username and password (capsa login {registry})", code="UNAUTHORIZED")
    return RegistryError(f"{what} on {registry}: authentication required", f"log in first: capsa login {registry}",
                         code="UNAUTHORIZED")


def unreachable(registry: str, reason: str) -> RegistryError:
    """Nothing answered: ``reason`` says why (connection refused, name not resolved, ...)."""
    return RegistryError(f"cannot reach registry {registry}: {reason}", UNREACHABLE_HINT, code="UNREACHABLE")


def tls_failure(registry: str, reason: str) -> RegistryError:
    """The TLS handshake failed (certificate not trusted, wrong name, no TLS at all)."""
    return RegistryError(f"TLS connection to registry {registry} failed: {reason}", TLS_HINT, code="UNREACHABLE")


def network_reason(exc: BaseException) -> str:
    """A short, secret-free reason for a requests/urllib3 exception."""
    import requests

    text = " ".join(str(a) for a in _chain(exc))
    low = text.lower()
    if isinstance(exc, requests.exceptions.SSLError):
        if "certificate verify failed" in low:
            detail = text[low.index("certificate verify failed"):].split("(")[0].split("'")[0].split('"')[0]
            return _one_line(detail.rstrip(" ,.)"))
        if "wrong version number" in low or "record layer failure" in low or "packet length too long" in low:
            return NO_TLS
        if "certificate required" in low or "bad certificate" in low or "unknown ca" in low:
            return "the registry requires a client certificate it trusts (NAME.cert and NAME.key in the cert dir)"
        return "TLS handshake failed"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "no answer (connect timeout)"
    if isinstance(exc, requests.exceptions.Timeout):
        return "no answer in time (read timeout)"
    for needle, reason in (("connection refused", "connection refused"),
                           ("name or service not known", "name not resolved"),
                           ("temporary failure in name resolution", "name not resolved"),
                           ("nodename nor servname", "name not resolved"),
                           ("no route to host", "no route to host"),
                           ("network is unreachable", "network is unreachable"),
                           ("connection reset", "connection reset"),
                           ("remote end closed connection", "connection closed by the registry"),
                           ("connection aborted", "connection aborted"),
                           ("incomplete", "connection closed before the end of the response"),
                           ("broken pipe", "connection closed by the registry (broken pipe)")):
        if needle in low:
            return reason
    return type(exc).__name__


def is_tls_error(exc: BaseException) -> bool:
    import requests

    return isinstance(exc, requests.exceptions.SSLError)


def _chain(exc: BaseException) -> list[BaseException]:
    out, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 3] + "..."


def _hint(code: str, registry: str) -> str:
    return {
        "UNAUTHORIZED": f"log in with: capsa login {registry}",
        "DENIED": f"the account lacks access; log in with another: capsa login {registry}",
        "TOOMANYREQUESTS": "the registry limits requests: wait and try again",
        "MANIFEST_UNKNOWN": "check the image name and tag",
        "NAME_UNKNOWN": "check the repository name",
        "BLOB_UNKNOWN": "the registry lacks a blob the image needs",
    }.get(code, "")


_DEFAULT_MESSAGES = {
    "MANIFEST_UNKNOWN": "manifest unknown",
    "BLOB_UNKNOWN": "blob unknown",
    "NAME_UNKNOWN": "repository name not known to registry",
    "UNAUTHORIZED": "authentication required",
    "DENIED": "requested access to the resource is denied",
    "TOOMANYREQUESTS": "too many requests",
    "UNAVAILABLE": "service unavailable",
}
