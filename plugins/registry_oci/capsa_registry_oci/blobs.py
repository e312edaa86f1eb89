"""Streaming a blob down: :class:`BlobChunks`, the iterator ``get_blob`` returns.

Contracts: chunks of at most ``CHUNK`` bytes, exactly as stored (``Accept-Encoding: identity``,
no decoding); a connection that breaks mid-stream is resumed with a ``Range`` request (up to the
remote's ``retries``), or, when the registry ignores ranges, by skipping what was already
delivered; ``close()`` (also on exhaustion, on error and when garbage collected) releases the
connection. Errors are RegistryError.
"""
from __future__ import annotations

import logging
import time

import requests

from capsa_registry_oci import errors, retry
from capsa_registry_oci.transport import Remote

log = logging.getLogger("capsa.registry.oci")

CHUNK = 1 << 20  # the contract's largest chunk: 1 MiB
STREAM_ERRORS = (requests.exceptions.ChunkedEncodingError, requests.ConnectionError, requests.Timeout,
                 requests.exceptions.ContentDecodingError)


def open_blob(remote: Remote, path: str, scopes: tuple[str, ...], what: str, offset: int = 0) -> requests.Response:
    """The streaming response for a blob GET (from ``offset``), or RegistryError."""
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    response = remote.request("GET", path, what=what, scopes=scopes, headers=headers, stream=True)
    if response.status_code in (200, 206):
        return response
    with response:
        raise errors.from_response(response, remote.registry, what, not_found="BLOB_UNKNOWN") from None


class BlobChunks:
    """The chunks of one blob; an iterator that can be closed early."""

    def __init__(self, remote: Remote, path: str, scopes: tuple[str, ...], what: str) -> None:
        self._remote, self._path, self._scopes, self._what = remote, path, scopes, what
        self._response: requests.Response | None = None
        self._response = open_blob(remote, path, scopes, what)
        self._chunks = self._response.iter_content(CHUNK)
        self.received = 0
        self._resumes = 0

    def __repr__(self) -> str:
        return f"BlobChunks({self._what!r}, received={self.received})"

    def __iter__(self) -> BlobChunks:
        return self

    def __next__(self) -> bytes:
        while True:
            if self._response is None:
                raise StopIteration
            broken: Exception | None = None
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self.close()
                raise
            except STREAM_ERRORS as exc:
                broken = exc
            if broken is not None:  # resumed (or reported) outside the except block: see transport._send
                self._resume(broken)
                continue
            if chunk:
                self.received += len(chunk)
                return chunk

    def _resume(self, exc: BaseException) -> None:
        """Reopen the blob after a broken stream, from where it broke."""
        self.close()
        reason = errors.network_reason(exc)
        if self._resumes >= self._remote.retries:
            raise errors.unreachable(self._remote.registry, f"{self._what}: {reason} after {self.received} bytes") from None
        self._resumes += 1
        wait = retry.backoff(self._resumes - 1)
        log.debug("%s broke after %d bytes (%s); resuming in %.1fs", self._what, self.received, reason, wait)
        time.sleep(wait)
        response = open_blob(self._remote, self._path, self._scopes, self._what, offset=self.received)
        self._response = response
        self._chunks = response.iter_content(CHUNK)
        if response.status_code == 200 and self.received:  # the registry ignored Range: skip what we have
            skipped = 0
            while skipped < self.received:
                try:
                    chunk = next(self._chunks)
                except StopIteration:
                    self.close()
                    raise errors.unreachable(self._remote.registry, f"{self._what}: the blob got shorter on a retry") from None
                if skipped + len(chunk) > self.received:
                    keep = chunk[self.received - skipped:]
                    rest = self._chunks
                    self._chunks = _prepend(keep, rest)
                    skipped = self.received
                else:
                    skipped += len(chunk)

    def close(self) -> None:
        """Release the connection (idempotent)."""
        response, self._response = self._response, None
        if response is not None:
            response.close()

    def __del__(self) -> None:
        self.close()

    def __enter__(self) -> BlobChunks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _prepend(first: bytes, rest):  # type: ignore[no-untyped-def]
    yield first
    yield from rest
