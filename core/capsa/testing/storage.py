"""The storage conformance suite: the proto group of the storage contract, on real files.

Mixed into a test class with ``kind = "storage"`` and ``name``. Layers written through a mount
are created ``writable``, as the contract asks.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from capsa.errors import StorageError
from capsa.testing.drivers import make_driver


class StorageConformance:
    kind: ClassVar[str] = "storage"
    name: ClassVar[str] = ""
    options: ClassVar[dict[str, Any]] = {}

    @pytest.fixture
    def storage(self, tmp_path: Path) -> Any:
        driver = make_driver("storage", self.name, tmp_path, dict(self.options))
        yield driver
        driver.cleanup()

    def test_create_exists_list_remove(self, storage: Any) -> None:
        assert not storage.exists("base")
        storage.create("base", None)
        storage.create("child", "base")
        assert storage.exists("base") and storage.exists("child")
        assert sorted(storage.list_layers()) == ["base", "child"]
        storage.remove("child")
        assert not storage.exists("child")
        storage.remove("child")  # removing a missing layer is not an error
        assert storage.list_layers() == ["base"]

    def test_create_existing_or_orphan_fails(self, storage: Any) -> None:
        storage.create("a", None)
        with pytest.raises(StorageError):
            storage.create("a", None)
        with pytest.raises(StorageError):
            storage.create("b", "no-such-parent")
        assert storage.list_layers() == ["a"]

    def test_mount_shows_parent_and_own_files(self, storage: Any) -> None:
        storage.create("base", None, writable=True)
        base = storage.mount("base")
        (base / "from-base").write_text("base")
        storage.unmount("base")
        storage.create("top", "base", writable=True)
        top = storage.mount("top")
        assert (top / "from-base").read_text() == "base"
        (top / "from-top").write_text("top")
        assert storage.unmount("top") is True
        again = storage.mount("top")
        assert sorted(p.name for p in again.iterdir()) == ["from-base", "from-top"]
        storage.unmount("top")

    def test_mount_is_reference_counted(self, storage: Any) -> None:
        storage.create("l", None)
        first = storage.mount("l")
        assert storage.mount("l") == first
        assert storage.unmount("l") is False
        assert storage.unmount("l") is True
        assert storage.unmount("l") is False

    def test_deep_parent_chain(self, storage: Any) -> None:
        parent = None
        for i in range(30):
            storage.create(f"l{i}", parent, writable=True)
            path = storage.mount(f"l{i}")
            (path / f"f{i}").write_text(str(i))
            storage.unmount(f"l{i}")
            parent = f"l{i}"
        top = storage.mount("l29")
        assert sorted(p.name for p in top.iterdir()) == sorted(f"f{i}" for i in range(30))
        storage.unmount("l29")

    def test_metadata_is_strings(self, storage: Any) -> None:
        storage.create("m", None)
        meta = storage.metadata("m")
        assert meta and all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
