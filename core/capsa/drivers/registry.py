"""The registry driver contract (after the OCI distribution spec).

A registry is named ``host[:port]`` exactly as image references spell it (``docker.io``,
``127.0.0.1:5000``). Before its first request to a registry the core calls :meth:`configure`
with an :class:`Endpoint`: how to reach it (TLS) and who to be (credentials). The driver never
looks credentials or TLS settings up itself (the core has the config, the auth files and the
``capsa_registry_credentials`` hook); it owns the wire: HTTP, the auth challenge (Basic, or
Bearer tokens from the realm the registry names, scoped ``pull`` or ``pull,push``), retries of
transient failures, upload protocols.

Blobs are streamed; the core verifies every digest and size it receives, so a driver need not.
Every failure is a ``RegistryError`` whose ``code`` keeps the server's error code
(``MANIFEST_UNKNOWN``, ``BLOB_UNKNOWN``, ``NAME_UNKNOWN``, ``UNAUTHORIZED``, ``DENIED``,
``TOOMANYREQUESTS``, ...) or, when no server answered, ``UNREACHABLE`` (connection refused,
DNS failure, TLS failure: the message says which).
"""
from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from typing import BinaryIO

from capsa.drivers.base import Driver
from capsa.fastpath.record import record


@record(frozen=True)
class Descriptor:
    """An OCI content descriptor: what a reference or digest points at."""

    media_type: str
    digest: str
    size: int


class Credentials:
    """A username and a secret (a password or an identity token). Its repr never shows the
    secret, so credentials cannot leak through logs or tracebacks."""

    __slots__ = ("username", "password")

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=<hidden>)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Credentials) and (self.username, self.password) == (other.username, other.password)

    __hash__ = None  # type: ignore[assignment]


@record(frozen=True)
class Endpoint:
    """How to reach one registry.

    ``tls_verify`` False means podman's ``--tls-verify=false`` / ``insecure = true``: HTTPS
    without verifying the certificate, falling back to plain HTTP when the registry does not
    speak TLS. ``cert_dir`` is a docker ``certs.d``-style directory: every ``*.crt`` is a CA to
    trust (besides the system's), a ``NAME.cert`` with its ``NAME.key`` is a client certificate.
    ``credentials`` None means anonymous."""

    tls_verify: bool = True
    cert_dir: str | None = None
    credentials: Credentials | None = None


class RegistryDriver(Driver):
    kind = "registry"

    @abstractmethod
    def configure(self, registry: str, endpoint: Endpoint) -> None:
        """Use ``endpoint`` for every later request to ``registry``, replacing what an earlier
        call set (and forgetting tokens obtained with other credentials). An endpoint equal to
        the current one changes nothing: what the driver learnt (connections, the auth
        challenge, tokens) is kept. Makes no request."""

    def close(self) -> None:
        """Release what the driver holds (connections, tokens, settings). The engine calls it
        when its session ends; afterwards the driver may be configured and used again. The
        default does nothing."""

    @abstractmethod
    def check_login(self, registry: str) -> None:
        """Authenticate now (``GET /v2/`` and its challenge, fetching a token when the registry
        asks for Bearer auth). RegistryError ``UNAUTHORIZED`` when the credentials are refused,
        ``UNREACHABLE`` when nothing answers."""

    # Pull group.

    @abstractmethod
    def resolve(self, registry: str, repository: str, reference: str) -> Descriptor:
        """The descriptor a tag or digest points at (``HEAD`` of the manifest, accepting every
        manifest and index media type), without fetching the body."""

    @abstractmethod
    def get_manifest(self, registry: str, repository: str, reference: str) -> tuple[bytes, str]:
        """The manifest (or index) bytes exactly as served, and their media type (the
        ``Content-Type`` header). The caller checks the digest and the size."""

    @abstractmethod
    def get_blob(self, registry: str, repository: str, digest: str) -> Iterator[bytes]:
        """The blob's bytes in chunks (at most 1 MiB each), unverified: the caller checks the
        digest and stops reading when there are more bytes than expected. Errors before the
        first chunk and while streaming are RegistryError; closing the iterator early releases
        the connection."""

    @abstractmethod
    def blob_exists(self, registry: str, repository: str, digest: str) -> bool:
        """Whether the repository has the blob (``HEAD``)."""

    # Push group.

    @abstractmethod
    def put_blob(self, registry: str, repository: str, digest: str, stream: BinaryIO, size: int) -> None:
        """Upload ``size`` bytes read from ``stream`` as the blob ``digest``, which the caller has
        computed (monolithic or chunked, as the driver's options say). Raises RegistryError."""

    @abstractmethod
    def mount_blob(self, registry: str, repository: str, digest: str, from_repository: str) -> bool:
        """Ask the registry to link a blob from another repository of the same registry;
        False if it declined (the caller then uploads the blob)."""

    @abstractmethod
    def put_manifest(self, registry: str, repository: str, reference: str, body: bytes, media_type: str) -> str:
        """Upload a manifest under a tag or digest; return the digest the registry reports."""

    @abstractmethod
    def list_tags(self, registry: str, repository: str) -> list[str]:
        """Every tag of the repository (following pagination)."""
