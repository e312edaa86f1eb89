"""Operations on the images of the store: list (with podman's filters), tag, untag, remove
(``rmi``: plan, stop the containers using them, remove), prune, and the archive transfers
(``import``, ``save``, ``load``). Each change fires ``capsa_image_event`` once it is done."""
from __future__ import annotations

from capsa.engine.session import container_records, open_store
from capsa.errors import CapsaError, ImageNotFound, UsageError
from capsa.image.filters import filter_images
from capsa.fastpath.record import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from capsa.engine.session import Session
    from capsa.store.images import Image
    from capsa.store.store import Store


def image_event(action: str, image_id: str, names: list[str]) -> None:
    """Tell the hook plugins that ``action`` happened to an image (a failing plugin warns)."""
    from capsa import plugins

    plugins.call_each_warning("capsa_image_event", action=action, image_id=image_id, names=list(names))


def _in_use(sess: Session, filters: list[str]) -> frozenset[str]:
    """The ids of the images containers use, read only when a filter asks about them."""
    if not any(f.startswith("containers=") for f in filters):
        return frozenset()
    return frozenset(c.image_id for c in container_records(sess).all())


def listing(sess: Session, all_images: bool, filters: list[str], as_json: bool,
            labels: bool = False, sort: str = "created") -> list[dict[str, Any]]:
    """``images``: the images (intermediate ones with ``all_images``) that pass ``filters``
    (:mod:`capsa.image.filters`), newest first: ``images --format json``'s documents with
    ``as_json`` (one per row, as podman 4.3 prints them), else the table's rows (one per name; with their ``Labels`` when ``labels``,
    which reads each image's configuration), ordered by ``sort`` (``images --sort``: a bad key is
    a UsageError before the store is read)."""
    from capsa.image.filters import sort_rows
    from capsa.image.views import list_json, list_rows

    sort_rows([], sort)
    store = open_store(sess)
    in_use = _in_use(sess, filters)
    with store.reading():
        found = [i for i in store.images.all() if all_images or not i.intermediate]
        found = filter_images(found, filters, store, in_use)
        found.sort(key=lambda i: i.created, reverse=True)
        if as_json:  # (podman 4.3: one document per row, in the rows' order)
            docs = {i.id: list_json(i, store.config_of(i)) for i in found}
            return [docs[row["Id"]] for row in sort_rows([r for i in found for r in list_rows(i)], sort)]
        if labels:
            return sort_rows([row for i in found for row in list_rows(i, (store.config_of(i).get("config") or {}).get("Labels"))], sort)
    return sort_rows([row for image in found for row in list_rows(image)], sort)


def history(sess: Session, ref: str) -> list[dict[str, Any]]:
    """``history``: the rows of the image's history, newest first."""
    from capsa.image.views import history_rows

    store = open_store(sess)
    with store.reading():
        return history_rows(store, store.find_image(ref))


def exists(sess: Session, ref: str) -> bool:
    store = open_store(sess)
    with store.reading():
        try:
            store.find_image(ref)
        except ImageNotFound:
            return False
    return True


def tag(sess: Session, ref: str, targets: list[str]) -> None:
    """Add the names ``targets`` (``NAME[:TAG]``) to the image ``ref``."""
    from capsa.image.reference import parse_reference

    names = [str(parse_reference(t)) for t in targets]
    store = open_store(sess)
    with store.writing():
        found = store.find_image(ref)
        found.names = list(dict.fromkeys([*found.names, *names]))
        store.images.put(found)
    image_event("tag", found.id, names)


def untag(sess: Session, ref: str, names: list[str]) -> None:
    """Remove ``names`` (all of them when empty) from the image ``ref``; the image stays."""
    from capsa.image.reference import parse_reference

    wanted = [str(parse_reference(n)) for n in names]
    store = open_store(sess)
    with store.writing():
        found = store.find_image(ref)
        for name in wanted:
            if name not in found.names:
                raise ImageNotFound(f"{name}: tag not known", hint=f"the image's names: {', '.join(found.names) or 'none'}")
        removed = wanted or list(found.names)
        found.names = [n for n in found.names if n not in removed]
        store.images.put(found)
    image_event("untag", found.id, removed)


@record
class Removal:
    """What ``rmi`` did: its output lines, and the errors of the references that named no image."""

    lines: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


@record
class _RemovalPlan:
    images: dict  # image id -> Image
    untags: dict  # image id -> names to drop (the image stays)
    doomed: dict  # image id -> None, in the order podman deletes (and prints) them
    missing: list


def _plan_removal(store: Store, refs: list[str], force: bool, all_images: bool,
                  in_use: frozenset[str] = frozenset(), prune: bool = True) -> _RemovalPlan:
    """What ``rmi`` would do to the store as it is (the caller holds its lock); refuses an
    ambiguous removal by id. A deleted image's parent goes too when it has no name, no other
    child and no container (``in_use``: the images containers use), and so on down (podman's
    rule: the intermediate images of a build go with the image built)."""
    images = {i.id: i for i in store.images.all()}
    plan = _RemovalPlan(images, {}, dict.fromkeys(images) if all_images else {}, [])
    for ref in refs:
        try:
            image = store.find_image(ref)
        except ImageNotFound as exc:
            plan.missing.append(exc.message)
            continue
        named = [n for n in store.name_candidates(ref) if n in image.names]
        if named and len(set(image.names) - set(plan.untags.get(image.id, [])) - set(named)) > 0:
            plan.untags.setdefault(image.id, []).extend(named)
        elif not named and len(image.names) > 1 and not force:
            raise UsageError(f'unable to delete image "{image.id}" by ID with more than one tag ([{" ".join(image.names)}]): '
                             "please force removal", hint="untag the names first, or use --force")
        else:
            plan.doomed[image.id] = None
    if plan.doomed and not all_images and prune:
        _doom_dangling_parents(store, plan, in_use)
    return plan


def _doom_dangling_parents(store: Store, plan: _RemovalPlan, in_use: frozenset[str]) -> None:
    """Add to ``plan.doomed``, after each doomed image, its parents that would be left dangling:
    no name, no container, no child that stays (libimage's removal of a parent)."""
    from capsa.image.lineage import parent_of

    parents = {i: p.id for i, image in plan.images.items() if (p := parent_of(store, image)) is not None}
    for image_id in list(plan.doomed):
        parent = parents.get(image_id)
        while parent is not None and parent not in plan.doomed:
            image = plan.images[parent]
            children = [c for c, p in parents.items() if p == parent and c not in plan.doomed]
            if image.names or children or parent in in_use:
                break
            plan.doomed[parent] = None
            parent = parents.get(parent)


def remove_images(sess: Session, refs: list[str], force: bool, all_images: bool, prune: bool = True) -> Removal:
    """``rmi``: plan everything first (a refusal changes nothing), then stop and remove the
    containers using the doomed images (``force``), drop names, delete images. A name given
    for an image with other names only untags it. References that name no image are reported in
    ``missing`` (the others are removed, as podman does). Without ``prune`` the dangling parents
    of a deleted image stay (``rmi --no-prune``).

    The containers go without the store lock held (removing one takes its lock, then the
    store's, the order ``start`` takes them in); then the plan is made again under the lock, and
    a container created from a doomed image meanwhile goes too."""
    store = open_store(sess)
    records = container_records(sess)
    out = Removal()
    events: list[tuple[str, str, list[str]]] = []
    for _ in range(5):
        with store.writing():
            plan = _plan_removal(store, refs, force, all_images, frozenset(c.image_id for c in records.all()), prune)
            users = [c for c in records.all() if c.image_id in plan.doomed]
            if users and not force:
                raise CapsaError(f"image used by {users[0].id}: image is in use by a container: consider listing "
                                 f"external containers and force-removing image",
                                 hint="remove the container first, or use rmi --force", exit_code=2)
            if not users:
                _carry_out(store, plan, out, events)
                break
        from capsa.container import removal, stopping

        for config in users:
            stopping.stop(sess, records, config, 0, "SIGKILL")
            stopping.wait_monitor_gone(records, config)
            removal.remove_stopped(store, records, config.id, config.layer_id)
    else:
        raise CapsaError("containers keep being created from the images being removed", hint="try rmi --force again")
    for action, image_id, names in events:
        image_event(action, image_id, names)
    return out


def _carry_out(store: Store, plan: _RemovalPlan, out: Removal, events: list[tuple[str, str, list[str]]]) -> None:
    """Untag and delete what ``plan`` says (the caller holds the store lock)."""
    out.missing = plan.missing
    for image_id, names in plan.untags.items():
        if image_id in plan.doomed:
            continue
        image = plan.images[image_id]
        image.names = [n for n in image.names if n not in names]
        store.images.put(image)
        out.lines += [f"Untagged: {n}" for n in dict.fromkeys(names)]
        events.append(("untag", image_id, names))
    for image_id in plan.doomed:
        out.lines += [f"Untagged: {n}" for n in plan.images[image_id].names]
    store.delete_images([plan.images[i] for i in plan.doomed])
    out.lines += [f"Deleted: {image_id}" for image_id in plan.doomed]
    events += [("remove", i, plan.images[i].names) for i in plan.doomed]


def prune(sess: Session, all_images: bool, filters: list[str]) -> list[Image]:
    """Remove the dangling images (with ``all_images``, every image no container uses) that pass
    ``filters``; returns them."""
    store = open_store(sess)
    if not store.exists():
        return []
    records = container_records(sess)
    with store.writing():
        in_use = {c.image_id for c in records.all()}
        candidates = filter_images(store.images.all(), filters, store, in_use)
        doomed = [i for i in candidates if i.id not in in_use and (all_images or not i.names)]
        store.delete_images(doomed)
    for image in doomed:
        image_event("remove", image.id, image.names)
    return doomed


def delete_unused(store: Store, records: Any, all_images: bool, keep: Any = None) -> list[Image]:
    """``system prune``'s images: those no container uses (dangling only unless ``all_images``)
    and, when ``keep(image, config)`` is given, for which it is false (``--filter``)."""
    with store.writing():
        in_use = {c.image_id for c in records.all()}
        doomed = [i for i in store.images.all() if i.id not in in_use and (all_images or not i.names)
                  and (keep is None or not keep(i, store.config_of(i)))]
        store.delete_images(doomed)
    for image in doomed:
        image_event("remove", image.id, image.names)
    return doomed


def import_image(sess: Session, source: str, reference: str | None, changes: list[str], message: str,
                 stdin: BinaryIO | None = None, platform: dict[str, str] | None = None) -> Image:
    """``import``: a root filesystem tarball as a one-layer image named ``reference`` (NAME[:TAG],
    or no name). ``source`` is a file, an http(s) URL (streamed: :mod:`capsa.image.sources`) or
    ``-``: ``stdin`` (this process's standard input unless given). A bad reference or a source
    that is neither is a UsageError before anything is read or written. ``platform``: the
    configuration's ``architecture``/``os``/``variant`` instead of the host's."""
    from capsa.image.reference import parse_reference
    from capsa.image.sources import check_source, open_source

    names = [str(parse_reference(reference))] if reference else []
    check_source(source)
    if source == "-":
        if stdin is None:
            import sys

            stdin = sys.stdin.buffer
        with _spooled(sess, stdin) as fh:  # (read whole before the store lock: `export c | import -`)
            return _import_stream(sess, fh, names, changes, message, platform)
    with open_source(source) as fh:
        return _import_stream(sess, fh, names, changes, message, platform)


def _spooled(sess: Session, stream: BinaryIO) -> BinaryIO:
    """``stream`` read to its end into an anonymous temporary file (in the store's ingest
    directory when there is one, so on the store's file system), rewound, for a ``with`` block.
    No lock is held meanwhile, so a producer that needs the store (``capsa export c | capsa
    import -``) is never blocked by us."""
    import os
    import shutil
    import tempfile

    from capsa.store.tarstream import out_of_space

    ingest = open_store(sess).blobs.ingest
    with out_of_space("reading the tarball from standard input", hint="free space for a copy of the tarball"):
        fh = tempfile.TemporaryFile(dir=ingest if os.path.isdir(ingest) else None)
        try:
            shutil.copyfileobj(stream, fh, 1 << 20)
            fh.flush()
            fh.seek(0)
        except BaseException:
            fh.close()
            raise
    return fh  # type: ignore[return-value]


def _import_stream(sess: Session, source: BinaryIO, names: list[str], changes: list[str], message: str,
                   platform: dict[str, str] | None) -> Image:
    from capsa.image.importing import import_tarball

    image = import_tarball(open_store(sess), source, names, changes, message, platform)
    image_event("import", image.id, image.names)
    return image


def load(sess: Session, source: str | BinaryIO) -> list[Image]:
    """``load``: the images of an archive file, an OCI layout directory or a stream."""
    from capsa.image.archives import load_images

    images = load_images(open_store(sess), source)
    for image in images:
        image_event("load", image.id, image.names)
    return images


def save(sess: Session, refs: list[str], fmt: str, target: str | BinaryIO, before_writing: Any = None) -> None:
    """``save``: the images ``refs`` to ``target`` in ``fmt`` (oci-archive, docker-archive,
    oci-dir); an unknown image fails before anything is written (``before_writing`` is called
    then, e.g. to flush a shared stdout)."""
    from capsa.image.archives import save_images

    store = open_store(sess)
    with store.reading():
        for ref in refs:
            store.find_image(ref)
    if before_writing is not None:
        before_writing()
    save_images(store, refs, fmt, target)
