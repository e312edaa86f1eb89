"""What image commands show: list rows, inspect documents and history rows, podman-shaped."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.store.images import Image
    from capsa.store.store import Store


class GoFields(dict):  # type: ignore[type-arg]
    """A document whose Go template field names differ from its JSON keys: podman's image
    inspect prints ``"Id"`` but its templates say ``{{.ID}}``. The aliases answer templates only;
    the JSON has the keys alone."""

    ALIASES = {"ID": "Id"}

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or dict.__contains__(self, self.ALIASES.get(key, key))  # type: ignore[arg-type]

    def __missing__(self, key: str) -> object:
        if key in self.ALIASES:
            return self[self.ALIASES[key]]
        raise KeyError(key)


def split_name(name: str) -> tuple[str, str]:
    """``localhost/busybox:latest`` -> (``localhost/busybox``, ``latest``); digests stay whole."""
    if "@" in name:
        repo, _, digest = name.partition("@")
        return repo, "<none>"
    repo, sep, tag = name.rpartition(":")
    if not sep or "/" in tag:
        return name, "<none>"
    return repo, tag


def repo_digests(image: Image) -> list[str]:
    """podman's RepoDigests: every repository the image is named in, with every manifest digest
    known for it (its own manifest's first)."""
    repos = dict.fromkeys(split_name(n)[0] for n in image.names)
    digests = list(dict.fromkeys([image.digest, *image.digests]))
    return [f"{repo}@{digest}" for repo in repos for digest in digests]


def image_comment(image: Image, config: dict[str, Any]) -> str:
    """podman's ``inspect`` Comment: a Docker image's config ``comment`` (``commit -m``), else
    the first history entry's comment."""
    from capsa.image import mediatypes as mt

    if image.manifest_media_type == mt.DOCKER_MANIFEST:
        return str(config.get("comment") or "")
    history = config.get("history") or []
    return str(history[0].get("comment", "")) if history else ""


def list_rows(image: Image, labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One ``images`` row per name (one ``<none>`` row for a dangling image); ``labels``: the
    image's, for ``{{.Labels}}`` (podman prints ``map[]`` when there are none)."""
    from capsa.humanize import go_time, human_size, parse_time, since

    base = {
        "ID": image.id[:12],
        "Id": image.id,
        "FullID": "sha256:" + image.id,
        "Digest": image.digest,
        "Size": human_size(image.size),
        "VirtualSize": image.size,
        "Created": since(image.created),
        "CreatedSince": since(image.created),
        "CreatedAt": go_time(image.created),
        "CreatedUnix": int(parse_time(image.created).timestamp()),
        "Names": list(image.names),
        "Dangling": not image.names,
        "Intermediate": image.intermediate,
        "History": ", ".join(image.names_history or image.names) or "<none>",
        "Labels": dict(labels or {}),
    }
    if not image.names:
        return [{**base, "Repository": "<none>", "Tag": "<none>"}]
    return [{**base, "Repository": repo, "Tag": tag} for repo, tag in map(split_name, image.names)]


def list_json(image: Image, config: dict[str, Any]) -> dict[str, Any]:
    """``images --format json``: podman's fields."""
    from capsa.humanize import parse_time

    created = parse_time(image.created)
    return {
        "Id": image.id,
        "ParentId": "",
        "RepoTags": [n for n in image.names if "@" not in n],
        "RepoDigests": repo_digests(image),
        "Size": image.size,
        "SharedSize": 0,
        "VirtualSize": image.size,
        "Labels": config.get("config", {}).get("Labels"),
        "Containers": 0,
        "Names": list(image.names),
        "Digest": image.digest,
        "History": list(image.names_history or image.names),
        "Created": int(created.timestamp()),
        "CreatedAt": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


_CONFIG_FIELDS = ("User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal",
                  "OnBuild")


def inspect_doc(store: Store, image: Image) -> dict[str, Any]:
    """``image inspect``: Docker-compatible fields plus podman's extras."""
    config = store.config_of(image)
    runtime = config.get("config") or {}
    history = config.get("history") or []
    driver = store.driver
    metadata: dict[str, str] = {}
    if image.top_layer:
        try:
            metadata = {k: v for k, v in driver.metadata(image.top_layer).items() if k[0].isupper()}
        except Exception:  # metadata is informative only
            metadata = {}
    return GoFields({
        "Id": image.id,
        "Digest": image.digest,
        "RepoTags": [n for n in image.names if "@" not in n],
        "RepoDigests": repo_digests(image),
        "Parent": _parent_id(store, image),
        "Comment": image_comment(image, config),
        "Created": config.get("created", image.created),
        "Config": {k: runtime[k] for k in _CONFIG_FIELDS if k in runtime},
        "Version": config.get("docker_version", ""),
        "Author": config.get("author", ""),
        "Architecture": config.get("architecture", ""),
        "Os": config.get("os", ""),
        "Size": image.size,
        "VirtualSize": image.size,
        "GraphDriver": {"Name": driver.name, "Data": metadata},
        "RootFS": {"Type": config.get("rootfs", {}).get("type", "layers"),
                   "Layers": list(config.get("rootfs", {}).get("diff_ids", []))},
        "Labels": runtime.get("Labels"),
        "Annotations": {},
        "ManifestType": image.manifest_media_type,
        "User": runtime.get("User", ""),
        "History": history,
        "NamesHistory": list(image.names_history or image.names),
        **({"Healthcheck": runtime["Healthcheck"]} if runtime.get("Healthcheck") else {}),  # (podman's, when set)
    })


def _parent_id(store: Store, image: Image) -> str:
    from capsa.image.lineage import parent_of

    parent = parent_of(store, image)
    return parent.id if parent is not None else ""


def _rfc3339(when: Any) -> str:
    """Go's time.RFC3339 of an aware datetime, in UTC: ``2026-12-08T04:11:04Z``."""
    import datetime

    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def history_rows(store: Store, image: Image) -> list[dict[str, Any]]:
    """``image history``: newest first; each row carries the id of an image that ends at that
    step (the image's own on the top row, its parent images' below), else ``<missing>``."""
    from capsa.humanize import go_time, human_size, parse_time, since

    config = store.config_of(image)
    layers = store.image_layers(image)
    sizes = iter(layer.size for layer in layers)
    rows = []
    for entry in config.get("history") or []:
        size = 0 if entry.get("empty_layer") else next(sizes, 0)
        rows.append({
            "ID": "<missing>",
            "Created": since(entry.get("created", "")) if entry.get("created") else "",
            "CreatedAt": go_time(entry["created"]) if entry.get("created") else "",
            "CreatedRFC3339": _rfc3339(parse_time(entry.get("created", ""))),
            "CreatedNano": entry.get("created", ""),
            "CreatedBy": entry.get("created_by", ""),
            "Size": human_size(size),
            "RawSize": size,
            "Comment": entry.get("comment", ""),
            "Tags": None,
        })
    rows.reverse()
    from capsa.image.lineage import history_ids

    for row, shown in zip(rows, history_ids(store, image, list(reversed(config.get("history") or [])))):
        row["ID"] = shown
    if rows:
        rows[0]["Tags"] = list(image.names)
    return rows
