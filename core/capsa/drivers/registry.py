"""The registry driver contract (after the OCI distribution spec).

Blobs are streamed; the core verifies every digest it receives, so a driver need not. Errors
are ``RegistryError`` keeping the server's code (``MANIFEST_UNKNOWN``, ``UNAUTHORIZED``,
``TOOMANYREQUESTS``, ...).
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


class RegistryDriver(Driver):
    kind = "registry"

    @abstractmethod
    def login(self, registry: str, username: str, password: str) -> None:
        """Use these credentials for every later request to ``registry`` (``host[:port]``).

        The core calls it before pulling or pushing, with what the ``capsa_registry_credentials``
        hook or the stored auth gives; drivers never look credentials up themselves."""

    # Pull group.

    @abstractmethod
    def resolve(self, registry: str, repository: str, reference: str) -> Descriptor:
        """The descriptor a tag or digest points at, without fetching the manifest body."""

    @abstractmethod
    def get_manifest(self, registry: str, repository: str, reference: str) -> tuple[bytes, str]:
        """The manifest (or index) bytes exactly as served, and their media type."""

    @abstractmethod
    def get_blob(self, registry: str, repository: str, digest: str) -> Iterator[bytes]:
        """The blob's bytes in chunks, unverified: the caller checks the digest."""

    @abstractmethod
    def blob_exists(self, registry: str, repository: str, digest: str) -> bool:
        """Whether the repository has the blob."""

    # Push group.

    @abstractmethod
    def put_blob(self, registry: str, repository: str, digest: str, stream: BinaryIO, size: int) -> None:
        """Upload a blob whose digest the caller has computed. Raises RegistryError."""

    @abstractmethod
    def mount_blob(self, registry: str, repository: str, digest: str, from_repository: str) -> bool:
        """Ask the registry to link a blob from another repository; False if it declined."""

    @abstractmethod
    def put_manifest(self, registry: str, repository: str, reference: str, body: bytes, media_type: str) -> str:
        """Upload a manifest under a tag or digest; return the digest the registry reports."""

    @abstractmethod
    def list_tags(self, registry: str, repository: str) -> list[str]:
        """Every tag of the repository."""
