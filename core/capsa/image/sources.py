"""Where ``import`` reads a tarball from: a file, or an ``http://``/``https://`` URL (as
``podman import URL``), streamed (never held in memory, never written anywhere but the store).

``requests`` is imported only for a URL. Errors are one line with a hint: a missing file or a
URL that cannot be fetched is a UsageError (exit 125), nothing is written to the store.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO

from capsa.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Iterator

URL_SCHEMES = ("http://", "https://")
TIMEOUT = 60  # seconds to connect, and between two reads


def is_url(source: str) -> bool:
    return source.lower().startswith(URL_SCHEMES)


def check_source(source: str) -> None:
    """Refuse a source that is neither ``-``, an existing file nor an http(s) URL."""
    import os

    if source != "-" and not is_url(source) and not os.path.isfile(source):
        raise UsageError(f"{source}: no such file",
                         hint="give the path of a tarball, an http:// or https:// URL, or - to read standard input")


@contextmanager
def open_source(source: str) -> Iterator[BinaryIO]:
    """The tarball ``source`` names (a file path or an http(s) URL) as a binary stream."""
    check_source(source)
    if not is_url(source):
        with open(source, "rb") as fh:
            yield fh
        return
    with _download(source) as stream:
        yield stream


@contextmanager
def _download(url: str) -> Iterator[BinaryIO]:
    import requests

    hint = "check the URL, and that the server is reachable from this host"
    try:
        response = requests.get(url, stream=True, timeout=TIMEOUT, headers={"Accept-Encoding": "identity"})
    except requests.RequestException as exc:
        raise UsageError(f"cannot download {url}: {_reason(exc)}", hint=hint) from None
    with response:
        if response.status_code != 200:
            raise UsageError(f"cannot download {url}: HTTP {response.status_code} {response.reason}".rstrip(),
                             hint=hint)
        response.raw.decode_content = True  # a transfer encoding, not the tarball's own compression
        try:
            yield _Guarded(response.raw)
        except DownloadFailed as exc:
            raise UsageError(f"downloading {url} failed: {exc.strerror}", hint=hint) from None


class DownloadFailed(OSError):
    """The connection failed mid-body: an I/O error (errno EIO), which the decompressors and
    the tar reader pass through as they do a file's (it is no fault of the data)."""


class _Guarded:
    """The response body; its transport errors are :class:`DownloadFailed`."""

    def __init__(self, raw: object) -> None:
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        import errno

        import requests
        from urllib3.exceptions import HTTPError

        try:
            return self._raw.read(None if size < 0 else size)  # type: ignore[attr-defined, no-any-return]
        except (HTTPError, OSError, requests.RequestException) as exc:
            raise DownloadFailed(errno.EIO, _reason(exc)) from None


def _reason(exc: BaseException) -> str:
    """The last line of the innermost cause: urllib3 nests several."""
    while exc.__context__ is not None and not str(exc):
        exc = exc.__context__
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
