"""``ps``'s listing: the rows of the containers and podman's ``--filter`` keys over them (status,
name, label, id, exited, ancestor, pod). Used by ``ps`` and by the commands that take
``--filter`` (start, stop, kill... in :mod:`capsa.engine.container_ops`, :mod:`capsa.engine.running`).
"""
from __future__ import annotations

from capsa.engine.session import container_records, open_store
from capsa.errors import CapsaError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.engine.session import Session


def listing(sess: Session, all_: bool, filters: list[str], external: bool = False) -> list[dict[str, Any]]:
    """``ps``: the rows of the containers (only the running ones unless ``all_`` or
    ``filters``) that pass every ``KEY=VALUE`` filter (podman's: status, name, label, id,
    exited, ancestor, pod), newest first. A build's RUN containers (``extra["builder"]``) only
    with ``external``, as podman's ``ps --external`` shows buildah's."""
    from capsa.container.views import ps_row

    records = container_records(sess)
    store = open_store(sess)
    configs = sorted((c for c in records.all() if external or not c.extra.get("builder")),
                     key=lambda c: c.created, reverse=True)
    images: dict[str, dict[str, Any]] = {}
    rows = []
    with store.reading():
        for config in configs:
            if config.image_id and config.image_id not in images:
                try:
                    images[config.image_id] = store.config_of(store.image_by_id(config.image_id))
                except CapsaError:
                    images[config.image_id] = {}
            rows.append(ps_row(records, config, images.get(config.image_id or "", {})))
    if not all_ and not filters:
        rows = [r for r in rows if r["State"] in ("running", "paused", "stopping", "restarting")]
    return _filter_rows(rows, filters, sess)


def _filter_rows(rows: list[dict[str, Any]], filters: list[str], sess: Session | None = None) -> list[dict[str, Any]]:
    pods = [spec.partition("=")[2] for spec in filters if spec.startswith("pod=")]
    if pods and sess is not None:  # (several pod= filters: any of them, as podman)
        from capsa.engine.podlife import pod_ids

        wanted = pod_ids(sess, pods)
        rows = [r for r in rows if r["Pod"] in wanted]
    for spec in filters:
        key, sep, value = spec.partition("=")
        if not sep:
            raise UsageError(f"invalid filter {spec!r}", hint="filters look like KEY=VALUE, e.g. status=running")
        if key == "pod":
            continue
        if key == "status":
            if value not in ("created", "running", "paused", "stopping", "exited", "removing"):
                raise UsageError(f"invalid status filter {value!r}", hint="use created, running, paused or exited")
            rows = [r for r in rows if r["State"] == value]
        elif key == "name":
            import fnmatch  # (re: not for ps without a name filter)

            rows = [r for r in rows if value in r["Names"] or fnmatch.fnmatchcase(r["Names"], value)]
        elif key == "label":
            lk, lsep, lv = value.partition("=")
            rows = [r for r in rows if lk in r["Labels"] and (not lsep or r["Labels"][lk] == lv)]
        elif key == "id":
            rows = [r for r in rows if r["Id"].startswith(value)]
        elif key == "exited":
            rows = [r for r in rows if r["State"] == "exited" and str(r["ExitCode"]) == value]
        elif key == "ancestor":
            rows = [r for r in rows if _is_ancestor(value, r)]
        else:
            raise UsageError(f"invalid filter key {key!r}", hint="supported: status, name, label, id, exited, ancestor, pod")
    return rows


def _is_ancestor(value: str, row: dict[str, Any]) -> bool:
    """Whether ``value`` names the row's image: its id (or a prefix of 12+), or its full name
    (``localhost/busybox:latest``) as written or short (``busybox``, ``busybox:latest``), as
    podman's filter."""
    from capsa.image.reference import parse_reference

    image, image_id = row["Image"], row["ImageID"]
    if value == image or (len(value) >= 12 and image_id.startswith(value)):
        return True
    try:
        full = str(parse_reference(value))
    except UsageError:
        return False
    if image == full:
        return True
    short = value if ":" in value.rsplit("/", 1)[-1] else f"{value}:latest"
    return image.endswith("/" + short)
