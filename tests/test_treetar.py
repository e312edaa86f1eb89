"""The tree tar writer of ``export`` (capsa.store.treetar): the members of the layer tar writer,
read from a tree that changes meanwhile, never following a directory swapped for a symlink."""
from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from capsa.drivers.storage import Change
from capsa.store import treetar
from capsa.store.changes import tree_changes
from capsa.store.tarwrite import write_layer_tar


def make_tree(root: Path) -> None:
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("root:x:0:0\n")
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "sub" / "deep" / "f").write_bytes(b"x" * 5000)
    (root / "sub" / "a-b").write_text("dash\n")
    os.link(root / "etc" / "passwd", root / "sub" / "hard")
    os.symlink("/etc/passwd", root / "link")
    os.mkfifo(root / "fifo")
    os.chmod(root / "sub", 0o750)


def members(data: bytes) -> dict[str, tuple[object, ...]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        out = {}
        for m in tar.getmembers():
            body = tar.extractfile(m).read() if m.isreg() else b""  # type: ignore[union-attr]
            out[m.name] = (m.type, m.mode, m.uid, m.gid, m.mtime, m.linkname, m.size, body)
        return out


def export(root: Path) -> bytes:
    out = io.BytesIO()
    n = treetar.write_tree_tar(out, root)
    assert n == len(out.getvalue()) and n % tarfile.RECORDSIZE == 0
    return out.getvalue()


def test_same_members_as_the_layer_tar_writer(tmp_path: Path) -> None:
    make_tree(tmp_path)
    layer = io.BytesIO()
    write_layer_tar(layer, tmp_path, tree_changes(tmp_path, None))
    data = export(tmp_path)
    assert members(data) == members(layer.getvalue())
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
    assert names.index("sub") < names.index("sub/a-b") < names.index("sub/deep/f")  # depth first
    assert export(tmp_path) == data  # deterministic


def test_a_symlink_to_a_directory_is_a_symlink_member_never_followed(tmp_path: Path) -> None:
    make_tree(tmp_path)
    os.symlink("/", tmp_path / "escape")
    got = members(export(tmp_path))
    assert got["escape"][0] == tarfile.SYMTYPE and got["escape"][5] == "/"
    assert not any(name.startswith("escape/") for name in got)


def test_a_directory_swapped_for_a_symlink_during_the_walk_is_not_followed(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The race: ``sub`` was a directory when stat'ed, a symlink to / when opened."""
    make_tree(tmp_path)
    real_open = treetar._open

    def swapping(name: str, dir_fd: int, flags: int) -> int | None:
        if name == "sub":
            os.rename(tmp_path / "sub", tmp_path / "moved")
            os.symlink("/", tmp_path / "sub")
        return real_open(name, dir_fd, flags)

    monkeypatch.setattr(treetar, "_open", swapping)
    got = members(export(tmp_path))
    assert not any(name == "sub" or name.startswith(("sub/", "moved")) for name in got)
    assert {"etc", "etc/passwd", "link", "fifo"} <= set(got)


def test_vanished_entries_are_skipped_and_a_shrunk_file_is_padded(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path)
    real_names, real_copy = treetar._names, treetar._copy

    def vanishing(fd: int) -> list[str]:
        names = real_names(fd)
        if "deep" in names:  # listing sub: its dir "deep" and file "a-b" go before they are read
            os.unlink(tmp_path / "sub" / "deep" / "f")
            os.rmdir(tmp_path / "sub" / "deep")
            os.unlink(tmp_path / "sub" / "a-b")
        return names

    def shrinking(counter: object, fd: int, size: int) -> None:
        if size == 11:  # etc/passwd, its header written: it shrinks before its data is read
            os.truncate(tmp_path / "etc" / "passwd", 4)
        real_copy(counter, fd, size)  # type: ignore[arg-type]

    monkeypatch.setattr(treetar, "_names", vanishing)
    monkeypatch.setattr(treetar, "_copy", shrinking)
    got = members(export(tmp_path))
    assert "sub" in got and "sub/hard" in got
    assert not any(name.startswith(("sub/deep", "sub/a-b")) for name in got)
    kind, *_, size, body = got["etc/passwd"]
    assert (size, body) == (11, b"root\0\0\0\0\0\0\0")
