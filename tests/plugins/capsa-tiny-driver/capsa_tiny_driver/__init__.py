"""capsa-tiny-driver: a storage driver that keeps each layer as a full copy of its parent."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from capsa.drivers.base import Option, refuse_unimplemented
from capsa.drivers.storage import StorageDriver
from capsa.errors import StorageError
from capsa.store.mountcount import MountCounter


@refuse_unimplemented("the tiny driver keeps no diffs: use vfs or overlay for images")
class TinyDriver(StorageDriver):
    OPTIONS = {"label": Option(str, "tiny", "a label shown by 'capsa info'")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # mounts are counted across processes: `run` mounts a layer, a later `rm` unmounts it
        self._refs = MountCounter(self.context.run_home)

    def _dir(self, layer_id: str) -> Path:
        return self.context.home / "layers" / layer_id

    def create(self, layer_id: str, parent: str | None, writable: bool = False) -> None:
        target = self._dir(layer_id)
        if target.exists():
            raise StorageError(f"layer {layer_id} already exists", hint="pick another id")
        if parent is not None and not self._dir(parent).is_dir():
            raise StorageError(f"parent layer {parent} does not exist", hint="create the parent first")
        partial = target.with_name(f".{layer_id}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        if parent is None:
            partial.mkdir(parents=True)
        else:
            shutil.copytree(self._dir(parent), partial, symlinks=True)
        partial.rename(target)

    def remove(self, layer_id: str) -> None:
        with self._refs.lock.exclusive():
            if self._refs.get(layer_id):
                raise StorageError(f"layer {layer_id} is mounted", hint="unmount it first")
            shutil.rmtree(self._dir(layer_id), ignore_errors=True)

    def mount(self, layer_id: str, volatile: bool = False) -> Path:
        with self._refs.lock.exclusive():
            if not self.exists(layer_id):
                raise StorageError(f"layer {layer_id} does not exist", hint="create it first")
            self._refs.set(layer_id, self._refs.get(layer_id) + 1)
        return self._dir(layer_id)

    def unmount(self, layer_id: str, force: bool = False) -> bool:
        return self._refs.release(layer_id, force=force)

    def exists(self, layer_id: str) -> bool:
        return self._dir(layer_id).is_dir()

    def list_layers(self) -> list[str]:
        top = self.context.home / "layers"
        return [p.name for p in top.iterdir() if not p.name.startswith(".")] if top.is_dir() else []

    def metadata(self, layer_id: str) -> dict[str, str]:
        return {"path": str(self._dir(layer_id)), "mounts": str(self._refs.get(layer_id))}

    def cleanup(self) -> None:
        with self._refs.lock.exclusive():
            for layer_id in self._refs.all():
                self._refs.set(layer_id, 0)

    def status(self) -> dict[str, Any]:
        out = super().status()
        out["detail"] = f"{self.options['label']}: plain directories under {self.context.home}"
        return out
