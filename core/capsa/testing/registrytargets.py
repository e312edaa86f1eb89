"""What the registry conformance suite runs against: :class:`RegistryTarget` (a registry, the
endpoint that reaches it, and what the suite may try on it), :func:`registry_targets` (real
docker-registry servers of every kind, started and stopped here), and the small helpers the
suite shares (digests, manifests, a closed port, connection counts)."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from capsa.drivers.registry import Credentials, Endpoint
from capsa.fastpath.record import record
from capsa.image import mediatypes as mt

__all__ = ["SECRET_MARK", "TARGETS", "RegistryTarget", "closed_port", "established_to", "image_config",
           "image_manifest", "plain_target", "registry_targets", "sha256"]

SECRET_MARK = "s3cr3t-Conformance"  # in the passwords of the built-in targets: grep-able if it leaks


@record(frozen=True)
class RegistryTarget:
    """A registry for the suite: its ``registry`` name (``host:port``), the ``endpoint`` that
    reaches it (TLS settings and good credentials), and optionally: ``wrong_password`` (the
    suite then checks that it is refused with UNAUTHORIZED), ``anonymous_refused`` (the registry
    refuses anonymous requests), ``untrusted`` (an endpoint that must fail TLS verification),
    ``server`` (a :class:`~capsa.testing.registryserver.RegistryServer`, for checks with a raw
    client) and ``auth`` (the ``(user, password)`` that raw client needs)."""

    registry: str
    endpoint: Endpoint
    wrong_password: str | None = None
    anonymous_refused: bool = False
    untrusted: Endpoint | None = None
    server: Any = None
    auth: tuple[str, str] | None = None


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


TARGETS = ("plain", "tls", "tls-noverify", "mtls", "basic", "basic-tls", "token")


def registry_targets(kind: str = "plain") -> Iterator[RegistryTarget]:
    """A real docker-registry on 127.0.0.1 of one of the ``TARGETS`` kinds, as a target (a
    generator: the server stops when it is closed). ``plain``: HTTP, anonymous, reached with
    ``tls_verify=False``; ``tls``: HTTPS with a CA made for the test, trusted through a cert dir
    (which also holds a client certificate); ``tls-noverify``: the same server reached with
    ``tls_verify=False``; ``mtls``: HTTPS requiring the client certificate; ``basic``: HTTP with
    htpasswd users; ``basic-tls``: the same over HTTPS; ``token``: HTTP with Bearer tokens from
    :class:`capsa.testing.tokenservice.TokenService` (anonymous may pull, not push). Skips when
    docker-registry is missing."""
    from contextlib import ExitStack

    from capsa.testing.registryserver import REGISTRY_BINARY, RegistryServer, registry_available

    if kind not in TARGETS:
        raise ValueError(f"unknown registry target {kind!r}: one of {', '.join(TARGETS)}")
    if not registry_available():
        pytest.skip(f"{REGISTRY_BINARY} is not installed (Debian's docker-registry package)")
    tls = kind in ("tls", "tls-noverify", "mtls", "basic-tls")
    options: dict[str, Any] = {"tls": tls, "client_certs": kind == "mtls"}
    user, password = "conformance", "Pw-" + SECRET_MARK
    with ExitStack() as stack:
        if kind.startswith("basic"):
            options["htpasswd"] = {user: password}
        elif kind == "token":
            from capsa.testing.tokenservice import TokenService

            options["token"] = stack.enter_context(TokenService(users={user: password}, permissions={
                user: ("pull", "push", "delete"), None: ("pull",)}))
        server = stack.enter_context(RegistryServer(**options))
        cert_dir = str(server.tls.cert_dir) if tls else None
        credentials = Credentials(user, password) if "htpasswd" in options or "token" in options else None
        endpoint = Endpoint(tls_verify=kind not in ("plain", "tls-noverify", "basic", "token"), cert_dir=cert_dir,
                            credentials=credentials)
        untrusted = Endpoint(credentials=credentials) if tls and kind != "tls-noverify" else None
        yield RegistryTarget(server.host, endpoint, wrong_password="Wrong-" + SECRET_MARK if credentials else None,
                             anonymous_refused=credentials is not None, untrusted=untrusted, server=server,
                             auth=(user, password) if credentials else None)


def plain_target() -> Iterator[RegistryTarget]:
    """``registry_targets("plain")``."""
    yield from registry_targets("plain")


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nobody listens on it once the socket is closed


def image_manifest(config: bytes, layers: list[bytes], media_type: str = mt.OCI_MANIFEST) -> bytes:
    docker = media_type == mt.DOCKER_MANIFEST
    layer_type = mt.DOCKER_LAYER_GZIP if docker else mt.OCI_LAYER_GZIP
    doc = {"schemaVersion": 2, "mediaType": media_type,
           "config": {"mediaType": mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG,
                      "digest": sha256(config), "size": len(config)},
           "layers": [{"mediaType": layer_type, "digest": sha256(b), "size": len(b)} for b in layers]}
    return json.dumps(doc, indent=3).encode()


def image_config(tag: str) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                       "config": {"Labels": {"conformance": tag}}}).encode()


def established_to(port: int) -> int:
    """How many TCP connections to 127.0.0.1:``port`` are established in this network namespace."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state = fields[2], fields[3]
        if state == "01" and int(remote.split(":")[1], 16) == port:
            count += 1
    return count
