"""Manifests and tags: resolve (``HEAD``), get, put, and the paginated tag list.

Contracts: every request accepts every manifest and index media type capsa knows, schema 1
included (so the core can refuse it by name rather than get a 404 or a converted manifest);
media types are returned without parameters; a manifest body larger than ``MAX_MANIFEST`` is a
RegistryError ``MANIFEST_INVALID`` (read no further); a 404 without an error body is
``MANIFEST_UNKNOWN``.
"""
from __future__ import annotations

import hashlib
from urllib.parse import urljoin

import requests

from capsa.drivers.registry import Descriptor
from capsa.errors import RegistryError
from capsa.image import mediatypes as mt
from capsa_registry_oci import errors
from capsa_registry_oci.transport import Remote

MAX_MANIFEST = 4 << 20  # bytes: the distribution registry refuses manifests over 4 MiB too
ACCEPT = ", ".join((*mt.ACCEPTED_MANIFESTS, mt.DOCKER_V2S1_SIGNED, mt.DOCKER_V2S1))


def pull_scopes(repository: str) -> tuple[str, ...]:
    return (f"repository:{repository}:pull",)


def _what(repository: str, reference: str) -> str:
    sep = "@" if ":" in reference else ":"
    return f"manifest {repository}{sep}{reference}"


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip()


def resolve(remote: Remote, repository: str, reference: str) -> Descriptor:
    what = _what(repository, reference)
    response = remote.request("HEAD", f"/v2/{repository}/manifests/{reference}", what=what,
                              scopes=pull_scopes(repository), headers={"Accept": ACCEPT})
    with response:
        if response.status_code != 200:
            raise errors.from_response(response, remote.registry, what, not_found="MANIFEST_UNKNOWN") from None
        digest = response.headers.get("Docker-Content-Digest", "")
        media_type = _media_type(response.headers.get("Content-Type"))
        length = response.headers.get("Content-Length", "")
    if digest and media_type and length.isdigit():
        return Descriptor(media_type=media_type, digest=digest, size=int(length))
    body, media_type = get_manifest(remote, repository, reference)  # HEAD said too little: GET it
    return Descriptor(media_type=media_type, digest="sha256:" + hashlib.sha256(body).hexdigest()
                      if not reference.startswith("sha256:") else reference, size=len(body))


def get_manifest(remote: Remote, repository: str, reference: str) -> tuple[bytes, str]:
    what = _what(repository, reference)
    response = remote.request("GET", f"/v2/{repository}/manifests/{reference}", what=what,
                              scopes=pull_scopes(repository), headers={"Accept": ACCEPT}, stream=True)
    with response:
        if response.status_code != 200:
            raise errors.from_response(response, remote.registry, what, not_found="MANIFEST_UNKNOWN") from None
        media_type = _media_type(response.headers.get("Content-Type"))
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_MANIFEST:
            raise _too_large(remote, what)
        parts, total = [], 0
        broken: Exception | None = None
        try:
            for chunk in response.iter_content(65536):
                total += len(chunk)
                if total > MAX_MANIFEST:
                    break
                parts.append(chunk)
        except requests.RequestException as exc:
            broken = exc
        if broken is not None:
            raise remote.network_error(broken)
        if total > MAX_MANIFEST:
            raise _too_large(remote, what)
    return b"".join(parts), media_type


def _too_large(remote: Remote, what: str) -> RegistryError:
    return RegistryError(f"{what} on {remote.registry} is larger than {MAX_MANIFEST >> 20} MiB",
                         "no image manifest is that large: the reference likely points at something else",
                         code="MANIFEST_INVALID")


def put_manifest(remote: Remote, repository: str, reference: str, body: bytes, media_type: str) -> str:
    what = _what(repository, reference)
    response = remote.request("PUT", f"/v2/{repository}/manifests/{reference}", what=what,
                              scopes=(f"repository:{repository}:pull,push",),
                              headers={"Content-Type": media_type}, body=body)
    with response:
        if response.status_code not in (200, 201, 202, 204):
            raise errors.from_response(response, remote.registry, what) from None
        digest = response.headers.get("Docker-Content-Digest", "")
    return digest or "sha256:" + hashlib.sha256(body).hexdigest()


def list_tags(remote: Remote, repository: str) -> list[str]:
    what = f"tags of {repository}"
    path: str | None = f"/v2/{repository}/tags/list"  # the registry's page size; Link headers lead on
    tags: list[str] = []
    seen: set[str] = set()
    while path:
        response = remote.request("GET", path, what=what, scopes=pull_scopes(repository),
                                  headers={"Accept": "application/json"})
        with response:
            if response.status_code != 200:
                raise errors.from_response(response, remote.registry, what) from None
            try:
                page = response.json().get("tags") or []
            except ValueError:
                raise RegistryError(f"{what} on {remote.registry}: the answer is not JSON", code="UNKNOWN") from None
            tags += [t for t in page if isinstance(t, str)]
            link = response.links.get("next", {}).get("url")
            path = urljoin(response.url, link) if link else None
        if path in seen:  # a registry looping its links
            break
        if path:
            seen.add(path)
    return tags
