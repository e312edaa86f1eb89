"""The ``overlay`` storage driver: layers stacked with the kernel's overlayfs.

Layout under the driver's home (after containers/storage): ``<id>/diff`` holds the layer's own
changes (an overlay upper dir: deletions are 0:0 character devices, opaque directories carry
``trusted.overlay.opaque``), ``<id>/work`` and ``<id>/merged`` serve mounts, ``<id>/link`` names
the layer's short symlink ``l/<link> -> ../<id>/diff`` and ``<id>/lower`` lists the parents'
links, top-most first. Mounts use the kernel's new mount API with one ``lowerdir+`` per layer
(up to overlay's own limit of 500 layers); on kernels without it, mount(2) runs in a helper
from the home directory with those short relative names, and the option string (limited to one
page) holds about 200 layers. Mounting never changes the caller's working directory.
"""
from __future__ import annotations

import errno
import os
import stat

from capsa.drivers.base import Option
from capsa.drivers.storage import Change, StorageDriver, check_layer_id
from capsa.errors import DriverNotSupported, StorageError
from capsa.fsutil import rmtree
from capsa.hostinfo import filesystem_supported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from capsa.store.mountcount import MountCounter
    from typing import Any, BinaryIO

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
ROOT_MODE = 0o555  # a base layer's root directory (containers/storage's defaultPerms)
_LINK_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # base32's: 256 is a multiple of 32, so uniform


def new_link_name() -> str:
    """A random 16-character name for ``l/`` (80 random bits, as containers/storage's are)."""
    return "".join(_LINK_ALPHABET[b % 32] for b in os.urandom(16))


def drop_idle_whiteouts(upper: str | os.PathLike[str], lowers: list[str]) -> None:
    """Remove whiteouts (0:0 character devices) that hide nothing in any lower layer.

    overlayfs filters whiteouts out of listings only in directories it merges with a lower
    one; in a directory only the upper layer has, a whiteout would show as a name that cannot
    be opened. A whiteout with nothing to hide is pointless anyway, so it goes.
    """
    import stat

    for dirpath, dirnames, filenames in os.walk(upper):
        rel = os.path.relpath(dirpath, upper)
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if not (stat.S_ISCHR(st.st_mode) and st.st_rdev == 0):
                continue
            inner = os.path.normpath(os.path.join(rel, name))
            if not any(os.path.lexists(os.path.join(lower, inner)) for lower in lowers):
                os.unlink(path)


class OverlayDriver(StorageDriver):
    OPTIONS = {
        "mountopt": Option(str, "nodev", "comma-separated options added to every overlay mount"),
        "max_layers": Option(int, 500, "refuse to create layer stacks deeper than this (overlay's limit: 500)"),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.home = self.context.home_dir  # a string: pathlib is not imported on the way to a container
        self._counter: MountCounter | None = None

    @property
    def counter(self) -> MountCounter:
        """The layers' mount counts (made on first use: creating a layer needs none)."""
        if self._counter is None:
            from capsa.store.mountcount import MountCounter

            self._counter = MountCounter(self.context.run_home_dir)
        return self._counter

    def check_host(self) -> None:
        if not filesystem_supported("overlay"):
            raise DriverNotSupported("the kernel does not offer overlayfs",
                                     hint="load it with 'modprobe overlay', or use --storage-driver vfs")

    # -- layout -----------------------------------------------------------------------------

    def _dir(self, layer_id: str, *parts: str) -> str:
        return os.path.join(self.home, check_layer_id(layer_id), *parts)

    def _read(self, layer_id: str, name: str) -> str:
        with open(self._dir(layer_id, name)) as fh:
            return fh.read().strip()

    def _lowers(self, layer_id: str) -> list[str]:
        """The parents' link names (``l/XXXX``), top-most first."""
        text = self._read(layer_id, "lower")
        return text.split(":") if text else []

    def _link(self, layer_id: str) -> str:
        return "l/" + self._read(layer_id, "link")

    def create(self, layer_id: str, parent: str | None, writable: bool = False) -> None:
        target = self._dir(layer_id)
        self.check_new_layer(layer_id, parent, target)
        lowers = [self._link(parent), *self._lowers(parent)] if parent else []
        if len(lowers) + 1 > self.options["max_layers"]:
            raise StorageError(
                f"layer {layer_id} would stack {len(lowers) + 1} layers; overlay holds at most {self.options['max_layers']}",
                hint="squash the image (fewer layers), raise [storage.options.overlay] max_layers, or use vfs",
            )
        os.makedirs(os.path.join(self.home, "l"), exist_ok=True)
        partial = os.path.join(self.home, f".{layer_id}.partial")
        if os.path.lexists(partial):  # what a killed create left
            rmtree(partial, ignore_errors=True)
        link = new_link_name()
        try:
            os.mkdir(partial)
            # "empty" stands in for the lower dir of a base layer (overlay wants one)
            for sub in ("diff", "work", "merged") if parent else ("diff", "work", "merged", "empty"):
                os.mkdir(os.path.join(partial, sub), 0o700)
            # The root's mode, as containers/storage's: 0555 for a base layer, the parent's for
            # the others (a container's root shows its upper layer's: podman's dr-xr-xr-x /).
            mode = stat.S_IMODE(os.stat(os.path.join(self._dir(parent), "diff")).st_mode) if parent else ROOT_MODE
            os.chmod(os.path.join(partial, "diff"), mode)
            for name, text in (("link", link), ("lower", ":".join(lowers)), ("parent", parent or "")):
                with open(os.path.join(partial, name), "w") as fh:
                    fh.write(text)
            os.rename(partial, target)
            os.symlink(f"../{layer_id}/diff", os.path.join(self.home, "l", link))
        except BaseException:
            rmtree(partial, ignore_errors=True)
            rmtree(target, ignore_errors=True)
            raise

    def remove(self, layer_id: str) -> None:
        from capsa.linux import MNT_DETACH, is_mountpoint, umount

        target = self._dir(layer_id)
        with self.counter.lock.exclusive():
            doomed = os.path.join(self.home, f".{layer_id}.removing")
            for leftover in (os.path.join(self.home, f".{layer_id}.partial"), doomed):
                rmtree(leftover, ignore_errors=True)  # what a killed command left
            if not os.path.exists(target):
                return
            if self.counter.get(layer_id):
                raise StorageError(f"layer {layer_id} is in use (mounted)", hint="unmount it first")
            merged = os.path.join(target, "merged")
            if is_mountpoint(merged):  # mounted by a command that died before counting it
                umount(merged, MNT_DETACH)
            try:
                os.unlink(os.path.join(self.home, "l", self._read(layer_id, "link")))
            except FileNotFoundError:
                pass
            try:
                os.rename(target, doomed)
                rmtree(doomed)
            except OSError as exc:
                raise StorageError(f"removing layer {layer_id} failed: {exc.strerror}", hint="see 'capsa system check'") from exc

    def exists(self, layer_id: str) -> bool:
        return os.path.isdir(self._dir(layer_id, "diff"))

    def list_layers(self) -> list[str]:
        if not os.path.isdir(self.home):
            return []
        return [e.name for e in os.scandir(self.home) if e.name not in ("l",) and not e.name.startswith(".")
                and os.path.isdir(os.path.join(e.path, "diff"))]

    def metadata(self, layer_id: str) -> dict[str, str]:
        if not self.exists(layer_id):
            raise StorageError(f"layer {layer_id} does not exist", hint="see 'capsa images'")
        return {
            "UpperDir": self._dir(layer_id, "diff"),
            "WorkDir": self._dir(layer_id, "work"),
            "MergedDir": self._dir(layer_id, "merged"),
            "LowerDir": ":".join(self._lower_paths(layer_id)),
            "mounts": str(self.counter.get(layer_id)),
        }

    def _resolve_link(self, link: str) -> str:
        return os.path.realpath(os.path.join(self.home, link))

    # -- mounts -----------------------------------------------------------------------------

    def _mount_params(self, volatile: bool) -> tuple[int, list[str]]:
        """mount(2) flags and overlay's options other than its directories."""
        params = ["volatile"] if volatile else []  # no syncs: unmounting does not flush the upper (5.10+)
        # A layer's diff must be its upper dir alone: no metacopy-only or redirected entries.
        params += [f"{feature}=off" for feature in ("redirect_dir", "metacopy")
                   if os.path.exists(f"/sys/module/overlay/parameters/{feature}")]
        from capsa.linux import split_mount_options

        flags, extra = split_mount_options(self.options["mountopt"])
        return flags, params + [p for p in extra.split(",") if p]

    def _mount_data(self, layer_id: str, volatile: bool = False) -> tuple[int, str]:
        """The legacy mount(2)'s flags and option string, with names relative to the home."""
        lowers = self._lowers(layer_id)
        parts = ["lowerdir=" + ":".join(lowers)] if lowers else [f"lowerdir={layer_id}/empty"]
        parts += [f"upperdir={layer_id}/diff", f"workdir={layer_id}/work"]
        flags, params = self._mount_params(volatile)
        data = ",".join(parts + params)
        if len(data) >= PAGE_SIZE:
            raise StorageError(
                f"cannot mount layer {layer_id}: its {len(lowers) + 1} layers need {len(data)} bytes of mount "
                f"options, more than the kernel's limit of {PAGE_SIZE - 1} (this kernel's overlay has no lowerdir+)",
                hint="squash the image into fewer layers, or use --storage-driver vfs",
            )
        return flags, data

    def _mount_layer(self, layer_id: str, merged: str, volatile: bool) -> None:
        """Mount the overlay: through the new mount API, one descriptor per lower layer; on a
        kernel without overlay's ``lowerdir+``, mount(2) in a helper (see :mod:`.newmount`)."""
        from . import newmount

        if newmount.supported():
            lowers = [os.path.join(self.home, link) for link in self._lowers(layer_id)]
            flags, params = self._mount_params(volatile)
            try:
                newmount.mount_overlay(merged, lowers or [self._dir(layer_id, "empty")], self._dir(layer_id, "diff"),
                                       self._dir(layer_id, "work"), flags, params)
                return
            except newmount.Unsupported:
                pass
        flags, data = self._mount_data(layer_id, volatile)
        newmount.mount_in_directory(self.home, merged, flags, data)

    def mount(self, layer_id: str, volatile: bool = False) -> str:
        from capsa.linux import is_mountpoint

        merged = self._dir(layer_id, "merged")
        with self.counter.lock.exclusive():
            if not self.exists(layer_id):
                raise StorageError(f"layer {layer_id} does not exist", hint="create it first")
            count = self.counter.get(layer_id)
            if count == 0 and not is_mountpoint(merged):  # (a command that died may have mounted it)
                try:
                    try:
                        self._mount_layer(layer_id, merged, volatile)
                    except OSError as exc:
                        if not (volatile and exc.errno == errno.EINVAL):
                            raise
                        self._mount_layer(layer_id, merged, False)  # a kernel without "volatile"
                except OSError as exc:
                    raise StorageError(f"mounting layer {layer_id} failed: {exc.strerror}",
                                       hint="check 'dmesg' for overlayfs messages") from exc
            self.counter.set(layer_id, count + 1)
        return merged

    def unmount(self, layer_id: str, force: bool = False) -> bool:
        from capsa.linux import umount

        def last() -> None:
            try:
                umount(self._dir(layer_id, "merged"))
            except OSError as exc:
                if exc.errno == errno.EBUSY:
                    raise StorageError(f"layer {layer_id} is busy", hint="a process still uses it") from exc
                raise

        return self.counter.release(check_layer_id(layer_id), last, force=force)

    def cleanup(self) -> None:
        from capsa.linux import umount

        with self.counter.lock.exclusive():
            for layer_id, count in self.counter.all().items():
                if count:
                    umount(self._dir(layer_id, "merged"))
                self.counter.set(layer_id, 0)
        if os.path.isdir(self.home):
            for entry in os.scandir(self.home):
                if entry.name.endswith((".partial", ".removing")):
                    rmtree(entry.path, ignore_errors=True)

    # -- diffs: a layer's own changes are its upper dir ---------------------------------------

    def _lower_paths(self, layer_id: str) -> list[str]:
        return [self._resolve_link(link) for link in self._lowers(layer_id)]

    def _is_direct_parent(self, layer_id: str, parent: str | None) -> bool:
        return self._read(layer_id, "parent") == (parent or "")

    def changes(self, layer_id: str, parent: str | None) -> list[Change]:
        if not self._is_direct_parent(layer_id, parent):
            return super().changes(layer_id, parent)
        from capsa.store.changes import overlay_changes

        return overlay_changes(self._dir(layer_id, "diff"), self._lower_paths(layer_id))

    def diff(self, layer_id: str, parent: str | None) -> BinaryIO:
        if not self._is_direct_parent(layer_id, parent):
            return super().diff(layer_id, parent)
        from capsa.store.changes import overlay_changes, overlay_opaque_dirs
        from capsa.store.tarwrite import write_layer_tar

        upper = self._dir(layer_id, "diff")
        return self._spool(lambda out: write_layer_tar(out, upper, overlay_changes(upper, self._lower_paths(layer_id)),
                                                       opaque_dirs=overlay_opaque_dirs(upper)))

    def diff_size(self, layer_id: str, parent: str | None) -> int:
        if not self._is_direct_parent(layer_id, parent):
            return super().diff_size(layer_id, parent)
        from capsa.store.changes import overlay_changes, overlay_opaque_dirs
        from capsa.store.tarwrite import tar_size

        upper = self._dir(layer_id, "diff")
        return tar_size(upper, overlay_changes(upper, self._lower_paths(layer_id)), opaque_dirs=overlay_opaque_dirs(upper))

    def apply_diff(self, layer_id: str, parent: str | None, stream: BinaryIO) -> int:
        from pathlib import Path

        from capsa.store.staging import extract_swapped

        layer = self._dir(layer_id)
        if not os.path.isdir(os.path.join(layer, "diff")):
            raise StorageError(f"layer {layer_id} does not exist", hint="create it first")
        with self.counter.lock.exclusive():
            if self.counter.get(layer_id):
                raise StorageError(f"cannot apply a diff to layer {layer_id} while it is mounted", hint="unmount it first")
            lowers = self._lower_paths(layer_id)
            mode = stat.S_IMODE(os.stat(os.path.join(layer, "diff")).st_mode)

            def finish(upper: Path) -> None:
                drop_idle_whiteouts(upper, lowers)
                os.chmod(upper, mode)  # (the root keeps its mode: a layer's "./" entry does not set it, as podman's)

            return extract_swapped(Path(layer, "diff"), Path(layer, "diff.staging"), Path(layer, "diff.old"), stream, "overlay",
                                   finish=finish)

    def status(self) -> dict[str, Any]:
        out = super().status()
        out["detail"] = f"overlayfs; home {self.home}"
        out["mountopt"] = self.options["mountopt"]
        out["layers"] = len(self.list_layers())
        return out
