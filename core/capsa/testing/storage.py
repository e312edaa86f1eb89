"""The storage conformance suite: the storage driver contract on real files and real mounts.

Mixed into a test class with ``name`` (and optionally ``options``); see
``tests/test_storage_drivers.py``. Every test uses only the contract of
:class:`capsa.drivers.storage.StorageDriver` (and the driver's ``context``), so a third-party
storage driver runs it unchanged. Layers written through a mount are created ``writable``, as
the contract asks. Owners other than the test's own are used only when running as root, and
``user.*`` xattrs only where the test directory's filesystem supports them. A driver that
declares ``apply_diff`` unimplemented (``refuse_unimplemented``) skips the diff-group tests.
"""
from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path
from typing import Any, ClassVar

import pytest

from capsa.errors import CapsaError, StorageError
from capsa.testing.drivers import make_driver
from capsa.testing.layertree import (MTIME, Member, hardlink_groups, layer_tar, mounts_under, tar_dir, tar_fifo,
                                     tar_file, tar_hardlink, tar_names, tar_symlink, tar_whiteout, tree_state)

__all__ = ["StorageConformance", "layer_tar", "mounts_under", "tar_file", "tree_state"]  # (the helpers, as before)

# --- the suite -------------------------------------------------------------------------------

class StorageConformance:
    kind: ClassVar[str] = "storage"
    name: ClassVar[str] = ""
    options: ClassVar[dict[str, Any]] = {}

    @pytest.fixture
    def storage(self, tmp_path: Path) -> Any:
        driver = make_driver("storage", self.name, tmp_path, dict(self.options))
        yield driver
        driver.cleanup()

    # helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _owner() -> tuple[int, int]:
        """An owner that is not the test's own when running as root."""
        return (1234, 5678) if os.geteuid() == 0 else (os.geteuid(), os.getegid())

    @staticmethod
    def _user_xattrs_work(tmp_path: Path) -> bool:
        probe = tmp_path / ".xattr-probe"
        probe.write_bytes(b"")
        try:
            os.setxattr(probe, "user.capsa-probe", b"1")
            return True
        except OSError:
            return False
        finally:
            probe.unlink()

    @staticmethod
    def _state(storage: Any, layer_id: str) -> dict[str, tuple[Any, ...]]:
        path = Path(storage.mount(layer_id))
        try:
            return tree_state(path)
        finally:
            storage.unmount(layer_id)

    @staticmethod
    def _base_members() -> list[Member]:
        return [
            tar_dir("etc"), tar_file("etc/a", b"alpha\n"), tar_file("etc/b", b"beta\n"),
            tar_dir("opt"), tar_file("opt/x", b"x"), tar_dir("opt/sub"), tar_file("opt/sub/z", b"z"),
            tar_dir("srv"), tar_dir("srv/www"), tar_file("srv/www/index.html", b"<html>"),
            tar_file("keep", b"kept"),
        ]

    @staticmethod
    def _needs_apply_diff(storage: Any) -> None:
        """Skip a test of the diff group for a driver that declares apply_diff unimplemented
        (it refuses it with OperationNotSupported, checked by ``DriverContract``)."""
        if "apply_diff" in storage.unimplemented():
            pytest.skip(f"storage driver {storage.name!r} declares apply_diff unimplemented")

    def _base(self, storage: Any, layer_id: str = "base") -> None:
        """A base layer holding :meth:`_base_members`: applied as a diff, or written through a
        writable mount by a driver without apply_diff."""
        if "apply_diff" not in storage.unimplemented():
            storage.create(layer_id, None)
            storage.apply_diff(layer_id, None, layer_tar(self._base_members()))
            return
        storage.create(layer_id, None, writable=True)
        root = Path(storage.mount(layer_id))
        try:
            for info, data in self._base_members():
                path = root / info.name
                if info.type == tarfile.DIRTYPE:
                    path.mkdir(mode=info.mode)
                else:
                    path.write_bytes(data)
                    path.chmod(info.mode)
                os.utime(path, (info.mtime, info.mtime))
        finally:
            storage.unmount(layer_id)

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

    # mounts ----------------------------------------------------------------------------------

    def test_mount_shows_parent_and_own_files(self, storage: Any) -> None:
        storage.create("base", None, writable=True)
        base = Path(storage.mount("base"))
        (base / "from-base").write_text("base")
        storage.unmount("base")
        storage.create("top", "base", writable=True)
        top = Path(storage.mount("top"))
        assert (top / "from-base").read_text() == "base"
        (top / "from-top").write_text("top")
        assert storage.unmount("top") is True
        again = Path(storage.mount("top"))
        assert sorted(p.name for p in again.iterdir()) == ["from-base", "from-top"]
        storage.unmount("top")

    def test_mount_is_reference_counted(self, storage: Any) -> None:
        storage.create("l", None)
        first = Path(storage.mount("l"))
        assert Path(storage.mount("l")) == first
        assert storage.unmount("l") is False
        assert storage.unmount("l") is True
        assert storage.unmount("l") is False

    def test_forced_unmount_drops_every_reference(self, storage: Any) -> None:
        storage.create("l", None)
        for _ in range(3):
            Path(storage.mount("l"))
        assert storage.unmount("l", force=True) is True
        assert storage.unmount("l") is False
        storage.remove("l")  # no reference is left to keep it
        assert not storage.exists("l")

    def test_nested_mounts_parent_and_child_at_once(self, storage: Any) -> None:
        self._base(storage)
        storage.create("child", "base", writable=True)
        child = Path(storage.mount("child"))
        try:
            (child / "etc/c").write_bytes(b"gamma\n")
            base = Path(storage.mount("base"))
            try:
                assert base != child
                assert (base / "etc/a").read_bytes() == b"alpha\n" and not (base / "etc/c").exists()
                assert (child / "etc/a").read_bytes() == b"alpha\n" and (child / "etc/c").read_bytes() == b"gamma\n"
                again = Path(storage.mount("child"))  # a second reference while the parent is mounted
                assert again == child and storage.unmount("child") is False
                assert sorted(os.listdir(child / "etc")) == ["a", "b", "c"]
            finally:
                assert storage.unmount("base") is True
            assert (child / "etc/b").read_bytes() == b"beta\n"  # still readable with the parent unmounted
        finally:
            assert storage.unmount("child") is True
        assert mounts_under(storage.context.home) == []

    def test_repeated_mount_cycles_leave_nothing_mounted(self, storage: Any) -> None:
        self._base(storage)
        storage.create("child", "base", writable=True)
        for i in range(10):
            path = Path(storage.mount("child"))
            parent = Path(storage.mount("base"))
            assert (path / "etc/a").read_bytes() == b"alpha\n" and (parent / "keep").read_bytes() == b"kept"
            (path / f"cycle{i}").write_text(str(i))
            assert storage.unmount("base") is True
            assert storage.unmount("child") is True
            assert storage.unmount("child") is False
        path = Path(storage.mount("child"))
        try:
            assert sorted(p.name for p in path.iterdir() if p.name.startswith("cycle")) == [f"cycle{i}" for i in range(10)]
        finally:
            storage.unmount("child")
        assert mounts_under(storage.context.home) == []

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

    def test_apply_diff_reads_back_every_kind(self, storage: Any, tmp_path: Path) -> None:
        self._needs_apply_diff(storage)
        uid, gid = self._owner()
        xattrs = {"user.note": "hello"} if self._user_xattrs_work(tmp_path) else {}
        members = [
            tar_dir("bin", mode=0o751, uid=uid, gid=gid, mtime=MTIME + 1),
            tar_file("bin/tool", b"#!/bin/sh\necho hi\n", mode=0o4755, uid=uid, gid=gid, mtime=MTIME + 2, xattrs=xattrs),
            tar_file("bin/plain", b"", mode=0o600, mtime=MTIME + 3),
            tar_hardlink("bin/tool-again", "bin/tool"),
            tar_symlink("bin/sh", "/bin/tool", uid=uid, gid=gid),
            tar_symlink("bin/rel", "tool"),
            tar_symlink("dangling", "nowhere/at/all"),
            tar_dir("tmp", mode=0o1777),
            tar_dir("ro", mode=0o555, mtime=MTIME + 4),
            tar_file("ro/late", b"written after its directory", mode=0o444),
            tar_fifo("run/fifo", mode=0o620, uid=uid, gid=gid),
            tar_dir("deep/a/b/c"),
            tar_file("deep/a/b/c/big", b"\x00\x01" * 70_000),
            tar_hardlink("deep/link-to-big", "deep/a/b/c/big"),
        ]
        storage.create("base", None)
        added = storage.apply_diff("base", None, layer_tar(members))
        assert added == len(b"#!/bin/sh\necho hi\n") + len(b"written after its directory") + 140_000
        root = Path(storage.mount("base"))
        try:
            tool = os.lstat(root / "bin/tool")
            assert (root / "bin/tool").read_bytes() == b"#!/bin/sh\necho hi\n"
            assert stat.S_ISREG(tool.st_mode) and stat.S_IMODE(tool.st_mode) == 0o4755
            assert (tool.st_uid, tool.st_gid) == (uid, gid) and tool.st_mtime_ns == (MTIME + 2) * 10**9
            if xattrs:
                assert os.getxattr(root / "bin/tool", "user.note") == b"hello"
            assert os.lstat(root / "bin/tool-again").st_ino == tool.st_ino and tool.st_nlink == 2
            plain = os.lstat(root / "bin/plain")
            assert stat.S_IMODE(plain.st_mode) == 0o600 and plain.st_size == 0 and plain.st_mtime == MTIME + 3
            sh = os.lstat(root / "bin/sh")
            assert stat.S_ISLNK(sh.st_mode) and os.readlink(root / "bin/sh") == "/bin/tool"
            assert (sh.st_uid, sh.st_gid) == (uid, gid)
            assert os.readlink(root / "bin/rel") == "tool" and (root / "bin/rel").read_bytes() == b"#!/bin/sh\necho hi\n"
            assert os.readlink(root / "dangling") == "nowhere/at/all"
            bin_ = os.lstat(root / "bin")
            assert stat.S_IMODE(bin_.st_mode) == 0o751 and (bin_.st_uid, bin_.st_gid) == (uid, gid)
            assert bin_.st_mtime_ns == (MTIME + 1) * 10**9
            assert stat.S_IMODE(os.lstat(root / "tmp").st_mode) == 0o1777
            ro = os.lstat(root / "ro")
            assert stat.S_IMODE(ro.st_mode) == 0o555 and ro.st_mtime_ns == (MTIME + 4) * 10**9
            assert (root / "ro/late").read_bytes() == b"written after its directory"
            assert stat.S_IMODE(os.lstat(root / "ro/late").st_mode) == 0o444
            fifo = os.lstat(root / "run/fifo")
            assert stat.S_ISFIFO(fifo.st_mode) and stat.S_IMODE(fifo.st_mode) == 0o620
            assert (fifo.st_uid, fifo.st_gid) == (uid, gid)
            big = os.lstat(root / "deep/a/b/c/big")
            assert (root / "deep/a/b/c/big").read_bytes() == b"\x00\x01" * 70_000
            assert os.lstat(root / "deep/link-to-big").st_ino == big.st_ino
            assert hardlink_groups(root) == {frozenset({"bin/tool", "bin/tool-again"}),
                                             frozenset({"deep/a/b/c/big", "deep/link-to-big"})}
            assert not [n for _, ds, fs in os.walk(root) for n in ds + fs if n.startswith(".wh.")]
        finally:
            storage.unmount("base")

    def test_whiteouts_hide_lower_files(self, storage: Any) -> None:
        self._needs_apply_diff(storage)
        self._base(storage)
        base_before = self._state(storage, "base")
        storage.create("child", "base")
        storage.apply_diff("child", "base", layer_tar([
            tar_dir("etc"), tar_whiteout("etc/.wh.a"),
            tar_dir("opt"), tar_whiteout("opt/.wh..wh..opq"), tar_file("opt/y", b"y"),
            tar_whiteout(".wh.srv"),
            tar_whiteout(".wh.not-there"),  # whiting out a path no parent has is harmless
        ]))
        root = Path(storage.mount("child"))
        try:
            assert sorted(os.listdir(root)) == ["etc", "keep", "opt"]
            assert sorted(os.listdir(root / "etc")) == ["b"] and not os.path.lexists(root / "etc/a")
            assert sorted(os.listdir(root / "opt")) == ["y"] and (root / "opt/y").read_bytes() == b"y"
            assert not os.path.lexists(root / "opt/sub/z") and not os.path.lexists(root / "srv")
            assert not [n for _, ds, fs in os.walk(root) for n in ds + fs if n.startswith(".wh.")]
        finally:
            storage.unmount("child")
        assert self._state(storage, "base") == base_before
        storage.create("grandchild", "child")  # a whiteout keeps hiding through later layers ...
        storage.apply_diff("grandchild", "child", layer_tar([tar_dir("srv"), tar_file("srv/new", b"n")]))
        root = Path(storage.mount("grandchild"))
        try:
            assert sorted(os.listdir(root / "srv")) == ["new"]  # ... and a re-created dir starts empty
            assert sorted(os.listdir(root / "etc")) == ["b"] and sorted(os.listdir(root / "opt")) == ["y"]
        finally:
            storage.unmount("grandchild")

    def test_whiteouts_with_nothing_to_hide_leave_no_trace(self, storage: Any) -> None:
        """A whiteout for a path no parent has is a no-op (OCI: whiteouts apply to parent
        layers only), also inside a directory the parents lack: the mounted tree lists only
        entries that exist."""
        self._needs_apply_diff(storage)
        self._base(storage)
        storage.create("child", "base")
        storage.apply_diff("child", "base", layer_tar([
            tar_dir("fresh"), tar_file("fresh/file", b"f"), tar_whiteout("fresh/.wh.ghost"),
            tar_dir("etc"), tar_whiteout("etc/.wh.ghost"),
        ]))
        storage.create("lone", None)
        storage.apply_diff("lone", None, layer_tar([tar_dir("d"), tar_whiteout("d/.wh.ghost"), tar_file("d/real")]))
        for layer_id, directory, expected in (("child", "fresh", ["file"]), ("child", "etc", ["a", "b"]),
                                              ("lone", "d", ["real"])):
            root = Path(storage.mount(layer_id))
            try:
                listed = sorted(os.listdir(root / directory))
                assert listed == expected, f"layer {layer_id}: {directory}/ lists {listed}"
                tree_state(root)  # every listed entry can be looked up
            finally:
                storage.unmount(layer_id)

    def _changed_child(self, storage: Any) -> None:
        self._needs_apply_diff(storage)
        self._base(storage)
        storage.create("child", "base")
        storage.apply_diff("child", "base", layer_tar([
            tar_dir("etc"), tar_whiteout("etc/.wh.a"), tar_file("etc/b", b"beta, longer now\n", mtime=MTIME + 9),
            tar_file("etc/c", b"gamma\n"),
            tar_whiteout(".wh.srv"),
            tar_dir("new"), tar_dir("new/dir"), tar_file("new/dir/f", b"f"),
        ]))

    def test_changes_reports_added_modified_deleted(self, storage: Any) -> None:
        self._changed_child(storage)
        changes = storage.changes("child", "base")
        paths = [c.path for c in changes]
        assert len(paths) == len(set(paths))
        assert {c.path: c.kind for c in changes} == {
            "etc": "modified", "etc/a": "deleted", "etc/b": "modified", "etc/c": "added",
            "new": "added", "new/dir": "added", "new/dir/f": "added", "srv": "deleted",
        }
        base = {c.path: c.kind for c in storage.changes("base", None)}
        assert set(base.values()) == {"added"}
        assert set(base) == {"etc", "etc/a", "etc/b", "opt", "opt/x", "opt/sub", "opt/sub/z",
                             "srv", "srv/www", "srv/www/index.html", "keep"}
        storage.create("empty", "child")
        assert storage.changes("empty", "child") == []

    def test_diff_carries_the_changes_as_an_oci_layer(self, storage: Any) -> None:
        self._changed_child(storage)
        names = tar_names(storage.diff("child", "base"))
        assert sorted(names) == sorted(["etc", "etc/.wh.a", "etc/b", "etc/c", ".wh.srv", "new", "new/dir", "new/dir/f"])
        assert names.index("etc") < names.index("etc/b") and names.index("new/dir") < names.index("new/dir/f")
        storage.create("empty", "child")
        assert tar_names(storage.diff("empty", "child")) == []

    def test_diff_round_trips_onto_a_fresh_layer(self, storage: Any) -> None:
        self._changed_child(storage)
        storage.create("child2", "child")
        storage.apply_diff("child2", "child", layer_tar([
            tar_dir("opt"), tar_whiteout("opt/.wh..wh..opq"), tar_file("opt/y", b"y"),
            tar_symlink("etc/c", "b"), tar_fifo("new/pipe"), tar_file("new/g", b"g"), tar_hardlink("new/again", "new/g"),
        ]))
        for layer_id, parent, copy in (("base", None, "base-copy"), ("child", "base", "child-copy"),
                                       ("child2", "child", "child2-copy")):
            with storage.diff(layer_id, parent) as stream:
                storage.create(copy, parent)
                storage.apply_diff(copy, parent, stream)
            assert self._state(storage, copy) == self._state(storage, layer_id), layer_id
            original, copied = Path(storage.mount(layer_id)), Path(storage.mount(copy))
            try:
                assert hardlink_groups(copied) == hardlink_groups(original)
            finally:
                storage.unmount(copy)
                storage.unmount(layer_id)
        assert {c.path: c.kind for c in storage.changes("child-copy", "base")} == \
            {c.path: c.kind for c in storage.changes("child", "base")}

    def test_diff_size_is_the_length_of_diff(self, storage: Any) -> None:
        self._changed_child(storage)
        storage.create("child2", "child", writable=True)
        root = Path(storage.mount("child2"))
        try:
            (root / "big").write_bytes(os.urandom(123_457))
            (root / "keep").unlink()
        finally:
            storage.unmount("child2")
        storage.create("empty", "child2")
        for layer_id, parent in (("base", None), ("child", "base"), ("child2", "child"), ("empty", "child2")):
            with storage.diff(layer_id, parent) as stream:
                produced = len(stream.read())
            assert storage.diff_size(layer_id, parent) == produced, layer_id
        assert mounts_under(storage.context.home) == []

    def test_a_failed_apply_diff_leaves_the_layer_as_it_was(self, storage: Any, tmp_path: Path) -> None:
        self._needs_apply_diff(storage)
        self._base(storage)
        storage.create("child", "base")
        storage.apply_diff("child", "base", layer_tar([tar_dir("etc"), tar_file("etc/c", b"gamma\n")]))
        for layer_id, parent in (("base", None), ("child", "base")):
            before = self._state(storage, layer_id)
            with pytest.raises(CapsaError) as err:
                storage.apply_diff(layer_id, parent, layer_tar([
                    tar_file("fresh", b"new"), tar_dir("etc"), tar_file("etc/b", b"overwritten"),
                    tar_whiteout("etc/.wh.a"), tar_whiteout(".wh.keep"),
                    tar_file("../escape", b"out"),
                ]))
            assert err.value.message and "\n" not in err.value.message
            assert self._state(storage, layer_id) == before, layer_id
        assert not [p for p in tmp_path.rglob("escape")]
        assert sorted(storage.list_layers()) == ["base", "child"]
        assert mounts_under(storage.context.home) == []
