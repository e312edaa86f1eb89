"""The storage conformance suite, diff part: apply_diff, whiteouts, changes, diff and diff_size.

A driver that declares ``apply_diff`` unimplemented skips these tests (see
:meth:`~capsa.testing.storage_base.StorageSuite._needs_apply_diff`).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from capsa.errors import CapsaError
from capsa.testing.layertree import (MTIME, hardlink_groups, layer_tar, mounts_under, tar_dir, tar_fifo, tar_file,
                                     tar_hardlink, tar_names, tar_symlink, tar_whiteout, tree_state)
from capsa.testing.storage_base import StorageSuite


class StorageDiffConformance(StorageSuite):
    """apply_diff, whiteouts, changes, diff, diff_size, and a failed apply_diff."""

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

