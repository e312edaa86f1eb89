"""Compressed streams: what the first bytes say, and the uncompressed stream.

``sniff`` names the compression from a stream's first ``SNIFF_BYTES`` bytes (the only place
capsa knows magic numbers); ``sniffed`` reads them and hands the stream back with them still
readable; ``decompressed`` returns the uncompressed stream (gzip, zstd, xz, bzip2; anything
else as is). The data's faults (truncated, corrupt) are :class:`CorruptStream`, an
ArchiveError; I/O errors of the underlying stream (those with an errno) pass through.
"""
from __future__ import annotations

import io
import zlib
from typing import Any, BinaryIO, Literal

from capsa.errors import ArchiveError

Compression = Literal["gzip", "zstd", "xz", "bzip2", "none"]
CHUNK = 1 << 20
SNIFF_BYTES = 10
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
XZ_MAGIC = b"\xfd7zXZ\x00"
# "BZh", the block size digit, then the magic of the first block (or of the end of an empty stream)
_BZIP2_BLOCKS = (b"\x31\x41\x59\x26\x53\x59", b"\x17\x72\x45\x38\x50\x90")


class CorruptStream(ArchiveError):
    """Compressed or tar data is truncated or corrupt; ``detail`` says how, in one line."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"layer archive is truncated or corrupt: {detail}",
                         hint="the layer blob is damaged or incomplete; pull the image again")
        self.detail = detail


def corrupt(exc: object) -> CorruptStream:
    """The error for truncated or corrupt data, ``exc`` its cause (its text, on one line)."""
    return CorruptStream(" ".join(str(exc).split()) or type(exc).__name__)


def sniff(head: bytes) -> Compression:
    """The compression of a stream whose first bytes are ``head`` (``SNIFF_BYTES`` of them, or
    all there are)."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if len(head) >= 10 and head[:3] == b"BZh" and head[3] in b"123456789" and head[4:10] in _BZIP2_BLOCKS:
        return "bzip2"
    return "none"


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


Prefixed = _Prefixed  # (public name: ``cp -`` gives back the header block it looked at)


def sniffed(stream: BinaryIO) -> tuple[Compression, BinaryIO]:
    """The compression of ``stream`` and the stream to read from now on (its first bytes kept:
    peeked when it can, else read and given back first)."""
    try:
        head = stream.peek(SNIFF_BYTES)[:SNIFF_BYTES] if hasattr(stream, "peek") else b""  # type: ignore[attr-defined]
        if len(head) < SNIFF_BYTES or not hasattr(stream, "readinto"):
            head = b""
            while len(head) < SNIFF_BYTES and (more := stream.read(SNIFF_BYTES - len(head))):
                head += more
            stream = _Prefixed(head, stream)  # type: ignore[assignment]
    except Exception as exc:
        if isinstance(exc, OSError) and exc.errno is not None:  # the underlying stream's I/O error
            raise
        raise corrupt(exc) from exc
    return sniff(head), stream


class _Checked(io.RawIOBase):
    """A decompressor whose complaints about the data are CorruptStream."""

    def __init__(self, inner: BinaryIO) -> None:
        super().__init__()
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        try:
            return self._inner.readinto(buf)  # type: ignore[attr-defined]
        except (ArchiveError, MemoryError):
            raise
        except Exception as exc:
            if isinstance(exc, OSError) and exc.errno is not None:  # the underlying stream's I/O error
                raise
            raise corrupt(exc) from exc


class _Gunzip(io.RawIOBase):
    """gzip data (RFC 1952) decompressed by zlib itself: one or more members, with zero bytes of
    padding between or after them (what gzip.GzipFile accepts; anything else after a member is
    corrupt). zlib checks each member's CRC and length. Half the CPU of gzip.GzipFile, which
    feeds zlib small pieces and computes the CRC once more."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self._raw = raw
        self._z: Any = zlib.decompressobj(31)  # None between members
        self._in = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        size = len(buf)
        if size == 0:
            return 0
        while True:
            if self._z is None:  # after a member: padding, then the end or another member
                self._in = self._in.lstrip(b"\0")
                if not self._in:
                    self._in = self._raw.read(CHUNK)
                    if not self._in:
                        return 0
                    continue
                self._z = zlib.decompressobj(31)
            if not self._in:
                self._in = self._raw.read(CHUNK)
                if not self._in:
                    raise EOFError("compressed file ended before the end-of-stream marker was reached")
            out = self._z.decompress(self._in, size)
            self._in = self._z.unconsumed_tail
            if self._z.eof:
                self._in = self._z.unused_data
                self._z = None
            if out:
                buf[:len(out)] = out
                return len(out)


def decompressed(stream: BinaryIO) -> BinaryIO:
    """The uncompressed data of ``stream``: gzip, zstd, xz and bzip2 are sniffed from the first
    bytes, which stay readable; anything else is returned as is (a non-tar fails later)."""
    kind, stream = sniffed(stream)
    if kind == "none":
        return stream
    if kind == "gzip":
        inner: BinaryIO = _Gunzip(stream)  # type: ignore[assignment]
    elif kind == "zstd":
        try:
            import zstandard
        except ImportError:
            raise ArchiveError("the layer is zstd-compressed but the 'zstandard' module is not installed",
                               hint="pip install zstandard") from None
        inner = zstandard.ZstdDecompressor().stream_reader(  # type: ignore[assignment]
            stream, read_size=CHUNK, read_across_frames=True, closefd=False)
    elif kind == "xz":
        import lzma

        inner = lzma.LZMAFile(stream)  # type: ignore[assignment]
    else:
        import bz2

        inner = bz2.BZ2File(stream)  # type: ignore[assignment]
    return _Checked(inner)  # type: ignore[return-value]
