"""The ``vfs`` storage driver: each layer a full copy of its parent plus its own changes.

Slow and space-hungry, but it needs nothing from the kernel: it works on any filesystem and
inside containers without overlayfs. Diffs are the core's naive ones (tree comparison).
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any, BinaryIO

from capsa.drivers.storage import StorageDriver, check_layer_id
from capsa.errors import StorageError
from capsa.store.mountcount import MountCounter


class VfsDriver(StorageDriver):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.layers_dir = self.context.home / "dir"
        self.counter = MountCounter(self.context.run_home)

    def _dir(self, layer_id: str) -> Path:
        return self.layers_dir / check_layer_id(layer_id)

    def create(self, layer_id: str, parent: str | None, writable: bool = False) -> None:
        target = self._dir(layer_id)
        self.check_new_layer(layer_id, parent, target)
        self.layers_dir.mkdir(parents=True, exist_ok=True)
        partial = self.layers_dir / f".{layer_id}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            if parent is None:  # (a base layer's root is dr-xr-xr-x, as containers/storage's)
                partial.mkdir()
                os.chmod(partial, 0o555)
            else:
                # cp -a keeps what a layer holds: hardlinks, devices, xattrs, owners, times.
                proc = subprocess.run(["cp", "-a", "--reflink=auto", str(self._dir(parent)), str(partial)],
                                      capture_output=True, text=True)
                if proc.returncode != 0:
                    raise StorageError(f"copying layer {parent} failed: {proc.stderr.strip()}", hint="check free space in the store")
            (self.layers_dir / f".{layer_id}.parent").write_text(parent or "")
            os.rename(partial, target)
            self._pristine(layer_id).touch()
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise

    def _parent(self, layer_id: str) -> str | None:
        try:
            return (self.layers_dir / f".{layer_id}.parent").read_text() or None
        except FileNotFoundError:
            return None

    def remove(self, layer_id: str) -> None:
        with self.counter.lock.exclusive():
            if self.counter.get(layer_id):
                raise StorageError(f"layer {layer_id} is in use (mounted)", hint="unmount it first")
            target = self._dir(layer_id)
            doomed = self.layers_dir / f".{layer_id}.removing"
            if target.exists():
                os.rename(target, doomed)
            for leftover in (doomed, self.layers_dir / f".{layer_id}.partial"):  # and what a killed command left
                shutil.rmtree(leftover, ignore_errors=True)
            for marker in (self._pristine(layer_id), self.layers_dir / f".{layer_id}.parent"):
                marker.unlink(missing_ok=True)

    def mount(self, layer_id: str, volatile: bool = False) -> Path:
        path = self._dir(layer_id)
        with self.counter.lock.exclusive():
            if not path.is_dir():
                raise StorageError(f"layer {layer_id} does not exist", hint="create it first")
            self._pristine(layer_id).unlink(missing_ok=True)  # whoever mounts it may write
            self.counter.set(layer_id, self.counter.get(layer_id) + 1)
        return path

    def unmount(self, layer_id: str, force: bool = False) -> bool:
        return self.counter.release(check_layer_id(layer_id), force=force)

    def exists(self, layer_id: str) -> bool:
        return self._dir(layer_id).is_dir()

    def list_layers(self) -> list[str]:
        if not self.layers_dir.is_dir():
            return []
        return [e.name for e in os.scandir(self.layers_dir) if not e.name.startswith(".")]

    def metadata(self, layer_id: str) -> dict[str, str]:
        if not self.exists(layer_id):
            raise StorageError(f"layer {layer_id} does not exist", hint="see 'capsa images'")
        return {"path": str(self._dir(layer_id)), "mounts": str(self.counter.get(layer_id))}

    def cleanup(self) -> None:
        with self.counter.lock.exclusive():
            for layer_id in self.counter.all():
                self.counter.set(layer_id, 0)
        if self.layers_dir.is_dir():
            for entry in os.scandir(self.layers_dir):
                if entry.name.endswith((".partial", ".removing")):
                    shutil.rmtree(entry.path, ignore_errors=True)

    def _pristine(self, layer_id: str) -> Path:
        """Marks a layer that holds exactly its parent's copy: never mounted nor written."""
        return self.layers_dir / f".{layer_id}.pristine"

    def apply_diff(self, layer_id: str, parent: str | None, stream: BinaryIO) -> int:
        from capsa.store.staging import extract_swapped
        from capsa.store.tarextract import extract_layer

        target = self._dir(layer_id)
        if not target.is_dir():
            raise StorageError(f"layer {layer_id} does not exist", hint="create it first")
        with self.counter.lock.exclusive():
            if self.counter.get(layer_id):
                raise StorageError(f"cannot apply a diff to layer {layer_id} while it is mounted", hint="unmount it first")
            mode = stat.S_IMODE(target.stat().st_mode)  # (the root keeps it: a "./" entry does not set it, as podman's)
            if not self._pristine(layer_id).exists():
                return extract_swapped(target, self.layers_dir / f".{layer_id}.partial",
                                       self.layers_dir / f".{layer_id}.removing", stream, "apply",
                                       finish=lambda staged: os.chmod(staged, mode))
            # A fresh layer is only its parent's copy: extract in place, and on failure make
            # the copy again rather than copying the whole tree up front.
            self._pristine(layer_id).unlink()
            try:
                size = extract_layer(stream, target, whiteouts="apply").size
                os.chmod(target, mode)
                return size
            except BaseException:
                shutil.rmtree(target, ignore_errors=True)
                self.create(layer_id, self._parent(layer_id))
                raise

    def status(self) -> dict[str, Any]:
        out = super().status()
        out["detail"] = f"plain directories; home {self.context.home}"
        out["layers"] = len(self.list_layers())
        return out
