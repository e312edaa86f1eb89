"""Pushing blobs up: monolithic and chunked uploads, and cross-repository mounts.

Contracts: :func:`put_blob` reads exactly ``size`` bytes from the stream (a shorter stream is a
RegistryError ``SIZE_INVALID`` and the upload session is cancelled). With ``chunk_size`` 0, or a
blob no larger than one chunk, the bytes go in one ``PUT``; otherwise in ``PATCH`` requests of
``chunk_size`` bytes (``Content-Range: start-end``) closed by a ``PUT ?digest=``. A transient
failure while bytes are in flight restarts the whole upload with a new session, when the stream
can seek back (the registry's state of a broken session is unknown); otherwise it is reported.
A failed upload's session is cancelled (``DELETE``), best effort. :func:`mount_blob`: True on
201, False on 202 after cancelling the upload session the registry opened instead.
"""
from __future__ import annotations

import logging
import time
from typing import BinaryIO
from urllib.parse import urlencode, urljoin

import requests

from capsa.errors import RegistryError
from capsa_registry_oci import errors, retry
from capsa_registry_oci.transport import Remote

log = logging.getLogger("capsa.registry.oci")

READ_SIZE = 1 << 20  # how much a monolithic upload reads from the stream at a time


def push_scopes(repository: str) -> tuple[str, ...]:
    return (f"repository:{repository}:pull,push",)


class _Transient(Exception):
    """A failure worth restarting the upload for; ``error`` is what to report otherwise."""

    def __init__(self, error: RegistryError, wait: float | None = None) -> None:
        super().__init__(error.message)
        self.error, self.wait = error, wait


def put_blob(remote: Remote, repository: str, digest: str, stream: BinaryIO, size: int, chunk_size: int) -> None:
    what = f"upload of blob {digest} to {repository}"
    start = _position(stream)
    attempt = 0
    while True:
        try:
            _upload_once(remote, repository, digest, stream, size, chunk_size, what, start)
            return
        except _Transient as exc:
            if start is None or attempt >= remote.retries:
                raise exc.error from None
            wait = retry.backoff(attempt) if exc.wait is None else exc.wait
            if wait > retry.MAX_RETRY_AFTER:
                raise exc.error from None
            log.debug("%s failed (%s); restarting it in %.1fs", what, exc.error.message, wait)
            time.sleep(wait)
            stream.seek(start)
            attempt += 1


def _upload_once(remote: Remote, repository: str, digest: str, stream: BinaryIO, size: int,
                 chunk_size: int, what: str, start: int | None) -> None:
    scopes = push_scopes(repository)
    _, location = open_session(remote, repository, what)
    body = None
    try:
        if chunk_size > 0 and size > chunk_size:
            location = _send_chunks(remote, location, stream, size, chunk_size, scopes, what)
        else:
            body = _Body(stream, size, start)
        headers = {"Content-Type": "application/octet-stream"}
        try:
            response = _send(remote, "PUT", _with_digest(location, digest), scopes, what, headers, body or b"")
        except (RegistryError, _Transient):
            if body is not None and body.short:
                raise RegistryError(f"{what}: the stream ended after {body.reader.sent} of {size} bytes",  # type: ignore[union-attr]
                                    code="SIZE_INVALID") from None
            raise
        with response:
            if response.status_code not in (201, 204):
                raise _failure(remote, response, what)
    except BaseException:
        cancel(remote, location, scopes)
        raise


def open_session(remote: Remote, repository: str, what: str, query: dict[str, str] | None = None,
                 scopes: tuple[str, ...] | None = None) -> tuple[int, str]:
    """``POST`` to the upload endpoint: its status (202: a session is open; 201: a mount
    succeeded) and the absolute location URL."""
    path = f"/v2/{repository}/blobs/uploads/" + (f"?{urlencode(query)}" if query else "")
    response = remote.request("POST", path, what=what, scopes=scopes or push_scopes(repository),
                              headers={"Content-Length": "0"}, body=b"")
    with response:
        location = response.headers.get("Location")
        if response.status_code not in (201, 202) or (response.status_code == 202 and not location):
            raise errors.from_response(response, remote.registry, what) from None
        return response.status_code, urljoin(response.url, location or "")


def _send_chunks(remote: Remote, location: str, stream: BinaryIO, size: int, chunk_size: int,
                 scopes: tuple[str, ...], what: str) -> str:
    """PATCH every chunk in order; the location to close the upload at."""
    offset = 0
    while offset < size:
        data = _read_exactly(stream, min(chunk_size, size - offset))
        if not data:
            raise RegistryError(f"{what}: the stream ended after {offset} of {size} bytes", code="SIZE_INVALID")
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(data)),
                   "Content-Range": f"{offset}-{offset + len(data) - 1}"}
        response = _send(remote, "PATCH", location, scopes, what, headers, data)
        with response:
            if response.status_code != 202:
                raise _failure(remote, response, what)
            location = urljoin(response.url, response.headers.get("Location") or location)
        offset += len(data)
    return location


def _send(remote: Remote, method: str, location: str, scopes: tuple[str, ...], what: str,
          headers: dict[str, str], body: object) -> requests.Response:
    """One request carrying upload bytes: never retried here (see put_blob)."""
    try:
        return remote.request(method, location, what=what, scopes=scopes, headers=headers, body=body,  # type: ignore[arg-type]
                              retries=False)
    except RegistryError as exc:
        if exc.code == "UNREACHABLE" and remote.answered:
            raise _Transient(exc) from None
        raise


def _failure(remote: Remote, response: requests.Response, what: str) -> Exception:
    error = errors.from_response(response, remote.registry, what, not_found="BLOB_UPLOAD_UNKNOWN")
    if response.status_code in retry.RETRY_STATUSES:
        return _Transient(error, retry.retry_after(response.headers.get("Retry-After")))
    return error


def cancel(remote: Remote, location: str, scopes: tuple[str, ...]) -> None:
    """Cancel an upload session, best effort (registries expire forgotten ones anyway)."""
    try:
        remote.request("DELETE", location, what="cancelling an upload", scopes=scopes, retries=False).close()
    except RegistryError:
        pass


def mount_blob(remote: Remote, repository: str, digest: str, from_repository: str) -> bool:
    what = f"mount of blob {digest} from {from_repository} to {repository}"
    scopes = (*push_scopes(repository), f"repository:{from_repository}:pull")
    status, location = open_session(remote, repository, what, {"mount": digest, "from": from_repository}, scopes)
    if status == 201:
        return True
    cancel(remote, location, scopes)
    return False


def _with_digest(location: str, digest: str) -> str:
    return location + ("&" if "?" in location else "?") + urlencode({"digest": digest})


def _position(stream: BinaryIO) -> int | None:
    try:
        if stream.seekable() and callable(getattr(stream, "seek", None)):
            return stream.tell()
    except (AttributeError, OSError, ValueError):
        pass
    return None


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    parts, left = [], n
    while left > 0:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


class _Body:
    """A monolithic upload's body for the request loop: each call gives a fresh reader of the
    blob, seeking back to ``start`` for a resend (after an answered 401); a stream that cannot
    seek is sent once."""

    def __init__(self, stream: BinaryIO, size: int, start: int | None) -> None:
        self.stream, self.size, self.start = stream, size, start
        self.reader: _Limited | None = None

    def __call__(self) -> _Limited:
        if self.reader is not None:
            if self.start is None:
                raise RegistryError("the blob cannot be sent again: its stream cannot seek back",
                                    code="BLOB_UPLOAD_INVALID")
            self.stream.seek(self.start)
        self.reader = _Limited(self.stream, self.size)
        return self.reader

    @property
    def short(self) -> bool:
        return self.reader is not None and self.reader.short


class _Limited:
    """At most ``size`` bytes of a stream, as a request body requests sends with a
    ``Content-Length`` (it has a length) and reads piece by piece (it has ``read``)."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self._stream, self._size, self.sent, self.short = stream, size, 0, False

    def __len__(self) -> int:
        return self._size - self.sent

    def read(self, n: int = -1) -> bytes:
        left = self._size - self.sent
        if left <= 0:
            return b""
        n = left if n is None or n < 0 else min(n, left)
        data = self._stream.read(min(n, READ_SIZE))
        if not data:
            # Too short: the registry will see a truncated body; stop the request.
            self.short = True
            raise OSError(f"the stream ended after {self.sent} of {self._size} bytes")
        self.sent += len(data)
        return data

    def __iter__(self):  # type: ignore[no-untyped-def]
        while True:
            data = self.read(READ_SIZE)
            if not data:
                return
            yield data
