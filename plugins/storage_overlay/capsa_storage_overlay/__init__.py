"""The ``overlay`` storage driver: layers stacked with the kernel's overlayfs.

Layout under the driver's home (after containers/storage): ``<id>/diff`` holds the layer's own
changes (an overlay upper dir: deletions are 0:0 character devices, opaque directories carry
``trusted.overlay.opaque``), ``<id>/work`` and ``<id>/merged`` serve mounts, ``<id>/link`` names
the layer's short symlink ``l/<link> -> ../<id>/diff`` and ``<id>/lower`` lists the parents'
links, top-most first. Mounts run from the home directory with those short relative names, so
the option string (limited to one page) holds about 200 layers.
"""
from __future__ import annotations

import base64
import errno
import os
from pathlib import Path

from capsa.drivers.base import Option
from capsa.drivers.storage import Change, StorageDriver, check_layer_id
from capsa.errors import DriverNotSupported, StorageError
from capsa.fsutil import rmtree
from capsa.hostinfo import filesystem_supported
from capsa.linux import split_mount_options
from capsa.store.mountcount import MountCounter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def drop_idle_whiteouts(upper: Path, lowers: list[Path]) -> None:
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
        "max_layers": Option(int, 200, "refuse to mount layer stacks deeper than this"),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.home = self.context.home
        self.counter = MountCounter(self.context.run_home)

    def check_host(self) -> None:
        if not filesystem_supported("overlay"):
            raise DriverNotSupported("the kernel does not offer overlayfs",
                                     hint="load it with 'modprobe overlay', or use --storage-driver vfs")

    # -- layout -----------------------------------------------------------------------------

    def _dir(self, layer_id: str) -> Path:
        return self.home / check_layer_id(layer_id)

    def _lowers(self, layer_id: str) -> list[str]:
        """The parents' link names (``l/XXXX``), top-most first."""
        text = (self._dir(layer_id) / "lower").read_text().strip()
        return text.split(":") if text else []

    def _link(self, layer_id: str) -> str:
        return "l/" + (self._dir(layer_id) / "link").read_text().strip()

    def create(self, layer_id: str, parent: str | None, writable: bool = False) -> None:
        target = self._dir(layer_id)
        self.check_new_layer(layer_id, parent, target)
        lowers = [self._link(parent), *self._lowers(parent)] if parent else []
        if len(lowers) + 1 > self.options["max_layers"]:
            raise StorageError(
                f"layer {layer_id} would stack {len(lowers) + 1} layers; overlay holds at most {self.options['max_layers']}",
                hint="squash the image (fewer layers), raise [storage.options.overlay] max_layers, or use vfs",
            )
        (self.home / "l").mkdir(parents=True, exist_ok=True)
        partial = self.home / f".{layer_id}.partial"
        if os.path.lexists(partial):  # what a killed create left
            rmtree(partial, ignore_errors=True)
        link = base64.b32encode(os.urandom(10)).decode().rstrip("=")  # 16 characters
        try:
            for sub in ("diff", "work", "merged", "empty"):
                (partial / sub).mkdir(parents=True, mode=0o755 if sub == "diff" else 0o700)
            (partial / "link").write_text(link)
            (partial / "lower").write_text(":".join(lowers))
            (partial / "parent").write_text(parent or "")
            os.rename(partial, target)
            os.symlink(f"../{layer_id}/diff", self.home / "l" / link)
        except BaseException:
            rmtree(partial, ignore_errors=True)
            rmtree(target, ignore_errors=True)
            raise

    def remove(self, layer_id: str) -> None:
        from capsa.linux import MNT_DETACH, is_mountpoint, umount

        target = self._dir(layer_id)
        with self.counter.lock.exclusive():
            for leftover in (self.home / f".{layer_id}.partial", self.home / f".{layer_id}.removing"):
                rmtree(leftover, ignore_errors=True)  # what a killed command left
            if not target.exists():
                return
            if self.counter.get(layer_id):
                raise StorageError(f"layer {layer_id} is in use (mounted)", hint="unmount it first")
            merged = str(target / "merged")
            if is_mountpoint(merged):  # mounted by a command that died before counting it
                umount(merged, MNT_DETACH)
            try:
                (self.home / "l" / (target / "link").read_text().strip()).unlink(missing_ok=True)
            except FileNotFoundError:
                pass
            doomed = self.home / f".{layer_id}.removing"
            try:
                os.rename(target, doomed)
                rmtree(doomed)
            except OSError as exc:
                raise StorageError(f"removing layer {layer_id} failed: {exc.strerror}", hint="see 'capsa system check'") from exc

    def exists(self, layer_id: str) -> bool:
        return (self._dir(layer_id) / "diff").is_dir()

    def list_layers(self) -> list[str]:
        if not self.home.is_dir():
            return []
        return [e.name for e in os.scandir(self.home) if e.name not in ("l",) and not e.name.startswith(".")
                and os.path.isdir(os.path.join(e.path, "diff"))]

    def metadata(self, layer_id: str) -> dict[str, str]:
        if not self.exists(layer_id):
            raise StorageError(f"layer {layer_id} does not exist", hint="see 'capsa images'")
        d = self._dir(layer_id)
        return {
            "UpperDir": str(d / "diff"),
            "WorkDir": str(d / "work"),
            "MergedDir": str(d / "merged"),
            "LowerDir": ":".join(str(self._resolve_link(link)) for link in self._lowers(layer_id)),
            "mounts": str(self.counter.get(layer_id)),
        }

    def _resolve_link(self, link: str) -> Path:
        return (self.home / link).resolve()

    # -- mounts -----------------------------------------------------------------------------

    def _mount_data(self, layer_id: str, volatile: bool = False) -> tuple[int, str]:
        lowers = self._lowers(layer_id)
        parts = []
        if lowers:
            parts.append("lowerdir=" + ":".join(lowers))
        else:  # a base layer: overlay wants a lower dir, give it an empty one
            parts.append(f"lowerdir={layer_id}/empty")
        parts += [f"upperdir={layer_id}/diff", f"workdir={layer_id}/work"]
        if volatile:  # no syncs: unmounting does not flush the upper filesystem (kernel 5.10+)
            parts.append("volatile")
        # A layer's diff must be its upper dir alone: no metacopy-only or redirected entries.
        parts += [f"{feature}=off" for feature in ("redirect_dir", "metacopy")
                  if os.path.exists(f"/sys/module/overlay/parameters/{feature}")]
        flags, extra = split_mount_options(self.options["mountopt"])
        if extra:
            parts.append(extra)
        data = ",".join(parts)
        if len(data) >= PAGE_SIZE:
            raise StorageError(
                f"cannot mount layer {layer_id}: its {len(lowers) + 1} layers need {len(data)} bytes of mount "
                f"options, more than the kernel's limit of {PAGE_SIZE - 1}",
                hint="squash the image into fewer layers, or use --storage-driver vfs",
            )
        return flags, data

    def mount(self, layer_id: str, volatile: bool = False) -> Path:
        from capsa.linux import is_mountpoint, mount

        merged = self._dir(layer_id) / "merged"
        with self.counter.lock.exclusive():
            if not self.exists(layer_id):
                raise StorageError(f"layer {layer_id} does not exist", hint="create it first")
            count = self.counter.get(layer_id)
            if count == 0 and not is_mountpoint(str(merged)):  # (a command that died may have mounted it)
                flags, data = self._mount_data(layer_id, volatile)
                cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
                try:
                    os.chdir(self.home)  # relative lowerdir names keep the option string short
                    try:
                        mount("overlay", str(merged), "overlay", flags, data)
                    except OSError as exc:
                        if not (volatile and exc.errno == errno.EINVAL):
                            raise
                        flags, data = self._mount_data(layer_id)  # a kernel without "volatile"
                        mount("overlay", str(merged), "overlay", flags, data)
                except OSError as exc:
                    raise StorageError(f"mounting layer {layer_id} failed: {exc.strerror}",
                                       hint="check 'dmesg' for overlayfs messages") from exc
                finally:
                    os.fchdir(cwd)
                    os.close(cwd)
            self.counter.set(layer_id, count + 1)
        return merged

    def unmount(self, layer_id: str, force: bool = False) -> bool:
        from capsa.linux import umount

        def last() -> None:
            try:
                umount(str(self._dir(layer_id) / "merged"))
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
                    umount(str(self._dir(layer_id) / "merged"))
                self.counter.set(layer_id, 0)
        if self.home.is_dir():
            for entry in os.scandir(self.home):
                if entry.name.endswith((".partial", ".removing")):
                    rmtree(entry.path, ignore_errors=True)

    # -- diffs: a layer's own changes are its upper dir ---------------------------------------

    def _lower_paths(self, layer_id: str) -> list[Path]:
        return [self._resolve_link(link) for link in self._lowers(layer_id)]

    def _is_direct_parent(self, layer_id: str, parent: str | None) -> bool:
        return (self._dir(layer_id) / "parent").read_text().strip() == (parent or "")

    def changes(self, layer_id: str, parent: str | None) -> list[Change]:
        if not self._is_direct_parent(layer_id, parent):
            return super().changes(layer_id, parent)
        from capsa.store.changes import overlay_changes

        return overlay_changes(self._dir(layer_id) / "diff", self._lower_paths(layer_id))

    def diff(self, layer_id: str, parent: str | None) -> BinaryIO:
        if not self._is_direct_parent(layer_id, parent):
            return super().diff(layer_id, parent)
        from capsa.store.changes import overlay_changes, overlay_opaque_dirs
        from capsa.store.tarwrite import write_layer_tar

        upper = self._dir(layer_id) / "diff"
        return self._spool(lambda out: write_layer_tar(out, upper, overlay_changes(upper, self._lower_paths(layer_id)),
                                                       opaque_dirs=overlay_opaque_dirs(upper)))

    def diff_size(self, layer_id: str, parent: str | None) -> int:
        if not self._is_direct_parent(layer_id, parent):
            return super().diff_size(layer_id, parent)
        from capsa.store.changes import overlay_changes, overlay_opaque_dirs
        from capsa.store.tarwrite import tar_size

        upper = self._dir(layer_id) / "diff"
        return tar_size(upper, overlay_changes(upper, self._lower_paths(layer_id)), opaque_dirs=overlay_opaque_dirs(upper))

    def apply_diff(self, layer_id: str, parent: str | None, stream: BinaryIO) -> int:
        from capsa.store.staging import extract_swapped

        layer = self._dir(layer_id)
        if not (layer / "diff").is_dir():
            raise StorageError(f"layer {layer_id} does not exist", hint="create it first")
        with self.counter.lock.exclusive():
            if self.counter.get(layer_id):
                raise StorageError(f"cannot apply a diff to layer {layer_id} while it is mounted", hint="unmount it first")
            lowers = self._lower_paths(layer_id)
            return extract_swapped(layer / "diff", layer / "diff.staging", layer / "diff.old", stream, "overlay",
                                   finish=lambda upper: drop_idle_whiteouts(upper, lowers))

    def status(self) -> dict[str, Any]:
        out = super().status()
        out["detail"] = f"overlayfs; home {self.home}"
        out["mountopt"] = self.options["mountopt"]
        out["layers"] = len(self.list_layers())
        return out
