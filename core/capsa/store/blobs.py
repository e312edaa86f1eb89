"""Content-addressed blobs in an OCI image layout: ``<root>/blobs/sha256/<hex>``.

Every blob is written to ``blobs/.ingest/`` first, its digest checked, then renamed into place,
so a blob at its final path always matches its name. Leftovers in ``.ingest`` belong to
interrupted commands and are removed by :meth:`BlobStore.clean_ingest`.
"""
from __future__ import annotations

import os

from capsa.errors import ArchiveError, StorageError
from capsa.fastpath.names import is_sha256_hex
from capsa.fsutil import atomic_write, remove_file, rmtree

TYPE_CHECKING = False
if TYPE_CHECKING:
    import hashlib
    from collections.abc import Iterator
    from typing import Any, BinaryIO

CHUNK = 1 << 20


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is a well-formed sha256 digest (``sha256:<64 lowercase hex>``),
    else raise ArchiveError."""
    if not (isinstance(digest, str) and digest.startswith("sha256:") and is_sha256_hex(digest[7:])):
        raise ArchiveError(f"invalid digest {digest!r}", hint="digests look like sha256:<64 hex digits>")
    return digest


SMALL = 1 << 20  # what sha256_of hashes with CPython's built-in sha256


def sha256_of(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``. Up to :data:`SMALL` bytes (configs, manifests: what is read
    back whole) with :mod:`capsa.fastpath.digest` (CPython's built-in sha256, which loads in a
    fraction of a millisecond); larger ones with hashlib's OpenSSL one, faster per byte but
    ~2.5 ms to load. Both give the same digest."""
    if len(data) <= SMALL:
        from capsa.fastpath.digest import sha256

        return "sha256:" + sha256(data).hexdigest()
    return "sha256:" + _sha256(data).hexdigest()


class BlobStore:
    """The blobs of an OCI image layout rooted at ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.fspath(root)
        self.dir = os.path.join(self.root, "blobs", "sha256")
        self.ingest = os.path.join(self.root, "blobs", ".ingest")

    def init(self) -> None:
        """Create the layout (idempotent)."""
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(self.ingest, exist_ok=True)
        marker = os.path.join(self.root, "oci-layout")
        if not os.path.exists(marker):
            atomic_write(marker, b'{"imageLayoutVersion":"1.0.0"}')

    def path(self, digest: str) -> str:
        return os.path.join(self.dir, check_digest(digest)[7:])

    def exists(self, digest: str) -> bool:
        return os.path.isfile(self.path(digest))

    def size(self, digest: str) -> int:
        return os.stat(self.path(digest)).st_size

    def put(self, data: bytes, expected: str | None = None) -> str:
        """Store ``data``; return its digest. ``expected`` must match when given."""
        import io

        digest = sha256_of(data)
        if expected is not None and expected != digest:
            raise ArchiveError(f"blob digest mismatch: expected {expected}, got {digest}", hint="the source is corrupt")
        if not self.exists(digest):
            self.put_stream(io.BytesIO(data), digest)
        return digest

    def put_stream(self, stream: BinaryIO, expected: str | None = None, expected_size: int | None = None) -> tuple[str, int]:
        """Copy ``stream`` into the store, verifying ``expected`` digest and size when given."""
        os.makedirs(self.ingest, exist_ok=True)
        tmp = os.path.join(self.ingest, f"{os.getpid()}-{os.urandom(6).hex()}")
        hasher = _sha256()
        size = 0
        try:
            with open(tmp, "wb") as out:
                while chunk := stream.read(CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = "sha256:" + hasher.hexdigest()
            if expected is not None and expected != digest:
                raise ArchiveError(f"blob digest mismatch: expected {expected}, got {digest}", hint="the source is corrupt or was tampered with")
            if expected_size is not None and expected_size != size:
                raise ArchiveError(f"blob {digest} has {size} bytes, expected {expected_size}", hint="the source is corrupt")
            os.replace(tmp, self.path(digest))
            _fsync_dir(self.dir)
            return digest, size
        finally:
            remove_file(tmp)

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise StorageError(f"blob {digest} is missing from the store", hint="run 'capsa system check --repair'") from None

    def read(self, digest: str) -> bytes:
        with self.open(digest) as fh:
            data = fh.read()
        if sha256_of(data) != digest:
            raise StorageError(f"blob {digest} is corrupt", hint="run 'capsa system check --repair'")
        return data

    def remove(self, digest: str) -> None:
        remove_file(self.path(digest))

    def digests(self) -> Iterator[str]:
        """Digests of the stored blobs (anything else in the directory is not a blob)."""
        if os.path.isdir(self.dir):
            for entry in os.scandir(self.dir):
                if is_sha256_hex(entry.name):
                    yield "sha256:" + entry.name

    def clean_ingest(self) -> int:
        """Remove what interrupted writes left (ingest files, stray names among the blobs);
        return how many entries went. The caller holds the store lock exclusively."""
        count = 0
        for folder, keep in ((self.ingest, lambda name: False), (self.dir, lambda name: len(name) == 64)):
            if not os.path.isdir(folder):
                continue
            for entry in os.scandir(folder):
                if keep(entry.name):
                    continue
                rmtree(entry.path, ignore_errors=True) if entry.is_dir(follow_symlinks=False) else os.unlink(entry.path)
                count += 1
        return count


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(data: bytes = b"") -> hashlib._Hash:
    """hashlib's sha256, imported on first use (hashlib loads OpenSSL: milliseconds that
    commands which hash nothing, such as ``run``, should not pay)."""
    from hashlib import sha256

    return sha256(data)
