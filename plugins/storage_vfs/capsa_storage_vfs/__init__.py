"""The ``vfs`` storage driver: each layer a full copy of its parent plus its changes."""
from __future__ import annotations

from typing import Any

from capsa.drivers.base import refuse_unimplemented
from capsa.drivers.storage import StorageDriver


@refuse_unimplemented("layer operations of the vfs driver land with the image store (issue 3)")
class VfsDriver(StorageDriver):
    def status(self) -> dict[str, Any]:
        out = super().status()
        out["detail"] = f"plain directories; home {self.context.home}"
        return out
