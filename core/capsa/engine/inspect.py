"""``inspect``: the documents of containers, images, volumes, networks and pods found by name or
id, as podman prints them (built by :mod:`capsa.container.views`, :mod:`capsa.image.views` and
the volume, network and pod engines' own inspect functions)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from capsa.engine.session import container_records, open_store
from capsa.errors import CapsaError, ImageNotFound

if TYPE_CHECKING:
    from capsa.container.records import ContainerRecords
    from capsa.engine.session import Session
    from capsa.store.store import Store

KINDS = ("image", "container", "pod", "network", "volume", "all")  # (podman 4.3's --type)


def _container(store: Store, records: ContainerRecords, ref: str) -> dict[str, Any] | None:
    from capsa.container.views import container_document

    try:
        config = records.find(ref)
    except CapsaError:
        return None
    return container_document(records, config, store)


def _image(store: Store, ref: str) -> dict[str, Any] | None:
    from capsa.image.views import inspect_doc

    try:
        return inspect_doc(store, store.find_image(ref))
    except ImageNotFound:
        return None


def _volume(sess: Session, ref: str) -> dict[str, Any] | None:
    from capsa.engine import volumes

    found, _unknown = volumes.inspect(sess, [ref], all_volumes=False)
    return found[0] if found else None


def _network(sess: Session, ref: str, template: bool) -> dict[str, Any] | None:
    from capsa.engine import networks
    from capsa.network.definitions import NetworkNotFound

    try:
        (found,) = networks.inspect(sess, [ref])
    except NetworkNotFound:
        return None
    return found.template_view() if template else found.inspect_doc()


def _pod(sess: Session, ref: str) -> dict[str, Any] | None:
    from capsa.engine import podlife

    docs, _ = podlife.documents(sess, [ref], False)
    return docs[0] if docs else None


def documents(sess: Session, refs: list[str], kind: str, template: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    """The documents of the objects ``refs`` name (with ``all``, as podman, the first found of a
    container, an image, a volume, a network and a pod of that name), and the references that
    named nothing. ``template``: the documents for a ``--format`` template (a network's differ)."""
    store = open_store(sess)
    records = container_records(sess)
    docs: list[dict[str, Any]] = []
    missing: list[str] = []
    with store.reading():
        for ref in refs:
            doc = _container(store, records, ref) if kind in ("container", "all") else None
            if doc is None and kind in ("image", "all"):
                doc = _image(store, ref)
            if doc is None and kind in ("volume", "all"):
                doc = _volume(sess, ref)
            if doc is None and kind in ("network", "all"):
                doc = _network(sess, ref, template)
            if doc is None and kind in ("pod", "all"):
                doc = _pod(sess, ref)
            if doc is None:
                missing.append(ref)
            else:
                docs.append(doc)
    return docs, missing
