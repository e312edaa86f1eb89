"""The uncompressed layer tar as a forward-only, hashed stream, and what every tar reader shares.

``TarSource`` is what tarfile reads: a reader thread reads (and decompresses) into a small pool
of buffers and hashes every byte in order into ``digest`` (the diff_id), so hashing and
decompression overlap the writes; ``seek`` only moves forward, member data goes straight to an
fd with ``copy``, ``drain`` reads to the end for the digest and ``close`` stops the thread.
Truncated or corrupt data, and whatever the underlying stream or decompressor raises, is
ArchiveError (see ``corrupt``). ``decompressed`` (gzip, zstd, xz, bzip2) lives in
``capsa.store.compression`` and is re-exported here.

Shared with every other tar reader and writer: ``BoundedTarInfo`` (tarfile's TarInfo refusing
pax and GNU long-name headers over ``MAX_SPECIAL_HEADER`` before reading them, as Go's
archive/tar does), ``HashingReader`` (sha256 and byte count of what is read through it), the
OCI whiteout names ``WHITEOUT`` and ``OPAQUE``, and ``out_of_space`` (ENOSPC and EDQUOT made a
one-line StorageError).
"""
from __future__ import annotations

import errno
import hashlib
import io
import os
import queue
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from capsa.errors import ArchiveError, StorageError
from capsa.store.compression import CHUNK, corrupt, decompressed

__all__ = ["CHUNK", "MAX_SPECIAL_HEADER", "OPAQUE", "WHITEOUT", "BoundedTarInfo", "HashingReader", "TarSource",
           "corrupt", "decompressed", "no_space", "out_of_space"]

WHITEOUT = ".wh."  # OCI: ".wh.NAME" deletes NAME from the layers below
OPAQUE = ".wh..wh..opq"  # OCI: the directory holding it hides what the layers below put there
MAX_SPECIAL_HEADER = 1 << 20  # pax and GNU long-name/long-link headers: Go's archive/tar limit
STORE_HINT = "free space under the store root"
_POOL = 4  # buffers in flight between the reader thread and the writer
_SPECIAL = {tarfile.XHDTYPE: "pax extended", tarfile.SOLARIS_XHDTYPE: "pax extended", tarfile.XGLTYPE: "pax global",
            tarfile.GNUTYPE_LONGNAME: "GNU long-name", tarfile.GNUTYPE_LONGLINK: "GNU long-link"}
_NO_SPACE = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}


class BoundedTarInfo(tarfile.TarInfo):
    """A TarInfo that refuses a special header (pax, GNU long name or link) claiming more than
    ``MAX_SPECIAL_HEADER`` bytes before tarfile reads it into memory."""

    archive = "the archive"  # how error messages name the archive

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        kind = _SPECIAL.get(self.type)
        if kind is not None and self.size > MAX_SPECIAL_HEADER:
            raise ArchiveError(f"{self.archive} has a {kind} header of {self.size} bytes; "
                               f"capsa reads at most {MAX_SPECIAL_HEADER >> 20} MiB",
                               hint="the archive is corrupt or hostile; it was not read further")
        return super()._proc_member(tarfile_)  # type: ignore[misc]


class HashingReader:
    """Reads through ``raw`` while hashing (sha256) and counting what passes."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.hasher = hashlib.sha256()
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.hasher.update(data)
        self.count += len(data)
        return data

    def readinto(self, buf: memoryview | bytearray) -> int:
        if not hasattr(self.raw, "readinto"):
            data = self.read(len(buf))
            buf[:len(data)] = data
            return len(data)
        n = self.raw.readinto(buf) or 0  # type: ignore[attr-defined]
        self.hasher.update(memoryview(buf)[:n])
        self.count += n
        return n

    def drain(self) -> None:
        """Read (and hash) the rest."""
        while self.read(CHUNK):
            pass

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of everything read so far."""
        return "sha256:" + self.hasher.hexdigest()


def no_space(exc: BaseException, doing: str, hint: str = STORE_HINT) -> StorageError | None:
    """The one-line StorageError for ``exc`` when it is ENOSPC or EDQUOT (``doing``: what failed,
    e.g. "extracting 'usr/bin/x'"); None for anything else."""
    reason = _NO_SPACE.get(getattr(exc, "errno", None)) if isinstance(exc, OSError) else None  # type: ignore[arg-type]
    return StorageError(f"{reason} while {doing}", hint=hint) if reason else None


@contextmanager
def out_of_space(doing: str, hint: str = STORE_HINT) -> Iterator[None]:
    """Turn ENOSPC and EDQUOT raised inside into :func:`no_space`'s StorageError."""
    try:
        yield
    except OSError as exc:
        error = no_space(exc, doing, hint)
        if error is None:
            raise
        raise error from exc


class TarSource:
    """The uncompressed tar as tarfile sees it: forward-only (``seek`` only skips ahead).

    A reader thread reads (and decompresses) ``raw`` into a small pool of buffers and hashes
    them in order, so hashing and decompression overlap the writes; ``close`` stops it.
    """

    def __init__(self, raw: BinaryIO, hashed: HashingReader | None = None) -> None:
        """``hashed``: a HashingReader that ``raw`` reads all its bytes through, which
        :attr:`diff_id` then takes (no second sha256 of the same bytes)."""
        self._hashed = hashed
        self._free: queue.SimpleQueue[bytearray | None] = queue.SimpleQueue()
        self._full: queue.SimpleQueue[tuple[bytearray | None, int | BaseException]] = queue.SimpleQueue()
        for _ in range(_POOL):
            self._free.put(bytearray(CHUNK))
        self._cur: bytearray | None = None
        self._view, self._off, self._eof, self._stop = memoryview(b""), 0, False, False
        self.digest = hashlib.sha256()
        self.pos = 0
        self._thread = threading.Thread(target=self._produce, args=(raw,), name="capsa-layer-reader", daemon=True)
        self._thread.start()

    def _produce(self, raw: BinaryIO) -> None:
        try:
            while (buf := self._free.get()) is not None and not self._stop:
                view, got = memoryview(buf), 0
                while got < CHUNK and (n := raw.readinto(view[got:])):  # type: ignore[attr-defined]
                    got += n
                if got:
                    if self._hashed is None:
                        self.digest.update(view[:got])
                    self._full.put((buf, got))
                if got < CHUNK:
                    self._full.put((None, 0))
                    return
        except BaseException as exc:  # handed to the reading side, which raises it
            self._full.put((None, exc))

    def _advance(self) -> bool:
        """Move to the next buffer; False at the end of the stream."""
        if self._cur is not None:
            self._free.put(self._cur)
            self._cur = None
        if self._eof:
            return False
        buf, n = self._full.get()
        if buf is None:
            self._eof = True
            if isinstance(n, ArchiveError):  # already says what is wrong (a corrupt compressed stream)
                raise n
            if isinstance(n, BaseException):
                raise corrupt(n) from n
            return False
        self._cur, self._view, self._off = buf, memoryview(buf)[:n], 0
        return True

    def _pieces(self, size: int, exact: bool = True) -> Iterator[memoryview]:
        """Views of the next ``size`` bytes, each valid until the next; running out of data is
        ArchiveError if ``exact``, else the end of the pieces."""
        while size > 0:
            if self._off == len(self._view) and not self._advance():
                if exact:
                    raise corrupt("unexpected end of data")
                return
            take = min(size, len(self._view) - self._off)
            self._off += take
            self.pos += take
            size -= take
            yield self._view[self._off - take:self._off]

    def read(self, size: int) -> bytes:
        """``size`` bytes (fewer only at the end of the stream: tarfile judges that). tarfile
        only reads headers this way (``BoundedTarInfo`` bounds them); a larger read is refused
        rather than gathered in memory."""
        if 0 <= size <= len(self._view) - self._off:  # a header inside one buffer
            self._off += size
            self.pos += size
            return self._view[self._off - size:self._off].tobytes()
        if not 0 <= size <= MAX_SPECIAL_HEADER:
            raise ArchiveError(f"the layer archive asks for a read of {size} bytes at once; "
                               f"capsa reads headers of at most {MAX_SPECIAL_HEADER >> 20} MiB",
                               hint="the archive is corrupt or hostile; it was not read further")
        return b"".join(bytes(piece) for piece in self._pieces(size, exact=False))

    def copy(self, fd: int, size: int) -> None:
        """Move the next ``size`` bytes to ``fd`` (-1 drops them)."""
        for piece in self._pieces(size):
            while fd >= 0 and piece:
                piece = piece[os.write(fd, piece):]

    @property
    def diff_id(self) -> str:
        """``sha256:<hex>`` of the uncompressed bytes read so far."""
        return self._hashed.digest if self._hashed is not None else "sha256:" + self.digest.hexdigest()

    def tell(self) -> int:
        return self.pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET or pos < self.pos:
            raise io.UnsupportedOperation("the layer stream only moves forward")
        self.copy(-1, pos - self.pos)
        return self.pos

    def drain(self) -> None:
        """Read to the end (padding after the end-of-archive blocks included) for the digest."""
        while self._advance():
            self.pos += len(self._view)

    def close(self) -> None:
        """Stop the reader thread and wait for it (its current read finishes first)."""
        self._stop = True
        self._free.put(None)
        self._thread.join()
