"""The table of hostile layer archives: each tries to write outside the layer (``..``, absolute
names, symlinks and hardlinks through and out of it, whiteouts and opaque markers in symlinked
directories, pax and GNU long names, ...) and says what must happen. Used by
test_tar_hostile.py (extraction) and test_storage_hostile.py (each driver's apply_diff)."""
from __future__ import annotations

import gzip
import os
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layer_tars import C, D, Entry, F, H, L, W, make_tar

__all__ = ["HOSTILE", "Hostile", "make_tar"]


@dataclass
class Hostile:
    """An archive built against the absolute ``outside`` path; ``lands`` checks dest when the
    extraction is allowed to succeed (None: ArchiveError is required)."""

    build: Callable[[Path], list[Entry] | bytes]
    lands: Callable[[Path, Path, str], None] | None = None
    fmt: int = tarfile.PAX_FORMAT
    modes: tuple[str, ...] = field(default=("overlay", "apply"))


def _in(dest: Path, outside: Path) -> Path:
    """Where an absolute path to ``outside`` lands: inside dest, like GNU tar."""
    return dest / str(outside).lstrip("/")


def ok(*conditions: bool) -> None:
    assert all(conditions), conditions


def _is_file(path: Path, data: bytes) -> None:
    assert stat.S_ISREG(os.lstat(path).st_mode) and path.read_bytes() == data, path


def _whiteout_in_symlinked_dir(dest: Path, outside: Path, mode: str) -> None:
    assert os.readlink(dest / "evil") == str(outside)
    if mode == "overlay":
        assert stat.S_ISCHR(os.lstat(_in(dest, outside) / "victim").st_mode)
    else:
        assert sorted(os.listdir(dest)) == ["evil"]


def _opaque_in_symlinked_dir(dest: Path, outside: Path, mode: str) -> None:
    if mode == "overlay":
        assert os.getxattr(_in(dest, outside), "trusted.overlay.opaque") == b"y"
    else:
        assert sorted(os.listdir(dest)) == ["evil"]


def _pax_escape(outside: Path) -> list[Entry]:
    info, data = F("harmless", b"evil")
    info.pax_headers = {"path": "../../outside/victim"}
    return [(info, data)]


HOSTILE: dict[str, Hostile] = {
    "dotdot": Hostile(lambda o: [F("../x")]),
    "dotdot-inner": Hostile(lambda o: [F("a/../../x")]),
    "dotdot-to-victim": Hostile(lambda o: [F("../../outside/victim", b"evil")]),
    "dotdot-dir": Hostile(lambda o: [D("a/../.."), F("a/x")]),
    "absolute-name": Hostile(lambda o: [F(f"{o}/victim", b"evil")],
                             lambda d, o, m: _is_file(_in(d, o) / "victim", b"evil")),
    "symlink-absolute-then-file": Hostile(lambda o: [L("evil", str(o)), F("evil/victim", b"evil")],
                                          lambda d, o, m: _is_file(_in(d, o) / "victim", b"evil")),
    "symlink-relative-then-file": Hostile(lambda o: [L("evil", "../../outside"), F("evil/victim", b"evil")],
                                          lambda d, o, m: _is_file(d / "outside/victim", b"evil")),
    "symlink-deep-relative": Hostile(
        lambda o: [D("a/b"), L("a/b/c", "../../../../outside"), F("a/b/c/victim", b"evil")],
        lambda d, o, m: _is_file(d / "outside/victim", b"evil")),
    "symlink-chain": Hostile(lambda o: [L("a", "b"), L("b", "../../outside"), F("a/victim", b"evil")],
                             lambda d, o, m: _is_file(d / "outside/victim", b"evil")),
    "symlink-chain-absolute": Hostile(lambda o: [L("x/a", "../b"), L("b", str(o)), F("x/a/victim", b"evil")],
                                      lambda d, o, m: _is_file(_in(d, o) / "victim", b"evil")),
    "symlink-to-parent": Hostile(lambda o: [L("up", ".."), F("up/up/up/victim", b"evil")],
                                 lambda d, o, m: _is_file(d / "victim", b"evil")),
    "symlink-then-hardlink-through": Hostile(
        lambda o: [F("target", b"t"), L("evil", str(o)), H("evil/victim", "target")],
        lambda d, o, m: ok(_in(d, o).joinpath("victim").read_bytes() == b"t",
                           os.lstat(_in(d, o) / "victim").st_ino == os.lstat(d / "target").st_ino)),
    "hardlink-dotdot": Hostile(lambda o: [H("h", "../../outside/victim")]),
    "hardlink-absolute": Hostile(lambda o: [H("h", f"{o}/victim")]),
    "hardlink-target-via-symlink": Hostile(lambda o: [L("evil", str(o)), H("h", "evil/victim")]),
    "hardlink-to-directory": Hostile(lambda o: [D("d"), H("h", "d")]),
    "hardlink-to-symlink-then-write": Hostile(
        lambda o: [L("s", f"{o}/victim"), H("h", "s"), F("h", b"evil")],
        lambda d, o, m: ok(d.joinpath("h").read_bytes() == b"evil", os.readlink(d / "s") == f"{o}/victim")),
    "dup-dir-symlink-file": Hostile(lambda o: [D("d"), L("d", str(o)), F("d/victim", b"evil")],
                                    lambda d, o, m: _is_file(_in(d, o) / "victim", b"evil")),
    "dup-file-symlink-file": Hostile(lambda o: [F("x", b"1"), L("x", f"{o}/victim"), F("x", b"evil")],
                                     lambda d, o, m: _is_file(d / "x", b"evil")),
    "symlink-final-then-file": Hostile(lambda o: [L("victim", f"{o}/victim"), F("victim", b"evil")],
                                       lambda d, o, m: _is_file(d / "victim", b"evil")),
    "symlink-final-then-dir": Hostile(lambda o: [L("dir", f"{o}/dir"), D("dir", mode=0o700), F("dir/new")],
                                      lambda d, o, m: _is_file(d / "dir/new", b"data")),
    "whiteout-dotdot": Hostile(lambda o: [W("../.wh.victim")]),
    "whiteout-absolute": Hostile(
        lambda o: [W(f"{o}/.wh.victim")],
        lambda d, o, m: ok(m == "apply" or stat.S_ISCHR(os.lstat(_in(d, o) / "victim").st_mode))),
    "whiteout-in-symlinked-dir": Hostile(lambda o: [L("evil", str(o)), W("evil/.wh.victim")],
                                         _whiteout_in_symlinked_dir),
    "whiteout-in-relative-symlinked-dir": Hostile(
        lambda o: [L("evil", "../../outside"), W("evil/.wh.victim"), W("evil/.wh.dir")],
        lambda d, o, m: ok(m == "apply" or stat.S_ISCHR(os.lstat(d / "outside/dir").st_mode))),
    "opaque-in-symlinked-dir": Hostile(lambda o: [L("evil", str(o)), W("evil/.wh..wh..opq")],
                                       _opaque_in_symlinked_dir),
    "whiteout-of-dot": Hostile(lambda o: [W(".wh..")]),
    "whiteout-name-as-directory": Hostile(lambda o: [F(".wh.x/y")]),
    "device-through-symlinked-parent": Hostile(
        lambda o: [L("evil", str(o)), C("evil/null", 1, 3)],
        lambda d, o, m: ok(stat.S_ISCHR(os.lstat(_in(d, o) / "null").st_mode))),
    "pax-path-dotdot": Hostile(_pax_escape),
    "pax-linkpath-dotdot": Hostile(lambda o: [H("h", "x", pax={"linkpath": "../../outside/victim"})]),
    "gnu-longname-dotdot": Hostile(lambda o: [F("a/" * 60 + "../" * 62 + "outside/victim", b"evil")],
                                   fmt=tarfile.GNU_FORMAT),
    "symlink-loop": Hostile(lambda o: [L("a", "b"), L("b", "a"), F("a/victim", b"evil")]),
    "symlink-self-loop": Hostile(lambda o: [L("a", "a/x"), F("a/victim", b"evil")]),
    "parent-is-a-file": Hostile(lambda o: [F("f"), F("f/x")]),
    "parent-is-a-symlink-to-victim": Hostile(lambda o: [L("v", f"{o}/victim"), F("v/x")],
                                             lambda d, o, m: _is_file(_in(d, o) / "victim/x", b"data")),
    "dot-directory-odd-mode": Hostile(lambda o: [D(".", mode=0o710, mtime=1234), F("./a")],
                                      lambda d, o, m: ok(stat.S_IMODE(os.lstat(d).st_mode) == 0o710,
                                                         os.lstat(d).st_mtime_ns == 1234 * 10**9)),
    "slash-directory": Hostile(lambda o: [D("/", mode=0o750)],
                               lambda d, o, m: ok(stat.S_IMODE(os.lstat(d).st_mode) == 0o750)),
    "dot-as-file": Hostile(lambda o: [F(".", b"evil")]),
    "overlay-private-xattr": Hostile(
        lambda o: [D("d", pax={"SCHILY.xattr.trusted.overlay.redirect": f"{o}"})]),
    "empty-stream": Hostile(lambda o: b""),
    "truncated-gzip": Hostile(lambda o: gzip.compress(make_tar([F("x", os.urandom(50_000))]))[:30_000]),
}


def snapshot(root: Path, skip: tuple[Path, ...]) -> dict[str, tuple[Any, ...]]:
    """Everything under ``root`` but ``skip``: type, mode, owner, size, mtime, inode, content, xattrs."""
    seen: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if Path(dirpath, d) not in skip]
        for name in [".", *dirs, *files]:
            path = Path(dirpath, name)
            st = os.lstat(path)
            body = (path.read_bytes() if stat.S_ISREG(st.st_mode)
                    else os.readlink(path) if stat.S_ISLNK(st.st_mode) else None)
            xattrs = sorted(os.listxattr(path, follow_symlinks=False))
            seen[str(path)] = (st.st_mode, st.st_uid, st.st_size, st.st_mtime_ns, st.st_ino, body, xattrs)
    return seen
