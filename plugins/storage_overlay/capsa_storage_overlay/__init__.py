"""The ``overlay`` storage driver: layers stacked with the kernel's overlayfs."""
from __future__ import annotations

from typing import Any

from capsa.drivers.base import Option, refuse_unimplemented
from capsa.drivers.storage import StorageDriver
from capsa.errors import DriverNotSupported
from capsa.hostinfo import filesystem_supported


@refuse_unimplemented("layer operations of the overlay driver land with the image store (issue 3)")
class OverlayDriver(StorageDriver):
    OPTIONS = {
        "mountopt": Option(str, "nodev", "comma-separated options added to every overlay mount"),
        "max_layers": Option(int, 120, "refuse images with more layers than this"),
    }

    def check_host(self) -> None:
        if not filesystem_supported("overlay"):
            raise DriverNotSupported(
                "the kernel does not offer overlayfs",
                hint="load it with 'modprobe overlay', or use --storage-driver vfs",
            )

    def status(self) -> dict[str, Any]:
        out = super().status()
        out["detail"] = f"overlayfs available; home {self.context.home}"
        out["mountopt"] = self.options["mountopt"]
        return out
