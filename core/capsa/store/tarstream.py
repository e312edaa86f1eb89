"""The uncompressed layer tar as a forward-only, hashed stream.

``decompressed`` sniffs gzip and zstd from the first bytes (which stay readable) and returns
the uncompressed stream; anything else is returned as is. ``TarSource`` is what tarfile reads:
a reader thread reads (and decompresses) into a small pool of buffers and hashes every byte in
order into ``digest`` (the diff_id), so hashing and decompression overlap the writes; ``seek``
only moves forward, member data goes straight to an fd with ``copy``, ``drain`` reads to the end
for the digest and ``close`` stops the thread. Truncated or corrupt data, and whatever the
underlying stream or decompressor raises, is ArchiveError (see ``corrupt``).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import queue
import threading
from collections.abc import Iterator
from typing import BinaryIO

from capsa.errors import ArchiveError

CHUNK = 1 << 20
_POOL = 4  # buffers in flight between the reader thread and the writer


def corrupt(exc: object) -> ArchiveError:
    """The ArchiveError for a truncated or corrupt layer, ``exc`` its cause."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return ArchiveError(f"layer archive is truncated or corrupt: {text}",
                        hint="the layer blob is damaged or incomplete; pull the image again")


class _Prefixed(io.RawIOBase):
    """``head``, then the rest of ``rest``: the sniffed bytes given back."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        data = self._head[:len(buf)] or self._rest.read(len(buf))
        self._head = self._head[len(data):]
        buf[:len(data)] = data
        return len(data)


def decompressed(stream: BinaryIO) -> BinaryIO:
    """The uncompressed tar in ``stream``: gzip and zstd are sniffed from the first bytes, which
    stay readable; anything else is returned as is (a non-tar fails on extraction)."""
    try:
        head = stream.peek(4)[:4] if hasattr(stream, "peek") else b""  # type: ignore[attr-defined]
        if len(head) < 4 or not hasattr(stream, "readinto"):
            head = b""
            while len(head) < 4 and (more := stream.read(4 - len(head))):
                head += more
            stream = _Prefixed(head, stream)  # type: ignore[assignment]
    except Exception as exc:
        raise corrupt(exc) from exc
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    if head == b"\x28\xb5\x2f\xfd":
        try:
            import zstandard
        except ImportError:
            raise ArchiveError("the layer is zstd-compressed but the 'zstandard' module is not installed",
                               hint="pip install zstandard") from None
        return zstandard.ZstdDecompressor().stream_reader(  # type: ignore[return-value]
            stream, read_size=CHUNK, read_across_frames=True, closefd=False)
    return stream


class TarSource:
    """The uncompressed tar as tarfile sees it: forward-only (``seek`` only skips ahead).

    A reader thread reads (and decompresses) ``raw`` into a small pool of buffers and hashes
    them in order, so hashing and decompression overlap the writes; ``close`` stops it.
    """

    def __init__(self, raw: BinaryIO) -> None:
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

    def read(self, size: int = -1) -> bytes:
        """``size`` bytes (fewer only at the end of the stream: tarfile judges that)."""
        if 0 <= size <= len(self._view) - self._off:  # a header inside one buffer
            self._off += size
            self.pos += size
            return self._view[self._off - size:self._off].tobytes()
        return b"".join(bytes(piece) for piece in self._pieces(size if size >= 0 else 1 << 62, exact=False))

    def copy(self, fd: int, size: int) -> None:
        """Move the next ``size`` bytes to ``fd`` (-1 drops them)."""
        for piece in self._pieces(size):
            while fd >= 0 and piece:
                piece = piece[os.write(fd, piece):]

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
