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
    """``ps``: the rows of the containers (only the running ones unless ``all_`` or a
    ``status`` filter) that pass every ``KEY=VALUE`` filter (podman's: status, name, label, id,
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
    if not all_ and not any(f.startswith("status=") for f in filters):
        rows = [r for r in rows if r["State"] == "running"]  # (podman's ps: status=running unless told)
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


def json_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``ps --format json``: the rows with podman's keys (see :func:`capsa.container.views.ps_json`)."""
    from capsa.container.views import ps_json

    return [ps_json(r) for r in rows]


def template_states(rows: list[dict[str, Any]]) -> None:
    """For a ``--format`` template: each row's ``State`` as podman's ``{{.State}}`` (see
    :func:`capsa.container.views.template_state`)."""
    from capsa.container.views import template_state

    for row in rows:
        row["State"] = template_state(row)


def add_sizes(sess: Session, rows: list[dict[str, Any]]) -> None:
    """``ps --size``: each row's ``Size`` (podman's ``{"rwSize", "rootFsSize"}``: the container's
    writable layer, and that plus its image) and ``SizeText`` (``12B (virtual 1.98MB)``)."""
    from capsa.humanize import go_human_size

    sizes = container_sizes(sess, [row["Id"] for row in rows])
    for row in rows:
        rw, root = sizes.get(row["Id"], (0, 0))
        row["Size"] = {"rwSize": rw, "rootFsSize": root}
        row["SizeText"] = f"{go_human_size(rw)} (virtual {go_human_size(root)})"


def container_sizes(sess: Session, ids: list[str]) -> dict[str, tuple[int, int]]:
    """(writable layer size, that plus the image's size) of each container of ``ids`` (``ps
    --size``, ``inspect --size``'s SizeRw and SizeRootFs)."""
    records, store = container_records(sess), open_store(sess)
    out = {}
    with store.reading():
        layers = {layer.id: layer for layer in store.layers.all()}
        image_sizes = {i.id: i.size for i in store.images.all()}
        for container_id in ids:
            config = records.config(container_id)
            rw = 0
            if config.layer_id in layers:
                try:
                    rw = store.driver.diff_size(config.layer_id, layers[config.layer_id].parent)
                except CapsaError:
                    pass
            out[container_id] = (rw, rw + int(image_sizes.get(config.image_id or "", 0) or 0))
    return out


NAMESPACES = (("CGROUPNS", "cgroup"), ("IPC", "ipc"), ("MNT", "mnt"), ("NET", "net"), ("PIDNS", "pid"),
              ("USERNS", "user"), ("UTS", "uts"))


def add_namespaces(rows: list[dict[str, Any]]) -> None:
    """``ps --namespace``: each row's namespace inode numbers (read from its process; empty for
    a container that does not run), as ``{{.CGROUPNS}}``... and ``Namespaces`` (podman's keys)."""
    import os

    for row in rows:
        found = {}
        for field, ns in NAMESPACES:
            value = ""
            if row["State"] in ("running", "paused", "stopping") and row["Pid"]:
                try:
                    value = os.readlink(f"/proc/{row['Pid']}/ns/{ns}").rpartition("[")[2].rstrip("]")
                except OSError:
                    pass
            row[field] = value
            if value:
                found[{"CGROUPNS": "Cgroup", "IPC": "IPC", "MNT": "MNT", "NET": "NET", "PIDNS": "PIDNS",
                       "USERNS": "User", "UTS": "UTS"}[field]] = value
        row["Namespaces"] = found
