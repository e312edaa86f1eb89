"""Which image an image was made from, as podman's layer tree tells (libimage): ``inspect``'s
``Parent`` and the image ids ``history`` shows on the rows of the parent images' steps.

Images are related through their top layers: a parent is an image on the child's top layer's
parent layer (a step that added a layer) or on the same layer (an empty-layer step) whose
layers and history are a prefix of the child's. The caller holds the store lock."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.store.images import Image
    from capsa.store.store import Store


def images_on(store: Store, layer_id: str | None, first: Image | None = None) -> list[Image]:
    """The images whose top layer is ``layer_id`` (``first`` ahead of the others when it is one)."""
    if layer_id is None:
        return []
    found = [image for image in store.images.all() if image.top_layer == layer_id]
    return sorted(found, key=lambda image: first is None or image.id != first.id)


def _is_prefix(parent: dict[str, Any], child: dict[str, Any]) -> bool:
    """podman's areParentAndChild: the parent's diff ids and history start the child's, and the
    child has more history."""
    p_ids = (parent.get("rootfs") or {}).get("diff_ids") or []
    c_ids = (child.get("rootfs") or {}).get("diff_ids") or []
    p_hist, c_hist = parent.get("history") or [], child.get("history") or []
    return (len(p_hist) < len(c_hist) and c_hist[:len(p_hist)] == p_hist
            and len(p_ids) <= len(c_ids) and c_ids[:len(p_ids)] == p_ids)


def parent_of(store: Store, child: Image) -> Image | None:
    """The image ``child`` was made from (``inspect``'s ``Parent``), or None."""
    if child.top_layer is None:
        return None
    top = store.layers.get(child.top_layer)
    config = store.config_of(child)
    candidates = [*(images_on(store, top.parent) if top.parent else []),
                  *(image for image in images_on(store, top.id) if image.id != child.id)]
    # (the nearest: after empty-layer steps several images on these layers are prefixes of the
    # child, e.g. the RUN before an ENV and the RUN before that; the one with most history wins)
    found = [(len(c.get("history") or []), image) for image in candidates
             if _is_prefix(c := store.config_of(image), config)]
    return max(found, key=lambda item: item[0])[1] if found else None


def history_ids(store: Store, image: Image, entries: list[dict[str, Any]]) -> list[str]:
    """The id ``history`` shows for each of ``entries`` (the config's history, newest first):
    walking down the layers, the first image on each layer not shown yet, else ``<missing>``."""
    ids = []
    used: set[str] = set()
    layer = store.layers.get(image.top_layer) if image.top_layer else None
    for entry in entries:
        shown = "<missing>"
        if layer is not None:
            for candidate in images_on(store, layer.id, image):
                if candidate.id not in used:
                    shown = candidate.id
                    used.add(shown)
                    break
            if layer.parent and not entry.get("empty_layer"):
                layer = store.layers.get(layer.parent)
        ids.append(shown)
    return ids
