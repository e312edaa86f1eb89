"""The storage conformance suite over both built-in drivers, on real files and real mounts."""
from __future__ import annotations

from capsa.testing.storage import StorageConformance


class TestOverlayConformance(StorageConformance):
    name = "overlay"


class TestVfsConformance(StorageConformance):
    name = "vfs"
