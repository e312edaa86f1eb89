"""``system df -v``'s text: podman's three titled tables."""
from __future__ import annotations

from typing import Any

IMAGES = ("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Created}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
          {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Created": "CREATED", "Size": "SIZE",
           "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "Containers": "CONTAINERS"})
CONTAINERS = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.Created}}\t{{.Status}}\t{{.Names}}",
              {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "LocalVolumes": "LOCAL VOLUMES",
               "Size": "SIZE", "Created": "CREATED", "Status": "STATUS", "Names": "NAMES"})
VOLUMES = ("table {{.VolumeName}}\t{{.Links}}\t{{.Size}}", {"VolumeName": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"})


def verbose_tables(rows: dict[str, list[dict[str, Any]]]) -> str:
    """The three tables under their titles, as podman prints them."""
    from capsa.formatting import format_items

    parts = []
    for title, key, (fmt, headers) in (("Images", "images", IMAGES), ("Containers", "containers", CONTAINERS),
                                       ("Local Volumes", "volumes", VOLUMES)):
        parts.append(f"{title} space usage:\n\n" + format_items(fmt, rows[key], headers))
    return "\n".join(parts)
