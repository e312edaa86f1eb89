"""``--mount type=image,source=IMAGE,target=DIR``: an image's root filesystem, read-only.

At each start the image's layers become the mount: a bind of the one directory that holds the
whole tree (a vfs layer, or a single-layer overlay image), else an overlay mount with only
lower directories (read-only by construction, made in the container's mount namespace: it goes
away with the container and needs no unmount). The image is looked up at every start; one that
was removed meanwhile fails the start.
"""
from __future__ import annotations

from capsa.container.model import MountSpec
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.store.store import Store


def image_mount(store: Store, mount: MountSpec) -> MountSpec:
    """The bind or overlay mount that shows ``mount.source``'s (an image reference) root filesystem."""
    from capsa.errors import ImageNotFound

    try:
        with store.reading():
            image = store.find_image(mount.source)
    except ImageNotFound:  # (not the container's own image: nothing to pull here)
        raise UsageError(f'creating image volume "{mount.source}":"{mount.destination}": {mount.source}: '
                         "image not known", hint="pull or build the image first (capsa images)") from None
    if not image.top_layer:
        raise UsageError(f"image {mount.source} has no layers to mount", hint="give an image with a filesystem")
    meta = store.driver.metadata(image.top_layer)
    if meta.get("path"):
        dirs = [meta["path"]]
    elif meta.get("UpperDir"):
        dirs = [meta["UpperDir"], *[d for d in (meta.get("LowerDir") or "").split(":") if d]]
    else:
        raise UsageError(f"--mount type=image: the {store.driver.name} storage driver does not say where a layer is",
                         hint="use the overlay or vfs storage driver")
    if len(dirs) == 1:
        return MountSpec("bind", mount.destination, dirs[0], ["ro"])
    return MountSpec("overlay", mount.destination, "overlay", ["ro", "lowerdir=" + ":".join(dirs)])
