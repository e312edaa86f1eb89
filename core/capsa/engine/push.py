"""``push``: a stored image to a registry (``[docker://]REGISTRY/REPOSITORY[:TAG]``), or to an
archive (``oci-archive:PATH``, ``docker-archive:PATH``) through the ``save`` code.

Contract of :func:`push`: the source is a local image (name, short name or id); the destination
defaults to the stored name the source resolved to (podman: ``push IMAGE [DESTINATION]``); a
destination without a registry means ``docker.io`` (as podman parses it). Bad input (an unknown
image, a transport capsa does not write, ``--format v2s1``, a digest destination) is refused
before any request. The store is only read (shared lock); what changes is the store's blob
cache (where blobs now are) and, with ``digestfile``, that file. Fires
``capsa_image_event(action="push")`` after a push that succeeded.
"""
from __future__ import annotations

from capsa.engine.images import image_event
from capsa.engine.session import open_store
from capsa.engine.registries import RemoteOptions
from capsa.errors import UsageError
from capsa.registry.progress import TransferEvent, no_progress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.engine.session import Session
    from capsa.registry.progress import Progress
    from capsa.registry.push import PushResult

__all__ = ["ARCHIVES", "REFUSED", "RemoteOptions", "TransferEvent", "no_progress", "push", "split_transport"]

# containers-transports(5): the transports podman's push knows, and what capsa does with them.
ARCHIVES = {"oci-archive": "oci-archive", "docker-archive": "docker-archive"}
REFUSED = ("dir", "oci", "docker-daemon", "containers-storage", "sif", "tarball", "ostree")


def split_transport(destination: str) -> tuple[str, str]:
    """(transport, the rest): ``docker`` for a registry reference with or without ``docker://``."""
    if destination.startswith("docker://"):
        return "docker", destination[len("docker://"):]
    transport, colon, rest = destination.partition(":")
    if colon and (transport in ARCHIVES or transport in REFUSED):
        return transport, rest
    return "docker", destination


def push(sess: Session, source: str, destination: str | None, remote: RemoteOptions, fmt: str | None = None,
         compression_format: str | None = None, digestfile: str | None = None,
         progress: Progress = no_progress) -> PushResult | None:
    """Push the local image ``source`` to ``destination`` (see the module's contract); the
    result of a registry push (None for an archive)."""
    from capsa.registry.pushplan import check_compression, manifest_type

    manifest_type(fmt, "")  # refuse a bad --format before anything else
    check_compression(compression_format, "")
    if digestfile is not None:
        import os

        folder = os.path.dirname(os.path.abspath(digestfile))
        if not os.path.isdir(folder) or os.path.isdir(digestfile):
            raise UsageError(f"--digestfile {digestfile}: cannot write there (no such directory, or a directory)",
                             hint="give the path of a file in an existing directory")
    if destination is not None:
        transport, rest = split_transport(destination)
        if transport in REFUSED:
            raise UsageError(f"pushing to the {transport}: transport is not supported",
                             hint="push to a registry (docker://), an oci-archive: or a docker-archive:")
        if transport in ARCHIVES:
            return _push_archive(sess, source, ARCHIVES[transport], rest, fmt, digestfile)
        destination = rest
    return _push_registry(sess, source, destination, remote, fmt, compression_format, digestfile, progress)


def _push_archive(sess: Session, source: str, fmt: str, target: str, manifest_format: str | None,
                  digestfile: str | None) -> None:
    """``save`` to an archive; ``digestfile``: the digest of the image's manifest written
    there (the stored one for a docker archive, which keeps no manifest digest of its own)."""
    from capsa.engine.images import save

    if not target:
        raise UsageError(f"{fmt}: needs a path", hint=f"e.g. {fmt}:/tmp/image.tar")
    if ":" in target:
        raise UsageError(f"{fmt}:{target}: naming the image inside the archive is not supported",
                         hint=f"give {fmt}:PATH; the archive keeps the image's names")
    save(sess, [source], fmt, target)  # (the archive's format decides its manifests: ``manifest_format`` is moot)
    store = open_store(sess)
    with store.reading():
        image = store.find_image(source)
    if digestfile is not None:
        from capsa.image.archives import saved_manifest_digest

        with open(digestfile, "w") as fh:
            fh.write(saved_manifest_digest(store, source) if fmt == "oci-archive" else image.digest)
    image_event("push", image.id, [f"{fmt}:{target}"])
    return None


def _destination(sess: Session, text: str) -> tuple[str, str, str]:
    """(registry, repository, tag) of a registry destination, where the configuration sends it
    (a registry's ``location``; BLOCKED when it is blocked)."""
    from capsa.image.reference import DOCKER_HUB, parse_reference
    from capsa.engine.registries import access
    from capsa.registry.connect import push_target

    ref = parse_reference(text, DOCKER_HUB)
    if ref.digest is not None:
        raise UsageError(f"{text}: cannot push to a digest reference", hint="give a tag: REGISTRY/NAME[:TAG]")
    ref = push_target(access(sess), ref)
    return ref.registry, ref.repository, ref.tag or "latest"


def _push_registry(sess: Session, source: str, destination: str | None, remote: RemoteOptions, fmt: str | None,
                   compression_format: str | None, digestfile: str | None, progress: Progress) -> PushResult:
    from capsa.registry.blobcache import record_blob_locations
    from capsa.engine.registries import client
    from capsa.registry.push import push_image
    from capsa.registry.pushplan import plan_push

    if destination is not None:
        registry, repository, tag = _destination(sess, destination)
    store = open_store(sess)
    with store.reading():
        image = store.find_image(source)
        if destination is None:
            name = next((n for n in store.name_candidates(source) if n in image.names), None)
            if name is None:  # the source was an id: podman wants a destination then
                raise UsageError(f"{source}: the image has no name to push it under",
                                 hint="give a destination: capsa push IMAGE REGISTRY/NAME[:TAG]")
            destination = name
            registry, repository, tag = _destination(sess, name)
        plan = plan_push(store, image, fmt, compression_format)
        others = [ref.repository for ref in _names_on(image.names, registry)]
        driver = client(sess, registry, remote, repository=repository)
        result = push_image(store, driver, registry, repository, tag, plan, mount_from=others, progress=progress)
        record_blob_locations(store, registry, repository, [*(layer.digest for layer in plan.layers), plan.config.digest])
    if digestfile is not None:
        _write_digestfile(digestfile, result.digest)
    image_event("push", image.id, [f"{registry}/{repository}:{tag}"])
    return result


def _names_on(names: list[str], registry: str) -> list:  # type: ignore[type-arg]
    """The references among ``names`` on ``registry``."""
    from capsa.image.reference import parse_reference

    out = []
    for name in names:
        try:
            ref = parse_reference(name)
        except UsageError:
            continue
        if ref.registry == registry:
            out.append(ref)
    return out


def _write_digestfile(path: str, digest: str) -> None:
    """The pushed manifest's digest, as podman writes it (no newline)."""
    try:
        with open(path, "w") as fh:
            fh.write(digest)
    except OSError as exc:
        raise UsageError(f"--digestfile {path}: {exc.strerror or exc}", hint="give a writable file path") from None
