"""``system df -v``: podman's three verbose tables (images, containers, local volumes), each a
list of rows whose keys are the tables' template fields."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from capsa.engine.session import container_records, open_store
from capsa.errors import CapsaError

if TYPE_CHECKING:
    from capsa.engine.session import Session


def df_size(size: int) -> str:
    """podman's ``system df`` sizes: go-units HumanSize (``2.141MB``, ``0B``)."""
    from capsa.humanize import go_human_size

    return go_human_size(size)


def verbose(sess: Session) -> dict[str, list[dict[str, Any]]]:
    """The rows of ``system df -v``: ``images``, ``containers``, ``volumes``."""
    import time

    from capsa.container.views import command_of, effective_status
    from capsa.container.volumes import VolumeStore
    from capsa.fsutil import tree_size
    from capsa.humanize import human_duration, parse_time
    from capsa.image.views import split_name

    store, records = open_store(sess), container_records(sess)
    containers = records.all()
    now = time.time()

    def age(created: str) -> str:
        return human_duration(now - parse_time(created).timestamp())

    images: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    with store.reading():
        found = store.images.all()
        layers = {layer.id: layer for layer in store.layers.all()}
        configs = {i.id: store.config_of(i) for i in found}
    uses: dict[str, int] = {}
    for c in containers:
        uses[c.image_id or ""] = uses.get(c.image_id or "", 0) + 1
    for image in sorted(found, key=lambda i: i.created, reverse=True):
        base = {"ID": image.id[:12], "Created": age(image.created), "Size": df_size(image.size),
                "SharedSize": df_size(0), "UniqueSize": df_size(image.size), "Containers": uses.get(image.id, 0)}
        names = [split_name(n) for n in image.names] or [("<none>", "<none>")]
        images += [{**base, "Repository": repo, "Tag": tag} for repo, tag in names]
    for c in containers:
        size = 0
        if c.layer_id in layers:
            try:
                size = store.driver.diff_size(c.layer_id, layers[c.layer_id].parent)
            except CapsaError:
                size = 0
        command = command_of(c, configs.get(c.image_id or "", {}))
        rows.append({"ID": c.id[:12], "Image": (c.image_id or "")[:12], "Command": " ".join(command),
                     "LocalVolumes": sum(1 for m in c.mounts if m.type == "volume"), "Size": df_size(size),
                     "Created": age(c.created), "Status": effective_status(records, c).status, "Names": c.name})
    used: dict[str, int] = {}
    for c in containers:
        for m in c.mounts:
            if m.type == "volume":
                used[m.source] = used.get(m.source, 0) + 1
    volumes = [{"VolumeName": v["Name"], "Links": used.get(v["Name"], 0), "Size": df_size(tree_size(Path(v["Mountpoint"])))}
               for v in VolumeStore(sess.config.root).all()]
    return {"images": images, "containers": rows, "volumes": volumes}
