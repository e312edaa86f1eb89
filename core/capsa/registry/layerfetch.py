"""Blobs downloaded into the store while they are read: a download thread writes a blob into
the store's ingest directory, hashing and counting what arrives, and anyone may read the blob
while it grows (:meth:`BlobDownload.follow`), so a layer is extracted as it downloads.

Contracts:
- A :class:`BlobDownload` writes at most ``size`` bytes: one more byte from the registry stops
  the download (the registry sends more than its descriptor says). It ends with the blob in the
  store under its digest (verified: exactly ``size`` bytes whose sha256 is ``digest``) or with
  ``error`` set, a RegistryError naming the digest, and its ingest file removed.
- A follower's reads return the bytes written so far, wait for more, and return end-of-file only
  once the blob is verified and stored; if the download failed they raise its error.
- Memory: chunks of at most 1 MiB are in flight; the blob itself is only on disk.
- Durability: the stored blob is not fsynced; whoever makes it referenced syncs it first
  (:meth:`capsa.store.layers.LayerStore.add_from_stream` syncs the blobs' filesystem).
"""
from __future__ import annotations

import io
import os
import threading

from capsa.errors import CapsaError, RegistryError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from capsa.store.blobs import BlobStore

MAX_CHUNK = 1 << 20
HINT = "the registry sent a damaged or tampered blob; nothing was stored. Try again, or check the registry"


class Cancelled(CapsaError):
    """The pull stopped the download (another layer failed)."""


class BlobDownload:
    """One blob on its way into ``blobs`` (see the module's contract). ``progress(n)`` is
    called with every chunk's size from the download thread."""

    def __init__(self, blobs: BlobStore, digest: str, size: int, progress: Callable[[int], None] | None = None) -> None:
        from capsa.store.blobs import check_digest

        self.blobs = blobs
        self.digest = check_digest(digest)
        self.size = size
        self.progress = progress
        self.written = 0
        self.done = False
        self.error: BaseException | None = None
        self._cancel = False
        self.started_extracting = False  # set by the puller when it follows the blob
        self._cond = threading.Condition()
        os.makedirs(blobs.ingest, exist_ok=True)
        self.path = os.path.join(blobs.ingest, f"pull-{os.getpid()}-{os.urandom(6).hex()}")
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        self._read_fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)  # the inode outlives the rename

    # -- the download thread --------------------------------------------------------------------

    def run(self, fetch: Callable[[], Iterator[bytes]]) -> None:
        """Download (``fetch()`` gives the chunks), verify and store the blob; never raises: the
        outcome is ``error`` or a stored blob, announced to followers."""
        from hashlib import sha256

        hasher = sha256()
        chunks: Iterator[bytes] | None = None
        try:
            chunks = fetch()
            for chunk in chunks:
                if self._cancel:
                    raise Cancelled(f"download of {self.digest} stopped")
                n = len(chunk)
                if self.written + n > self.size:
                    raise RegistryError(f"blob {self.digest} is larger than its descriptor says ({self.size} bytes)",
                                        hint=HINT, code="SIZE_INVALID")
                hasher.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(self._fd, view):]
                with self._cond:
                    self.written += n
                    self._cond.notify_all()
                if self.progress is not None:
                    self.progress(n)
            if self.written != self.size:
                raise RegistryError(f"blob {self.digest} has {self.written} bytes, its descriptor says {self.size}",
                                    hint=HINT, code="SIZE_INVALID")
            got = "sha256:" + hasher.hexdigest()
            if got != self.digest:
                raise RegistryError(f"blob {self.digest} does not match its digest (the registry sent {got})",
                                    hint=HINT, code="DIGEST_INVALID")
            # Not fsynced here: the layer made from this blob is recorded complete only after
            # LayerStore syncs the filesystems of its data and of the blobs (one syncfs for
            # both, instead of flushing the blob first and the layer's files after it). Until
            # then nothing refers to the blob, and an interrupted pull leaves it to be collected.
            os.replace(self.path, self.blobs.path(self.digest))
        except BaseException as exc:  # handed to the followers and the caller
            self.error = exc if isinstance(exc, CapsaError) else _wrap(exc, self.digest)
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        finally:
            if chunks is not None and hasattr(chunks, "close"):
                chunks.close()  # type: ignore[union-attr]
            os.close(self._fd)
            with self._cond:
                self.done = True
                self._cond.notify_all()

    # -- the other side -------------------------------------------------------------------------

    def cancel(self) -> None:
        """Ask the download to stop at its next chunk (it then ends with ``Cancelled``)."""
        self._cancel = True

    def wait(self) -> None:
        """Block until the download ended; raise its error if it failed."""
        self.wait_quietly()
        if self.error is not None:
            raise self.error

    def wait_quietly(self) -> None:
        """Block until the download ended, whatever its outcome."""
        with self._cond:
            while not self.done:
                self._cond.wait()

    def wait_for(self, offset: int) -> int:
        """Block until more than ``offset`` bytes are written or the download ended; return how
        many are written (``offset`` itself only at a verified end). Raises the download's error."""
        with self._cond:
            while self.written <= offset and not self.done:
                self._cond.wait()
            if self.error is not None:
                raise self.error
            return self.written

    def follow(self) -> io.BufferedReader:
        """The reader of the blob as it grows (see the module's contract; one per download);
        the caller closes it."""
        fd, self._read_fd = self._read_fd, -1
        if fd < 0:
            raise ValueError(f"the download of {self.digest} is already followed")
        return io.BufferedReader(_Follower(self, fd), buffer_size=MAX_CHUNK)

    def release(self) -> None:
        """Close what :meth:`follow` would have used, if it was not called."""
        fd, self._read_fd = self._read_fd, -1
        if fd >= 0:
            os.close(fd)


class _Follower(io.RawIOBase):
    def __init__(self, download: BlobDownload, fd: int) -> None:
        super().__init__()
        self.download = download
        self.fd = fd
        self.pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        available = self.download.wait_for(self.pos)
        if available == self.pos:
            return 0
        n = os.preadv(self.fd, [memoryview(buf)[:min(len(buf), available - self.pos)]], self.pos)
        self.pos += n
        return n

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
        super().close()


def _wrap(exc: BaseException, digest: str) -> RegistryError:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return RegistryError(f"downloading blob {digest} failed: {text}", hint="check the registry and try again")
