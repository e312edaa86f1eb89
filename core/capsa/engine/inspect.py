"""``inspect``: the documents of containers and images found by name or id, as podman prints
them (built by :mod:`capsa.container.views` and :mod:`capsa.image.views`)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from capsa.engine.session import container_records, open_store
from capsa.errors import CapsaError, ImageNotFound

if TYPE_CHECKING:
    from capsa.container.records import ContainerRecords
    from capsa.engine.session import Session
    from capsa.store.store import Store

KINDS = ("image", "container", "all")


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


def documents(sess: Session, refs: list[str], kind: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The documents of the objects ``refs`` name (a container before an image of the same name
    with ``all``), and the references that named nothing."""
    store = open_store(sess)
    records = container_records(sess)
    docs: list[dict[str, Any]] = []
    missing: list[str] = []
    with store.reading():
        for ref in refs:
            doc = _container(store, records, ref) if kind in ("container", "all") else None
            if doc is None and kind in ("image", "all"):
                doc = _image(store, ref)
            if doc is None:
                missing.append(ref)
            else:
                docs.append(doc)
    return docs, missing
