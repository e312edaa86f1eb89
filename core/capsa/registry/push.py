"""Pushing a stored image to a registry repository through a configured registry driver.

Contract of :func:`push_image` (the caller holds the store's lock, shared: a push only reads
the store, and nothing may remove the image's blobs meanwhile):

- every layer blob, then the config, goes up unless the repository has it already (``HEAD``),
  or a cross-repository mount from another repository of the same registry succeeds (the
  ``mount_from`` repositories first: the image's other names there; then where the store's
  blob cache saw the blob); otherwise it is uploaded (the driver's monolithic or chunked
  upload);
- a layer the plan recompresses is written to a temporary file under the store's ingest
  directory (:mod:`capsa.registry.recompress`), hashed as it is written, uploaded, and removed whatever happens; a compressed
  variant an earlier push made is asked for (and mounted) before compressing again;
- then the manifest (the bytes its digest is computed over) under ``tag``; the returned
  :class:`PushResult` carries that digest. The registry's own digest must agree.
Layers go up in parallel (at most ``jobs`` at once). Errors are the driver's RegistryError (or
StorageError for the store); nothing in the store changes except the blob cache.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import os

from capsa.errors import RegistryError
from capsa.registry.progress import ALREADY_EXISTS, Meter, TransferEvent, no_progress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

    from capsa.drivers.registry import RegistryDriver
    from capsa.registry.progress import Progress
    from capsa.registry.pushplan import BlobPlan, PushPlan
    from capsa.store.store import Store

JOBS = 3
MAX_MOUNT_TRIES = 3


@dataclass
class PushResult:
    """A finished push: the manifest's digest, media type and size, and what each blob did."""

    digest: str
    media_type: str
    size: int
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    mounted: list[str] = field(default_factory=list)

    @property
    def blobs(self) -> list[str]:
        return [*self.uploaded, *self.skipped, *self.mounted]


class _Metered:
    """A binary stream that counts what is read from it into a :class:`Meter`."""

    def __init__(self, raw: BinaryIO, meter: Meter) -> None:
        self._raw = raw
        self._meter = meter

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._meter.add(len(data))
        return data

    def readinto(self, buf: bytearray | memoryview) -> int:
        count = self._raw.readinto(buf)  # type: ignore[attr-defined]
        self._meter.add(count or 0)
        return count or 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:  # (a driver may restart an upload from where it began)
        return self._raw.seekable()

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        position = self._raw.seek(offset, whence)
        self._meter.done = position
        return position


class _Pusher:
    def __init__(self, store: Store, driver: RegistryDriver, registry: str, repository: str,
                 mount_from: list[str], progress: Progress) -> None:
        self.store, self.driver, self.registry, self.repository = store, driver, registry, repository
        self.mount_from = [r for r in dict.fromkeys(mount_from) if r != repository]
        self.progress = progress
        self.result = PushResult("", "", 0)
        self.present: set[str] = set()  # blobs the repository is known to have

    # -- one blob ---------------------------------------------------------------------------

    def blob(self, kind: str, plan: BlobPlan) -> None:
        """Push one blob (``kind`` ``blob`` or ``config``) as ``plan`` says; fills in its digest."""
        self.progress(TransferEvent(kind, "start", plan.source, plan.source_size))
        if plan.compression is not None:
            from capsa.registry.blobcache import compressed_variant

            known = compressed_variant(self.store, plan.source, plan.compression)
            if known is not None and self._present(known[0]):
                plan.digest, plan.size = known
                self.progress(TransferEvent(kind, "skipped", plan.source, plan.source_size, detail=ALREADY_EXISTS))
                return
            self._compress_and_upload(kind, plan)
            return
        if self._present(plan.digest):
            self.progress(TransferEvent(kind, "skipped", plan.source, plan.source_size, detail=ALREADY_EXISTS))
            return
        with self.store.blobs.open(plan.digest) as fh:
            self._upload(kind, plan, fh, plan.size)

    def _present(self, digest: str) -> bool:
        """Whether the repository has ``digest`` now: it had it, or a mount brought it."""
        if digest in self.present or self.driver.blob_exists(self.registry, self.repository, digest):
            self.result.skipped.append(digest)
            return True
        from capsa.registry.blobcache import blob_locations

        sources = [*self.mount_from, *blob_locations(self.store, self.registry, digest)]
        tried = 0
        for source in dict.fromkeys(sources):
            if source == self.repository:
                continue
            if tried == MAX_MOUNT_TRIES:
                break
            tried += 1
            try:
                if self.driver.mount_blob(self.registry, self.repository, digest, source):
                    self.result.mounted.append(digest)
                    return True
            except RegistryError as exc:
                if exc.code == "UNREACHABLE":
                    raise
                # refused (no access to the source, the blob gone there): upload instead
        return False

    def _upload(self, kind: str, plan: BlobPlan, stream: BinaryIO, size: int) -> None:
        meter = Meter(self.progress, kind, plan.source, size)
        self.driver.put_blob(self.registry, self.repository, plan.digest, _Metered(stream, meter), size)  # type: ignore[arg-type]
        self.result.uploaded.append(plan.digest)
        self.progress(TransferEvent(kind, "done", plan.source, size, size))

    def _compress_and_upload(self, kind: str, plan: BlobPlan) -> None:
        from capsa.registry.blobcache import record_compressed
        from capsa.registry.recompress import compress_blob

        tmp = os.path.join(self.store.blobs.ingest, f"{os.getpid()}-{os.urandom(6).hex()}-push")
        try:
            plan.digest, plan.size = compress_blob(self.store, plan.source, plan.compression or "gzip", tmp)
            record_compressed(self.store, plan.source, plan.compression or "gzip", plan.digest, plan.size)
            if self._present(plan.digest):
                self.progress(TransferEvent(kind, "skipped", plan.source, plan.source_size, detail=ALREADY_EXISTS))
                return
            with open(tmp, "rb") as fh:
                self._upload(kind, plan, fh, plan.size)
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass

    # -- the image --------------------------------------------------------------------------

    def image(self, plan: PushPlan, tag: str, jobs: int) -> PushResult:
        # The first request (the config's HEAD) before any output: an unreachable registry or
        # refused credentials end the command with its error alone.
        if self.driver.blob_exists(self.registry, self.repository, plan.config.digest):
            self.present.add(plan.config.digest)
        self.progress(TransferEvent("begin"))
        unique: dict[tuple[str, str | None], BlobPlan] = {}
        for layer in plan.layers:  # a blob listed twice goes up once
            unique.setdefault((layer.source, layer.compression), layer)
        layers = list(unique.values())
        if jobs <= 1 or len(layers) <= 1:
            for layer in layers:
                self.blob("blob", layer)
        else:
            from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

            with ThreadPoolExecutor(max_workers=min(jobs, len(layers))) as pool:
                futures = [pool.submit(self.blob, "blob", layer) for layer in layers]
                done, pending = wait(futures, return_when=FIRST_EXCEPTION)
                for future in pending:
                    future.cancel()
                for future in futures:
                    if future.done() and not future.cancelled() and future.exception() is not None:
                        raise future.exception()  # type: ignore[misc]
        for layer in plan.layers:
            first = unique[(layer.source, layer.compression)]
            layer.digest, layer.size = first.digest, first.size
        self.blob("config", plan.config)
        self.progress(TransferEvent("manifest"))
        from capsa.store.blobs import sha256_of

        body = plan.manifest()
        digest = sha256_of(body)
        reported = self.driver.put_manifest(self.registry, self.repository, tag, body, plan.manifest_type)
        if reported and reported != digest:
            raise RegistryError(f"the registry stored the manifest as {reported}, but its digest is {digest}",
                                hint="the registry altered the manifest; try --format oci or --format v2s2")
        self.progress(TransferEvent("signatures"))
        self.result.digest, self.result.media_type, self.result.size = digest, plan.manifest_type, len(body)
        return self.result


def push_image(store: Store, driver: RegistryDriver, registry: str, repository: str, tag: str, plan: PushPlan,
               mount_from: list[str] | None = None, progress: Progress = no_progress, jobs: int = JOBS) -> PushResult:
    """Push the image ``plan`` describes to ``registry``/``repository``:``tag`` (see the module's
    contract)."""
    return _Pusher(store, driver, registry, repository, list(mount_from or []), progress).image(plan, tag, jobs)
