"""Image records: id (the config's digest), names, manifest and layers.

An image's id is the sha256 of its config blob, as podman and docker compute it. Names are
fully qualified references (``localhost/busybox:latest``); one name belongs to one image.
"""
from __future__ import annotations

import os

from capsa.errors import AmbiguousImage, ImageNotFound
from capsa.fastpath.record import field, record
from capsa.store.records import RecordFile


@record
class Image:
    id: str  # hex, without "sha256:"
    names: list[str]
    digest: str  # the manifest's digest
    manifest_media_type: str
    top_layer: str | None
    created: str
    size: int
    digests: list[str] = field(default_factory=list)  # every manifest digest known for it
    intermediate: bool = False  # a build step's image: shown by `images -a` only
    names_history: list[str] = field(default_factory=list)  # every name it had, latest first (podman's)


class ImageRecords:
    """The images.json of a store (the caller holds the store lock)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.records: RecordFile[Image] = RecordFile(os.path.join(root, "images.json"), Image)

    def all(self) -> list[Image]:
        return self.records.load()

    def save(self, images: list[Image]) -> None:
        self.records.save(images)

    def put(self, image: Image) -> None:
        """Insert or replace ``image``; a name it carries is taken from any other image. Its
        names go to the front of its ``names_history`` (containers/storage's rule: each name in
        turn, so the last one comes first; a name removed stays in the history)."""
        others = []
        for other in self.all():
            if other.id == image.id:
                image.names_history = list(dict.fromkeys([*image.names_history, *other.names_history]))
                continue
            other.names = [n for n in other.names if n not in image.names]
            others.append(other)
        for name in image.names:
            image.names_history = list(dict.fromkeys([name, *image.names_history]))
        self.save([*others, image])

    def find(self, ref: str, candidates: list[str]) -> Image:
        """The image whose id, id prefix or name matches. ``candidates`` are the fully qualified
        names ``ref`` may mean (from reference parsing); an id prefix must be unique."""
        images = self.all()
        text = ref.removeprefix("sha256:")
        for image in images:
            if image.id == text:
                return image
        for image in images:
            if any(name in image.names for name in candidates):
                return image
        for wanted in (c for c in candidates if "@" in c):  # repository@digest
            repo, digest = wanted.split("@", 1)
            for image in images:
                if digest in image.digests and any(n.rsplit(":", 1)[0] == repo for n in image.names):
                    return image
        if len(text) >= 3 and all(c in "0123456789abcdef" for c in text):
            matches = [image for image in images if image.id.startswith(text)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise AmbiguousImage(f"{ref}: image id prefix is ambiguous ({len(matches)} images)",
                                    hint="give more characters of the id")
        raise ImageNotFound(f"{ref}: image not known", hint="see 'capsa images' for the images in this store")
