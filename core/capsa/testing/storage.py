"""The storage conformance suite: the storage driver contract on real files and real mounts.

Mixed into a test class with ``name`` (and optionally ``options``); see
``tests/test_storage_drivers.py``. Every test uses only the contract of
:class:`capsa.drivers.storage.StorageDriver` (and the driver's ``context``), so a third-party
storage driver runs it unchanged. Layers written through a mount are created ``writable``, as
the contract asks. Owners other than the test's own are used only when running as root, and
``user.*`` xattrs only where the test directory's filesystem supports them. A driver that
declares ``apply_diff`` unimplemented (``refuse_unimplemented``) skips the diff-group tests.

The suite is in three parts, all in :class:`StorageConformance`: layers (here), mounts and
their reference counts, within one process and across processes
(:mod:`capsa.testing.storage_mounts`), and diffs (:mod:`capsa.testing.storage_diffs`).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from capsa.errors import StorageError
from capsa.testing.layertree import layer_tar, mounts_under, tar_dir, tar_file, tar_whiteout, tree_state
from capsa.testing.storage_diffs import StorageDiffConformance
from capsa.testing.storage_mounts import StorageMountConformance

__all__ = ["StorageConformance", "layer_tar", "mounts_under", "tar_file", "tree_state"]  # (the helpers, as before)


class StorageConformance(StorageMountConformance, StorageDiffConformance):
    """The whole suite: layers, mounts (in one process and across processes) and diffs."""

    # create / remove / list ------------------------------------------------------------------

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

    def test_removing_a_layer_that_never_existed_is_fine(self, storage: Any) -> None:
        storage.remove("never-created")
        storage.create("a", None)
        storage.remove("never-created-either")
        assert storage.list_layers() == ["a"] and not storage.exists("never-created")

    def test_list_layers_after_removals(self, storage: Any) -> None:
        storage.create("l0", None)
        for i in range(1, 5):
            storage.create(f"l{i}", f"l{i - 1}")
        storage.create("side", "l1", writable=True)
        Path(storage.mount("side"))
        storage.unmount("side")
        for layer_id in ("side", "l4", "l3"):
            storage.remove(layer_id)
        assert sorted(storage.list_layers()) == ["l0", "l1", "l2"]
        assert not any(storage.exists(i) for i in ("side", "l4", "l3"))
        storage.create("l3", "l2")  # an id is reusable once removed
        assert sorted(storage.list_layers()) == ["l0", "l1", "l2", "l3"]
        for layer_id in ("l3", "l2", "l1", "l0"):
            storage.remove(layer_id)
        assert storage.list_layers() == []

    def test_removing_a_mounted_layer_is_refused_and_leaves_it_intact(self, storage: Any) -> None:
        self._base(storage)
        before = self._state(storage, "base")
        Path(storage.mount("base"))
        try:
            with pytest.raises(StorageError):
                storage.remove("base")
            assert storage.exists("base") and "base" in storage.list_layers()
        finally:
            assert storage.unmount("base") is True
        assert self._state(storage, "base") == before
        storage.remove("base")
        assert not storage.exists("base")

    def test_deep_parent_chain(self, storage: Any) -> None:
        parent = None
        for i in range(30):
            storage.create(f"l{i}", parent, writable=True)
            path = Path(storage.mount(f"l{i}"))
            (path / f"f{i}").write_text(str(i))
            storage.unmount(f"l{i}")
            parent = f"l{i}"
        top = Path(storage.mount("l29"))
        assert sorted(p.name for p in top.iterdir()) == sorted(f"f{i}" for i in range(30))
        storage.unmount("l29")

    def test_deep_parent_chain_of_applied_diffs(self, storage: Any) -> None:
        self._needs_apply_diff(storage)
        parent = None
        for i in range(25):
            storage.create(f"d{i}", parent)
            members = [tar_dir("data"), tar_file(f"data/f{i}", str(i).encode())]
            if i:
                members.append(tar_whiteout(f"data/.wh.f{i - 1}"))  # each layer hides the previous file
            storage.apply_diff(f"d{i}", parent, layer_tar(members))
            parent = f"d{i}"
        top = Path(storage.mount("d24"))
        try:
            assert os.listdir(top / "data") == ["f24"] and (top / "data/f24").read_text() == "24"
        finally:
            storage.unmount("d24")
        mid = Path(storage.mount("d10"))
        try:
            assert os.listdir(mid / "data") == ["f10"]
        finally:
            storage.unmount("d10")

    def test_metadata_is_strings(self, storage: Any) -> None:
        storage.create("m", None)
        meta = storage.metadata("m")
        assert meta and all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())

    # writable container layers ---------------------------------------------------------------

    def test_writable_layer_persists_and_leaves_the_image_layer_alone(self, storage: Any) -> None:
        self._base(storage)
        image_before = self._state(storage, "base")
        storage.create("ctr", "base", writable=True)
        root = Path(storage.mount("ctr"))
        try:
            (root / "etc/new").write_text("new\n")
            (root / "etc/a").write_text("alpha, changed\n")
            (root / "etc/b").unlink()
            (root / "srv/www/index.html").unlink()
            (root / "srv/www").rmdir()
            (root / "var/log").mkdir(parents=True)
            (root / "var/log/app.log").write_bytes(b"x" * 100_000)
            os.chmod(root / "keep", 0o600)
            os.symlink("etc/new", root / "link")
        finally:
            assert storage.unmount("ctr") is True
        root = Path(storage.mount("ctr"))
        try:
            assert (root / "etc/new").read_text() == "new\n"
            assert (root / "etc/a").read_text() == "alpha, changed\n"
            assert sorted(os.listdir(root / "etc")) == ["a", "new"]
            assert os.listdir(root / "srv") == []
            assert (root / "var/log/app.log").read_bytes() == b"x" * 100_000
            assert stat.S_IMODE(os.lstat(root / "keep").st_mode) == 0o600
            assert os.readlink(root / "link") == "etc/new" and (root / "link").read_text() == "new\n"
            assert (root / "opt/sub/z").read_bytes() == b"z"
        finally:
            assert storage.unmount("ctr") is True
        assert self._state(storage, "base") == image_before
        kinds = {c.path: c.kind for c in storage.changes("ctr", "base")}
        expected = {"etc": "modified", "etc/a": "modified", "etc/b": "deleted", "etc/new": "added",
                    "srv": "modified", "srv/www": "deleted", "keep": "modified", "link": "added",
                    "var": "added", "var/log": "added", "var/log/app.log": "added"}
        assert kinds == expected

    # apply_diff --------------------------------------------------------------------------------
