"""Put images into a test registry with plain :mod:`requests` (no capsa code), so a test of
capsa's pull has content that capsa did not write, and a test of push can read back raw.

::

    from capsa.testing.imagebuilder import busybox_image
    from capsa.testing.registryupload import upload_image, upload_index

    img = busybox_image("zstd")
    digest = upload_image(server, "tests/busybox", "latest", layers=img.layers, config=img.config)
    arm = upload_image(server, "tests/multi", None, layers=..., config=...)   # by digest only
    upload_index(server, "tests/multi", "latest", [(digest, {"os": "linux", "architecture": "amd64"}),
                                                   (arm, {"os": "linux", "architecture": "arm64"})])

``auth=(user, password)`` answers the registry's challenge: Basic directly, Bearer by asking
the token realm for the challenged scope. :class:`RegistryClient` is that logic for any raw
request a test wants to make (``client.get("/v2/NAME/tags/list")``).
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from capsa.testing.imagebuilder import (DOCKER_CONFIG, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_CONFIG, OCI_INDEX,
                                        OCI_MANIFEST, decompress, image_config, sha256_digest)

if TYPE_CHECKING:
    import requests

    from capsa.testing.registryserver import RegistryServer

MANIFEST_ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST])


class RegistryClient:
    """Raw requests to ``server`` (paths like ``/v2/...``), answering 401 challenges with
    ``auth``: Basic, or Bearer through the realm's token endpoint (tokens kept per scope)."""

    def __init__(self, server: RegistryServer, auth: tuple[str, str] | None = None) -> None:
        self.server = server
        self.auth = auth
        self.session = server.session()
        self.tokens: dict[str, str] = {}

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith(("http://", "https://")) else self.server.url + path
        headers = dict(kwargs.pop("headers", None) or {})
        data = kwargs.get("data")
        response = self.session.request(method, url, headers=headers, timeout=60, **kwargs)
        if response.status_code != 401:
            return response
        challenge = response.headers.get("WWW-Authenticate", "")
        if challenge.lower().startswith("basic") and self.auth:
            return self.session.request(method, url, headers=headers, auth=self.auth, timeout=60, **kwargs)
        if challenge.lower().startswith("bearer"):
            token = self.token(parse_challenge(challenge))
            if token:
                headers["Authorization"] = f"Bearer {token}"
                if hasattr(data, "seek"):
                    data.seek(0)
                return self.session.request(method, url, headers=headers, timeout=60, **kwargs)
        return response

    def token(self, params: dict[str, str]) -> str | None:
        """A Bearer token for the challenge ``params`` (realm, service, scope), or None."""
        scope = params.get("scope", "")
        if scope in self.tokens:
            return self.tokens[scope]
        query = {k: v for k, v in params.items() if k in ("service", "scope")}
        response = self.session.get(params["realm"], params=query, auth=self.auth, timeout=30)
        if response.status_code != 200:
            return None
        body = response.json()
        token = body.get("token") or body.get("access_token")
        self.tokens[scope] = token
        return token

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("HEAD", path, **kwargs)


def parse_challenge(header: str) -> dict[str, str]:
    """``Bearer realm="...",service="...",scope="..."`` -> a dict of its parameters."""
    _, _, rest = header.partition(" ")
    out: dict[str, str] = {}
    while rest:
        key, _, rest = rest.strip().partition("=")
        if rest.startswith('"'):
            value, _, rest = rest[1:].partition('"')
        else:
            value, _, rest = rest.partition(",")
        out[key.strip().lower()] = value
        rest = rest.lstrip(", ")
    return out


def _check(response: requests.Response, what: str) -> requests.Response:
    if response.status_code >= 300:
        raise RuntimeError(f"{what}: HTTP {response.status_code} {response.text[:300]}")
    return response


def upload_blob(server: RegistryServer, repo: str, data: bytes, *, auth: tuple[str, str] | None = None,
                client: RegistryClient | None = None) -> str:
    """Upload ``data`` as a blob of ``repo`` (POST then PUT ?digest=, monolithic); its digest."""
    own = client is None
    client = client or RegistryClient(server, auth)
    try:
        digest = sha256_digest(data)
        if client.head(f"/v2/{repo}/blobs/{digest}").status_code == 200:
            return digest
        started = _check(client.request("POST", f"/v2/{repo}/blobs/uploads/"), f"start upload to {repo}")
        location = started.headers["Location"]
        if location.startswith("/"):
            location = server.url + location
        location += ("&" if "?" in location else "?") + f"digest={digest}"
        _check(client.request("PUT", location, data=data, headers={"Content-Type": "application/octet-stream"}),
               f"upload {digest} to {repo}")
        return digest
    finally:
        if own:
            client.close()


def upload_manifest(server: RegistryServer, repo: str, reference: str | None, body: bytes, media_type: str, *,
                    auth: tuple[str, str] | None = None, client: RegistryClient | None = None) -> str:
    """PUT ``body`` as manifest ``reference`` (a tag, or None: by its digest); its digest."""
    own = client is None
    client = client or RegistryClient(server, auth)
    try:
        digest = sha256_digest(body)
        _check(client.request("PUT", f"/v2/{repo}/manifests/{reference or digest}", data=body,
                              headers={"Content-Type": media_type}), f"put manifest {repo}:{reference}")
        return digest
    finally:
        if own:
            client.close()


def image_manifest(layers: list[tuple[bytes, str]], config: bytes, media_type: str = OCI_MANIFEST,
                   config_media_type: str | None = None, annotations: dict[str, str] | None = None) -> bytes:
    """The manifest (JSON bytes) of an image with these layer blobs and config."""
    if config_media_type is None:
        config_media_type = DOCKER_CONFIG if media_type == DOCKER_MANIFEST else OCI_CONFIG
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type,
                           "config": {"mediaType": config_media_type, "digest": sha256_digest(config),
                                      "size": len(config)},
                           "layers": [{"mediaType": kind, "digest": sha256_digest(data), "size": len(data)}
                                      for data, kind in layers]}
    if annotations:
        doc["annotations"] = annotations
    return json.dumps(doc, indent=2).encode()


def upload_image(server: RegistryServer, repo: str, tag: str | None, layers: list[tuple[bytes, str]],
                 config: bytes | None = None, manifest_media_type: str = OCI_MANIFEST, *,
                 config_media_type: str | None = None, auth: tuple[str, str] | None = None,
                 client: RegistryClient | None = None) -> str:
    """Upload the layers, the config (default: a valid one for these layers, this machine's
    platform) and the manifest (OCI or Docker v2s2), tagged ``tag`` (None: by digest only).
    Returns the manifest's digest."""
    if config is None:
        config = image_config([sha256_digest(decompress(data)) for data, _ in layers])
    own = client is None
    client = client or RegistryClient(server, auth)
    try:
        for data, _ in layers:
            upload_blob(server, repo, data, client=client)
        upload_blob(server, repo, config, client=client)
        body = image_manifest(layers, config, manifest_media_type, config_media_type)
        return upload_manifest(server, repo, tag, body, manifest_media_type, client=client)
    finally:
        if own:
            client.close()


def upload_index(server: RegistryServer, repo: str, tag: str | None, manifests: list[tuple[str, dict[str, str]]],
                 media_type: str = OCI_INDEX, *, auth: tuple[str, str] | None = None,
                 client: RegistryClient | None = None) -> str:
    """Upload an index (OCI) or manifest list (``DOCKER_MANIFEST_LIST``) of manifests already
    in ``repo``, each given as ``(digest, platform)`` (platform: os, architecture, variant...).
    Sizes and media types are read back from the registry. Returns the index's digest."""
    own = client is None
    client = client or RegistryClient(server, auth)
    try:
        entries = []
        for digest, platform in manifests:
            head = _check(client.head(f"/v2/{repo}/manifests/{digest}", headers={"Accept": MANIFEST_ACCEPT}),
                          f"manifest {digest} in {repo}")
            entries.append({"mediaType": head.headers["Content-Type"], "digest": digest,
                            "size": int(head.headers["Content-Length"]), "platform": dict(platform)})
        body = json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": entries}, indent=2).encode()
        return upload_manifest(server, repo, tag, body, media_type, client=client)
    finally:
        if own:
            client.close()
