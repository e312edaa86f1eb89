"""The ``oci`` registry driver: an OCI distribution-spec client on requests.

One ``requests.Session`` per registry (:class:`capsa_registry_oci.transport.Remote`), set up by
``configure``. The modules: ``transport`` (scheme, auth and the retry loop), ``auth``
(challenges, Basic, Bearer tokens), ``tls`` (CAs and client certificates of a cert dir),
``manifests``, ``blobs`` (streaming down), ``uploads`` (pushing up), ``errors``. Importing this
package imports neither requests nor those modules: ``capsa info`` loads the driver without them.
See docs/registry-driver.md.
"""
from __future__ import annotations

import importlib.util
import threading
from typing import Any, BinaryIO

from capsa.drivers.base import Option
from capsa.drivers.registry import Descriptor, Endpoint, RegistryDriver
from capsa.errors import ConfigError, DriverNotSupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from capsa_registry_oci.transport import Remote


class OciRegistryDriver(RegistryDriver):
    OPTIONS = {
        "timeout": Option(int, 30, "seconds to wait for a registry to connect or to send more data"),
        "retries": Option(int, 3, "times a transient failure (connection reset, 5xx, 429) is retried, with backoff"),
        "chunk_size": Option(int, 0, "upload blobs in PATCH chunks of this many bytes (0: one monolithic PUT)"),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._remotes: dict[str, Remote] = {}
        self._lock = threading.Lock()

    def parse_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The declared checks, and: ``timeout`` positive, ``retries`` and ``chunk_size`` not negative."""
        parsed = super().parse_options(given)
        for key, least in (("timeout", 1), ("retries", 0), ("chunk_size", 0)):
            if parsed[key] < least:
                raise ConfigError(f"option {key!r} of registry driver {self.context.name!r} must be at least {least}, "
                                  f"not {parsed[key]}", hint=f"{key}: {self.OPTIONS[key].help}")
        return parsed

    def check_host(self) -> None:
        if importlib.util.find_spec("requests") is None:
            raise DriverNotSupported("requests is not installed", hint="pip install requests")

    def status(self) -> dict[str, Any]:
        out = super().status()
        o = self.options
        upload = f"chunks of {o['chunk_size']} bytes" if o["chunk_size"] else "monolithic"
        out["detail"] = f"OCI distribution client, timeout {o['timeout']}s, {o['retries']} retries, {upload} uploads"
        return out

    # registries --------------------------------------------------------------------------------

    def configure(self, registry: str, endpoint: Endpoint) -> None:
        from capsa_registry_oci.transport import Remote

        with self._lock:
            old = self._remotes.get(registry)
            if old is not None and old.endpoint == endpoint:
                return  # the same settings: keep the connections, the challenge and the tokens
            self._remotes.pop(registry, None)
        # Keep what the old settings learnt about the scheme only while TLS settings stay the same.
        scheme = old.scheme if old is not None and not endpoint.tls_verify and not old.endpoint.tls_verify else None
        remote = Remote(registry, endpoint, self.options["timeout"], self.options["retries"], scheme)
        if old is not None:
            old.close()
        with self._lock:
            self._remotes[registry] = remote

    def _remote(self, registry: str) -> Remote:
        with self._lock:
            remote = self._remotes.get(registry)
        if remote is None:  # not configured: verified TLS, anonymous
            self.configure(registry, Endpoint())
            with self._lock:
                remote = self._remotes[registry]
        return remote

    def close(self) -> None:
        """Close every registry's connections and forget its settings, tokens and scheme; the
        driver may be configured and used again afterwards."""
        with self._lock:
            remotes, self._remotes = list(self._remotes.values()), {}
        for remote in remotes:
            remote.close()

    def check_login(self, registry: str) -> None:
        from capsa_registry_oci import errors

        remote = self._remote(registry)
        response = remote.request("GET", "/v2/", what="login")
        with response:
            if response.status_code != 200:
                raise errors.from_response(response, registry, "login") from None

    # pull group --------------------------------------------------------------------------------

    def resolve(self, registry: str, repository: str, reference: str) -> Descriptor:
        from capsa_registry_oci import manifests

        return manifests.resolve(self._remote(registry), repository, reference)

    def get_manifest(self, registry: str, repository: str, reference: str) -> tuple[bytes, str]:
        from capsa_registry_oci import manifests

        return manifests.get_manifest(self._remote(registry), repository, reference)

    def get_blob(self, registry: str, repository: str, digest: str) -> Iterator[bytes]:
        from capsa_registry_oci.blobs import BlobChunks
        from capsa_registry_oci.manifests import pull_scopes

        return BlobChunks(self._remote(registry), f"/v2/{repository}/blobs/{digest}", pull_scopes(repository),
                          f"blob {digest} of {repository}")

    def blob_exists(self, registry: str, repository: str, digest: str) -> bool:
        from capsa_registry_oci import errors
        from capsa_registry_oci.manifests import pull_scopes

        what = f"blob {digest} of {repository}"
        remote = self._remote(registry)
        response = remote.request("HEAD", f"/v2/{repository}/blobs/{digest}", what=what, scopes=pull_scopes(repository))
        with response:
            if response.status_code == 200:
                return True
            if response.status_code == 404:
                return False
            raise errors.from_response(response, registry, what, not_found="BLOB_UNKNOWN") from None

    # push group --------------------------------------------------------------------------------

    def put_blob(self, registry: str, repository: str, digest: str, stream: BinaryIO, size: int) -> None:
        from capsa_registry_oci import uploads

        uploads.put_blob(self._remote(registry), repository, digest, stream, size, self.options["chunk_size"])

    def mount_blob(self, registry: str, repository: str, digest: str, from_repository: str) -> bool:
        from capsa_registry_oci import uploads

        return uploads.mount_blob(self._remote(registry), repository, digest, from_repository)

    def put_manifest(self, registry: str, repository: str, reference: str, body: bytes, media_type: str) -> str:
        from capsa_registry_oci import manifests

        return manifests.put_manifest(self._remote(registry), repository, reference, body, media_type)

    def list_tags(self, registry: str, repository: str) -> list[str]:
        from capsa_registry_oci import manifests

        return manifests.list_tags(self._remote(registry), repository)
