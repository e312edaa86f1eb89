"""podman's image filters (``images --filter``, ``image prune --filter``) and ``images --sort``.

Contract: :func:`filter_images` keeps the images that pass every ``KEY=VALUE`` (or, for
``label``, ``KEY!=VALUE``) filter; an unknown key, a malformed filter or a bad value is a
UsageError before anything is shown or removed. The caller holds the store lock.
"""
from __future__ import annotations

from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Collection
    from typing import Any

    from capsa.store.images import Image
    from capsa.store.store import Store

KEYS = ("after", "before", "containers", "dangling", "id", "intermediate", "label", "manifest", "readonly",
        "reference", "since", "until")
SORT_KEYS = ("created", "id", "repository", "size", "tag")


def matches_reference(pattern: str, name: str) -> bool:
    """Whether the image name ``name`` matches the reference ``pattern`` (a glob of
    ``NAME[:TAG]``, matched against the full name, the name without its registry, and the last
    path component, with and without the tag)."""
    import fnmatch

    repo, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "")
    path = repo.split("/", 1)[1] if "/" in repo else repo
    short = path.rsplit("/", 1)[-1]
    forms = {name, repo, path, f"{path}:{tag}", short, f"{short}:{tag}"}
    return any(fnmatch.fnmatchcase(form, pattern) for form in forms)


def _bool(key: str, value: str) -> bool:
    if value not in ("true", "false"):
        raise UsageError(f"invalid {key} filter value {value!r}", hint=f"use {key}=true or {key}=false")
    return value == "true"


def filter_images(images: list[Image], filters: list[str], store: Store,
                  in_use: Collection[str] = ()) -> list[Image]:
    """``images`` that pass every filter (``in_use``: the ids of the images containers use)."""
    for spec in filters:
        images = [i for i in images if _predicate(spec, store, in_use)(i)]
    return images


def _predicate(spec: str, store: Store, in_use: Collection[str]) -> Callable[[Image], bool]:
    from capsa.humanize import parse_time

    key, sep, value = spec.partition("=")
    negate = key.endswith("!")
    key = key.removesuffix("!")
    if not sep:
        raise UsageError(f"invalid filter {spec!r}", hint="filters look like KEY=VALUE, e.g. dangling=true")
    if key not in KEYS:
        raise UsageError(f'unsupported image filter "{key}"', hint=f"supported: {', '.join(KEYS)}")
    if negate and key != "label":
        raise UsageError(f"invalid filter {spec!r}: only label takes !=", hint="use KEY=VALUE")
    if key == "dangling":
        want = _bool(key, value)
        return lambda i: (not i.names) == want
    if key == "reference":
        return lambda i: any(matches_reference(value, n) for n in i.names)
    if key == "id":
        return lambda i: i.id.startswith(value.removeprefix("sha256:"))
    if key == "label":
        lk, lsep, lv = value.partition("=")

        def has(i: Image) -> bool:
            labels = (store.config_of(i).get("config") or {}).get("Labels") or {}
            return (lk in labels and (not lsep or labels[lk] == lv)) != negate
        return has
    if key in ("before", "since", "after"):
        pivot = parse_time(store.find_image(value).created)
        before = key == "before"
        return lambda i: parse_time(i.created) != pivot and (parse_time(i.created) < pivot) == before
    if key == "until":
        from capsa.pod.views import until_cutoff

        cutoff = until_cutoff(value)
        return lambda i: parse_time(i.created).timestamp() < cutoff
    if key == "containers":
        want = _bool(key, value)
        return lambda i: (i.id in in_use) == want
    if key == "intermediate":
        want = _bool(key, value)
        from capsa.image.lineage import parent_of

        parents = {p.id for i in store.images.all() if (p := parent_of(store, i)) is not None}
        return lambda i: (not i.names and i.id not in parents) == want
    if key == "manifest":  # (capsa's store holds no manifest lists)
        return lambda i: not _bool(key, value)
    return lambda i: not _bool(key, value)  # readonly: capsa has no read-only additional stores


def sort_rows(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """``images --sort``: the table's rows (newest first as they come) ordered by ``key``."""
    if key not in SORT_KEYS:
        raise UsageError(f'"{key}" is not a valid field for sorting. Choose from: {", ".join(SORT_KEYS)}',
                         hint="capsa images --sort created|id|repository|size|tag")
    if key == "created":
        return rows
    field = {"id": "Id", "repository": "Repository", "size": "VirtualSize", "tag": "Tag"}[key]
    return sorted(rows, key=lambda r: r[field])
