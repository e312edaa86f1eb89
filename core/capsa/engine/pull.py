"""``pull`` (and the pulls ``run``/``create`` make): which registries a name may mean, the
configured registry driver for each, the transfer (:mod:`capsa.registry.pull`), and the
``pull`` image event.

Progress goes to the ``progress`` callable the front end passes, one
:class:`~capsa.registry.progress.TransferEvent` per step (the model push shares; the CLI renders
it as podman's lines or progress bars); the operation itself returns the images.
"""
from __future__ import annotations

import logging

from capsa.errors import CapsaError, RegistryError, UsageError
from capsa.engine.registries import RemoteOptions
from capsa.registry.platforms import WantedPlatform, wanted_platform
from capsa.registry.progress import TransferEvent, no_progress

log = logging.getLogger("capsa.pull")

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.engine.session import Session
    from capsa.image.reference import Reference
    from capsa.registry.progress import Progress
    from capsa.store.images import Image

__all__ = ["POLICIES", "RemoteOptions", "TransferEvent", "no_progress", "WantedPlatform", "check_policy", "pull", "pull_for_container", "wanted_platform"]

POLICIES = ("missing", "always", "never", "newer")
# Server codes that mean "not here": the next candidate registry is tried.
_NOT_HERE = {"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "NOT_FOUND", "UNAUTHORIZED", "DENIED", "UNREACHABLE", "NAME_INVALID"}


def candidates(sess: Session, text: str, interactive: bool = False) -> list[Reference]:
    """The fully qualified references a pull of ``text`` tries, in order (aliases, the
    ``capsa_resolve_short_name`` hook, the search registries: :mod:`capsa.registry.names`);
    ``interactive``: an ambiguous short name may be asked about on the terminal."""
    from capsa.engine.registries import access
    from capsa.registry.names import pull_candidates

    return pull_candidates(access(sess), text, interactive)


def _from_sources(sess: Session, ref: Reference, remote: RemoteOptions, attempt):  # type: ignore[no-untyped-def]
    """``attempt(driver, source_reference)`` at each place ``ref`` may be fetched from (its
    registry's mirrors, then the registry at its ``location``: capsa.registry.connect.sources),
    until one works; a mirror's failure moves on, the registry's is raised."""
    from capsa.engine.registries import access, client
    from capsa.registry.connect import sources

    for source in sources(access(sess), ref):
        where = source.reference
        try:
            return attempt(client(sess, where.registry, remote, repository=where.repository), where)
        except RegistryError as exc:
            if not source.mirror:
                raise
            log.debug("mirror %s failed for %s: %s", where.registry, ref, exc.message)
    raise RegistryError(f"no source for {ref}", hint="check [registry.registries] in the configuration")


def _pull_one(sess: Session, ref: Reference, remote: RemoteOptions, platform: WantedPlatform,
              progress: Progress) -> Image:
    from capsa.engine.session import open_store
    from capsa.registry.pull import pull_image

    progress(TransferEvent("trying", detail=str(ref)))
    store = open_store(sess)
    return _from_sources(sess, ref, remote,
                         lambda driver, where: pull_image(store, driver, where, platform, progress, named=ref))


def pull(sess: Session, name: str, remote: RemoteOptions, platform: WantedPlatform | None = None,
         all_tags: bool = False, progress: Progress = no_progress, interactive: bool = False) -> list[Image]:
    """Pull ``name`` (a short name tries each candidate registry in turn, podman's "Trying to
    pull X..."); with ``all_tags`` every tag of its repository. Returns the images pulled and
    fires the ``pull`` image event for each. The last candidate's error (or, with several, all
    of them on one line) when none has it."""
    from capsa.engine.images import image_event

    platform = platform or WantedPlatform()
    refs = candidates(sess, name, interactive)
    if all_tags:
        if any(ref.digest for ref in refs) or _has_tag(name):
            raise UsageError("tag can't be used with --all-tags/-a", hint="give the repository only, e.g. quay.io/foo/bar")
        images = _pull_all_tags(sess, refs, remote, platform, progress)
    else:
        images = [_first_that_works(refs, lambda ref: _pull_one(sess, ref, remote, platform, progress))]
    for image in images:
        image_event("pull", image.id, image.names)
    return images


def _has_tag(name: str) -> bool:
    last = name.rsplit("/", 1)[-1]
    return ":" in last or "@" in name


def _pull_all_tags(sess: Session, refs: list[Reference], remote: RemoteOptions, platform: WantedPlatform,
                   progress: Progress) -> list[Image]:
    from capsa.image.reference import Reference

    def every_tag(ref: Reference) -> list[Image]:
        tags = _from_sources(sess, ref, remote, lambda driver, where: driver.list_tags(where.registry, where.repository))
        if not tags:
            raise RegistryError(f"{ref.name} has no tags", hint="push a tag first", code="NAME_UNKNOWN")
        return [_pull_one(sess, Reference(ref.registry, ref.repository, tag), remote, platform, progress)
                for tag in tags]

    return _first_that_works(refs, every_tag)


def _first_that_works(refs: list[Reference], attempt):  # type: ignore[no-untyped-def]
    errors: list[tuple[Reference, CapsaError]] = []
    for ref in refs:
        try:
            return attempt(ref)
        except RegistryError as exc:
            if len(refs) == 1 or exc.code not in _NOT_HERE:
                raise
            errors.append((ref, exc))
    if len(errors) == 1:
        raise errors[0][1]
    detail = "; ".join(f"{ref}: {exc.message}" for ref, exc in errors)
    raise RegistryError(f"{refs[0].repository} was not found in any registry tried ({detail})",
                        hint="give the full name: REGISTRY/NAME[:TAG]", code=errors[-1][1].code)


def check_policy(policy: str) -> str:
    """``--pull``'s value, checked (podman's words for a bad one)."""
    if policy not in POLICIES:
        raise UsageError(f'invalid pull policy "{policy}"', hint="--pull takes missing, always, never or newer")
    return policy


def pull_for_container(sess: Session, name: str, policy: str, remote: RemoteOptions, platform: WantedPlatform,
                       progress: Progress = no_progress, present: bool | None = None,
                       interactive: bool = False) -> str | None:
    """What ``run``/``create`` do before making a container from ``name`` under ``--pull
    policy``: pull when the policy says so and return the pulled image's id (None: use what
    the store has). ``present`` says whether the store has ``name`` (None: look).

    missing: pull when absent; never: nothing (the store's "image not known" follows); always:
    pull; newer: pull when absent or when the registry's digest for the name is not the
    stored image's (a registry that cannot be reached then keeps the stored image, as podman)."""
    check_policy(policy)
    if policy == "never":
        return None
    if present is None:
        present = _stored_image(sess, name) is not None
    if policy == "missing" and present:
        return None
    if policy == "newer" and present and not _remote_differs(sess, name, remote, platform):
        return None
    return pull(sess, name, remote, platform, progress=progress, interactive=interactive)[0].id


def _stored_image(sess: Session, name: str) -> Image | None:
    from capsa.engine.session import open_store
    from capsa.errors import ImageNotFound

    store = open_store(sess)
    with store.reading():
        try:
            return store.find_image(name)
        except ImageNotFound:
            return None


def _remote_differs(sess: Session, name: str, remote: RemoteOptions, platform: WantedPlatform) -> bool:
    """Whether the registry's manifest for ``name`` is not one the stored image came from."""
    image = _stored_image(sess, name)
    if image is None:
        return True
    for ref in candidates(sess, name):
        try:
            desc = _from_sources(sess, ref, remote, lambda driver, where: driver.resolve(
                where.registry, where.repository, where.digest or where.tag or "latest"))
        except RegistryError:
            continue
        return desc.digest not in image.digests and desc.digest != image.digest
    return False
