"""Pulling one image from a registry into the store, through a configured registry driver.

Contract of :func:`pull_image`:
- The manifest is fetched by tag or digest (a digest is verified against the bytes); a manifest
  list or OCI index is resolved to the wanted platform's manifest (verified by its digest and
  size). Docker schema 1 is refused with one line; OCI artifacts too.
- The config is fetched (verified) unless the image is already stored; layers present in the
  store (by chain id, from the config's diff ids) or whose blob is stored are not downloaded.
- Missing layers download in parallel (:data:`PARALLEL` at a time) into the store's ingest
  directory, and each is extracted while it downloads, bottom first (:mod:`layerfetch`). Every
  blob's digest and size are verified as it streams; any failure leaves the store as it was:
  the layers and blobs this pull made are removed, nothing else (a layer no image uses that
  was there before stays, with its blob), and the error names the blob. An extraction that fails on its
  own (a layer that is not a valid tar) stops that blob's download at once.
- A pull that succeeded records in the store's blob cache (:mod:`capsa.registry.blobcache`)
  that the registry's repository has the image's blobs, so a later push to another repository
  of that registry can mount them from there.
- The image is recorded with the manifest bytes as pulled (its digest is the image's digest, the
  index's digest is recorded too), named ``registry/repo:tag`` (or ``registry/repo@digest``).
- The store's exclusive lock is held only to store layers and the image record; the manifest and
  config are fetched before it is taken, and an image that is already complete needs no more
  than a shared look (plus a short exclusive one to add a name).
"""
from __future__ import annotations

from capsa.errors import ArchiveError, CapsaError, RegistryError
from capsa.fastpath.record import record
from capsa.registry.progress import ALREADY_EXISTS, Meter, TransferEvent, no_progress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.drivers.registry import RegistryDriver
    from capsa.image.manifest import Descriptor, Index, Manifest
    from capsa.image.reference import Reference
    from capsa.registry.layerfetch import BlobDownload
    from capsa.registry.platforms import WantedPlatform
    from capsa.registry.progress import Progress
    from capsa.store.images import Image
    from capsa.store.layers import Layer
    from capsa.store.store import Store

PARALLEL = 3  # layer downloads at once (podman's default is 6; the extraction is the bottleneck)
MAX_MANIFEST = 4 << 20  # as containers/image's limit for manifests
MAX_CONFIG = 8 << 20


def fetch_manifest(driver: RegistryDriver, ref: Reference, reference: str, expected: Descriptor | None = None) -> tuple[bytes, str]:
    """The manifest ``reference`` (a tag or digest) names, verified when ``reference`` is a
    digest (and against ``expected``'s size when given); (bytes, media type)."""
    from capsa.store.blobs import sha256_of

    body, media_type = driver.get_manifest(ref.registry, ref.repository, reference)
    if len(body) > MAX_MANIFEST:
        raise RegistryError(f"the manifest of {ref} is larger than {MAX_MANIFEST >> 20} MiB", hint="the registry is misbehaving")
    if reference.startswith("sha256:") and sha256_of(body) != reference:
        raise RegistryError(f"manifest {reference} of {ref.name} does not match its digest",
                            hint="the registry sent a damaged or tampered manifest; nothing was stored")
    if expected is not None and len(body) != expected.size:
        raise RegistryError(f"manifest {reference} of {ref.name} has {len(body)} bytes, its index says {expected.size}",
                            hint="the registry sent a damaged or tampered manifest; nothing was stored")
    return body, media_type


@record
class Resolved:
    """The image manifest a reference leads to, on the wanted platform."""

    manifest: Manifest
    body: bytes
    digest: str  # of body
    index_digest: str | None = None  # the manifest list or index it was chosen from
    index_body: bytes = b""


def resolve_manifest(driver: RegistryDriver, ref: Reference, platform: WantedPlatform) -> Resolved:
    """Fetch and parse the manifest ``ref`` names (through an index to ``platform``'s entry)."""
    from capsa.image import mediatypes as mt
    from capsa.image.manifest import Index, Manifest, SCHEMA1_REFUSAL
    from capsa.store.blobs import sha256_of

    body, media_type = fetch_manifest(driver, ref, ref.digest or ref.tag or "latest")
    manifest = _parse(ref, body, media_type)
    index_digest, index_body = None, b""
    if isinstance(manifest, Index):
        index_digest, index_body = sha256_of(body), body
        entry = platform.select(manifest)
        if mt.is_schema1(entry.media_type):
            raise RegistryError(f"{ref}: {SCHEMA1_REFUSAL}", hint="push the image again with a current client")
        if not entry.digest.startswith("sha256:"):
            raise RegistryError(f"{ref}: unsupported digest algorithm in {entry.digest}", hint="capsa stores sha256 blobs")
        body, media_type = fetch_manifest(driver, ref, entry.digest, entry)
        manifest = _parse(ref, body, media_type or entry.media_type)
        if not isinstance(manifest, Manifest):
            raise RegistryError(f"{ref}: the platform's entry {entry.digest} is not an image manifest",
                                hint="nested indexes are not supported")
    if manifest.is_artifact:
        raise RegistryError(f"{ref} is not a container image (config type {manifest.config.media_type})",
                            hint="capsa pulls container images only")
    for desc in (manifest.config, *manifest.layers):
        if not desc.digest.startswith("sha256:"):
            raise RegistryError(f"{ref}: unsupported digest algorithm in {desc.digest}", hint="capsa stores sha256 blobs")
    return Resolved(manifest, body, sha256_of(body), index_digest, index_body)


def _parse(ref: Reference, body: bytes, media_type: str) -> Manifest | Index:  # type: ignore[name-defined]
    from capsa.image import mediatypes as mt
    from capsa.image.manifest import SCHEMA1_REFUSAL, parse

    declared = (media_type or "").split(";", 1)[0].strip()
    if mt.is_schema1(declared):
        raise RegistryError(f"{ref}: {SCHEMA1_REFUSAL}", hint="push the image again with a current client (schema 2 or OCI)")
    try:
        return parse(body, media_type or None)
    except ArchiveError as exc:
        schema1 = exc.message == SCHEMA1_REFUSAL
        raise RegistryError(f"{ref}: {exc.message}",
                            hint="push the image again with a current client (schema 2 or OCI)" if schema1
                            else "the registry sent something that is not an image manifest") from None


def fetch_config(driver: RegistryDriver, ref: Reference, desc: Descriptor) -> bytes:
    """The config blob, verified against its descriptor."""
    from capsa.store.blobs import sha256_of

    if desc.size > MAX_CONFIG:
        raise RegistryError(f"the config of {ref} claims {desc.size} bytes (at most {MAX_CONFIG >> 20} MiB)",
                            hint="the image is corrupt or hostile")
    parts: list[bytes] = []
    count = 0
    chunks = driver.get_blob(ref.registry, ref.repository, desc.digest)
    try:
        for chunk in chunks:
            count += len(chunk)
            if count > desc.size:
                raise RegistryError(f"blob {desc.digest} is larger than its descriptor says ({desc.size} bytes)",
                                    hint="the registry sent a damaged or tampered blob; nothing was stored")
            parts.append(chunk)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    data = b"".join(parts)
    if len(data) != desc.size or sha256_of(data) != desc.digest:
        raise RegistryError(f"blob {desc.digest} (the config of {ref}) does not match its descriptor",
                            hint="the registry sent a damaged or tampered blob; nothing was stored")
    return data


def image_name(ref: Reference) -> str:
    """The name a pulled image gets: ``registry/repo:tag``, or ``registry/repo@digest``."""
    return f"{ref.name}@{ref.digest}" if ref.digest else f"{ref.name}:{ref.tag or 'latest'}"


def pull_image(store: Store, driver: RegistryDriver, ref: Reference, platform: WantedPlatform,
               progress: Progress = no_progress, named: Reference | None = None) -> Image:
    """Pull ``ref`` into ``store`` (see the module's contract); the image is named after
    ``named`` when given (``ref`` is then where it is fetched: a mirror, a ``location``)."""
    resolved = resolve_manifest(driver, ref, platform)
    progress(TransferEvent("begin"))
    manifest = resolved.manifest
    name = image_name(named or ref)
    image = _already_stored(store, resolved, name, progress)
    if image is not None:
        _remember(store, ref, manifest)
        return image
    config = fetch_config(driver, ref, manifest.config)
    from capsa.image.docker_archive import config_diff_ids

    diff_ids = config_diff_ids(config, f"the config of {ref}")
    if len(diff_ids) != len(manifest.layers):
        raise RegistryError(f"{ref}: the config lists {len(diff_ids)} diff ids for {len(manifest.layers)} layers",
                            hint="the image is corrupt")
    from capsa.store.tarstream import out_of_space

    with store.writing():
        made = _Additions(store, [manifest.config.digest, resolved.digest, *(d.digest for d in manifest.layers),
                                  *([resolved.index_digest] if resolved.index_digest else [])])
        try:
            with out_of_space(f"pulling {ref}"):
                layers = _store_layers(store, driver, ref, manifest.layers, diff_ids, progress)
                _config_copied(progress, manifest.config)
                progress(TransferEvent("manifest"))
                if resolved.index_digest is not None:
                    store.blobs.put(resolved.index_body, resolved.index_digest)
                image = store.add_image(config, layers, [name], resolved.body, manifest.media_type,
                                        extra_digests=[resolved.index_digest] if resolved.index_digest else None)
        except BaseException:
            made.discard()
            raise
    _remember(store, ref, manifest)
    progress(TransferEvent("signatures"))
    return image


def _remember(store: Store, ref: Reference, manifest: Manifest) -> None:
    """Record where the image's blobs were pulled from (a cache: failures are ignored)."""
    from capsa.registry.blobcache import record_blob_locations

    record_blob_locations(store, ref.registry, ref.repository, [*(d.digest for d in manifest.layers), manifest.config.digest])


class _Additions:
    """What one pull adds to the store, so that a failed pull removes exactly that: the layers
    created since (the caller holds the store's exclusive lock from before this is made until
    :meth:`discard`, so every new layer record is this pull's) and those of ``digests`` that
    were not stored before. Layers and blobs that were there already stay, used or not (a blob
    nothing refers to at all is reclaimed by any exclusive open: Store.recover)."""

    def __init__(self, store: Store, digests: list[str]) -> None:
        self.store = store
        self.layers = {layer.id for layer in store.layers.records.load()}
        self.blobs = {digest for digest in dict.fromkeys(digests) if not store.blobs.exists(digest)}

    def discard(self) -> None:
        """Remove this pull's layers (top first) and blobs that nothing refers to."""
        store = self.store
        new = [layer for layer in store.layers.records.load() if layer.id not in self.layers]
        store.layers.recover([layer for layer in new if layer.incomplete])
        used = store.layers_in_use()
        doomed = [layer for layer in new if not layer.incomplete and layer.id not in used]
        while doomed:
            parents = {layer.parent for layer in doomed}
            tops = [layer for layer in doomed if layer.id not in parents]
            for layer in tops:
                store.layers.remove(layer.id)
            doomed = [layer for layer in doomed if layer not in tops]
        in_use = store.blobs_in_use()
        for digest in self.blobs - in_use:
            store.blobs.remove(digest)


def _config_copied(progress: Progress, desc: Descriptor) -> None:
    """The config's events: it was fetched (and verified) before the layers, but podman shows it
    after them."""
    progress(TransferEvent("config", "start", desc.digest, desc.size))
    progress(TransferEvent("config", "done", desc.digest, desc.size, desc.size))


def _already_stored(store: Store, resolved: Resolved, name: str, progress: Progress) -> Image | None:
    """The image if the store has it complete, after naming it ``name`` and recording the
    manifest's digests (an exclusive lock only when something changes); else None."""
    image_id = resolved.manifest.config.digest[7:]
    with store.reading():
        image = next((i for i in store.images.all() if i.id == image_id), None)
        if image is None:
            return None
        wanted = [resolved.digest, *([resolved.index_digest] if resolved.index_digest else [])]
        current = name in image.names and all(d in image.digests for d in wanted)
    for desc in resolved.manifest.layers:
        progress(TransferEvent("blob", "skipped", desc.digest, desc.size, detail=ALREADY_EXISTS))
    _config_copied(progress, resolved.manifest.config)
    progress(TransferEvent("manifest"))
    if current:
        progress(TransferEvent("signatures"))
        return image
    with store.writing():
        image = next((i for i in store.images.all() if i.id == image_id), None)
        if image is None:  # removed meanwhile: pull it afresh
            return None
        config = store.blobs.read("sha256:" + image_id)
        if resolved.index_digest is not None:
            store.blobs.put(resolved.index_body, resolved.index_digest)
        image = store.add_image(config, store.image_layers(image), [name], resolved.body, resolved.manifest.media_type,
                                extra_digests=[resolved.index_digest] if resolved.index_digest else None)
    progress(TransferEvent("signatures"))
    return image


def _store_layers(store: Store, driver: RegistryDriver, ref: Reference, descs: list[Descriptor], diff_ids: list[str],
                  progress: Progress) -> list[Layer]:
    """Every layer of the image in the store, bottom first (the caller holds the lock and
    collects garbage on error)."""
    from capsa.store.layers import chain_id

    chains: list[str] = []
    for diff_id in diff_ids:
        chains.append(chain_id(chains[-1] if chains else None, diff_id))
    downloads: dict[str, BlobDownload] = {}
    try:
        return _download_and_extract(store, driver, ref, descs, diff_ids, chains, downloads, progress)
    finally:
        for download in downloads.values():
            download.release()


def _download_and_extract(store: Store, driver: RegistryDriver, ref: Reference, descs: list[Descriptor],
                          diff_ids: list[str], chains: list[str], downloads: dict[str, BlobDownload],
                          progress: Progress) -> list[Layer]:
    from concurrent.futures import ThreadPoolExecutor

    from capsa.registry.layerfetch import BlobDownload

    for desc, chain in zip(descs, chains):
        if store.layers.by_chain(chain) is None and desc.digest not in downloads and not store.blobs.exists(desc.digest):
            downloads[desc.digest] = BlobDownload(store.blobs, desc.digest, desc.size,
                                                  Meter(progress, "blob", desc.digest, desc.size).add)
    for desc in {d.digest: d for d in descs}.values():
        if desc.digest in downloads:
            progress(TransferEvent("blob", "start", desc.digest, desc.size))
        else:
            progress(TransferEvent("blob", "skipped", desc.digest, desc.size, detail=ALREADY_EXISTS))
    pool = ThreadPoolExecutor(max_workers=max(1, min(PARALLEL, len(downloads))), thread_name_prefix="capsa-pull")
    try:
        for digest, download in downloads.items():
            pool.submit(download.run, lambda d=digest: driver.get_blob(ref.registry, ref.repository, d))
        layers: list[Layer] = []
        parent: Layer | None = None
        for desc, diff_id, chain in zip(descs, diff_ids, chains):
            layer = store.layers.by_chain(chain)
            download = downloads.get(desc.digest)
            if download is not None and download.started_extracting:
                download = None  # a repeated layer: its blob is stored by now
            if layer is None and download is None:  # the blob is stored (also: a repeated layer)
                layer = store.layers.add_from_blob(desc.digest, desc.media_type, parent, expected_diff_id=diff_id)
            elif layer is None:
                layer = _extract_while_downloading(store, download, desc, parent, diff_id)  # type: ignore[arg-type]
                progress(TransferEvent("blob", "done", desc.digest, desc.size, desc.size))
            layers.append(layer)
            parent = layer
        store.layers.make_durable(layers)
        return layers
    except BaseException:
        for download in downloads.values():
            download.cancel()
        raise
    finally:
        pool.shutdown(wait=True)


def _extract_while_downloading(store: Store, download: BlobDownload, desc: Descriptor, parent: Layer | None,
                               diff_id: str) -> Layer:
    from capsa.registry.layerfetch import Cancelled

    download.started_extracting = True
    try:
        with download.follow() as raw:
            # made durable with the others at the end: the next layer extracts while its data is flushed
            layer = store.layers.add_from_stream(desc.digest, desc.media_type, desc.size, parent, raw, diff_id,
                                                 durable=False)
        download.wait()
        return layer
    except BaseException as exc:
        # The extraction failed: stop the download at its next chunk, then let it end (a
        # blob that failed on its own, e.g. a damaged one that broke the decompression, is
        # reported by its download's error, which names it).
        download.cancel()
        if isinstance(exc, KeyboardInterrupt):
            raise
        download.wait_quietly()
        if download.error is not None and download.error is not exc and not isinstance(download.error, Cancelled):
            raise download.error from None
        if isinstance(exc, CapsaError) and desc.digest not in exc.message:
            exc.message = f"layer {desc.digest}: {exc.message}"
            exc.args = (exc.message,)
        raise
