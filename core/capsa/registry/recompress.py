"""Compressing a stored layer blob for a push: decompress it, compress it with gzip or zstd into a
file, hashing what is written (the new blob's digest).

gzip is compressed pigz-style, on every CPU: the data is cut into blocks of :data:`BLOCK` bytes,
each deflated by a thread (zlib releases the GIL) primed with the 32 KiB before it, ended on a
byte boundary (``Z_SYNC_FLUSH``) but the last, and the raw deflate streams are joined into one
gzip member (header, deflate data, CRC-32 and size). A block whose first 64 KiB do not shrink
by 3% at level 1 (compressed files, random data) is stored rather than deflated, as Go's
compressors skip incompressible data: zlib spends as long failing to compress it as it takes
to compress text. Any gzip reader reads the result; it is about as small as a one-thread gzip
of the same level. zstd uses
zstandard's own worker threads. The output depends only on the input and the level.
"""
from __future__ import annotations

import os
import struct
import zlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

    from capsa.store.store import Store

BLOCK = 1 << 20
WINDOW = 32 << 10
SAMPLE = 64 << 10  # what a block's first bytes must save at level 1 to be worth deflating
STORE_ABOVE = 0.97
GZIP_LEVEL = 6  # containers/image's default (gzip.DefaultCompression)
ZSTD_LEVEL = 3  # containers/image's default
# magic, deflate, no flags, mtime 0, no extra flags, OS "unknown": what Go's gzip writes
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def _deflate(block: bytes, window: bytes, last: bool, level: int) -> bytes:
    if len(block) >= 2 * SAMPLE and len(zlib.compress(block[:SAMPLE], 1)) > SAMPLE * STORE_ABOVE:
        level = 0  # incompressible (already compressed data): stored blocks, at memory speed
    z = zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, *([window] if window else []))
    return z.compress(block) + z.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def gzip_parallel(plain: BinaryIO, out: BinaryIO, level: int = GZIP_LEVEL, jobs: int | None = None) -> None:
    """Write ``plain``'s bytes to ``out`` as one gzip member, compressed by ``jobs`` threads."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    jobs = jobs or os.cpu_count() or 1
    crc, size = 0, 0
    out.write(GZIP_HEADER)
    window = b""
    block = plain.read(BLOCK)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        pending: deque = deque()  # type: ignore[type-arg]
        while True:
            following = plain.read(BLOCK) if block else b""
            last = not following
            crc = zlib.crc32(block, crc)
            size += len(block)
            pending.append(pool.submit(_deflate, block, window, last, level))
            window = (window + block)[-WINDOW:]
            while len(pending) > 2 * jobs or (last and pending):
                out.write(pending.popleft().result())
            if last:
                break
            block = following
    out.write(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))


def compress_blob(store: Store, source: str, compression: str, path: str) -> tuple[str, int]:
    """Write the stored blob ``source``, decompressed and compressed again with ``compression``
    (``gzip``, ``zstd``), to the new file ``path``; returns the new blob's (digest, size),
    hashed as written."""
    from hashlib import sha256

    from capsa.store.compression import decompressed

    hasher = sha256()
    size = 0

    class Sink:
        """The file, hashing and counting what the compressor writes."""

        def __init__(self, fh: BinaryIO) -> None:
            self.fh = fh

        def write(self, data: bytes) -> int:
            nonlocal size
            hasher.update(data)
            size += len(data)
            return self.fh.write(data)

        def flush(self) -> None:
            self.fh.flush()

    if compression not in ("gzip", "zstd"):
        raise ValueError(f"unknown compression {compression!r}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with store.blobs.open(source) as raw, open(path, "xb") as out:
        plain = decompressed(raw)
        sink = Sink(out)
        if compression == "gzip":
            gzip_parallel(plain, sink)  # type: ignore[arg-type]
        else:
            import zstandard

            compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=-1)
            with compressor.stream_writer(sink, closefd=False) as z:  # type: ignore[arg-type]
                while chunk := plain.read(BLOCK):
                    z.write(chunk)
    return "sha256:" + hasher.hexdigest(), size
