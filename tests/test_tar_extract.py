"""Layer extraction (capsa.store.tarextract): round trips, whiteouts and a table of hostile
archives, on real files in tmp_path. Runs as root (devices, ownership, trusted.* xattrs)."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import sys
import tarfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from capsa.errors import ArchiveError
from capsa.store.tarextract import ExtractResult, decompressed, extract_layer

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (devices, ownership, trusted.* xattrs)")

MTIME = 1_600_000_000
Entry = tuple[tarfile.TarInfo, bytes]


def _info(name: str, kind: bytes, mode: int, **kw) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, kw.pop("mtime", MTIME)
    info.pax_headers = kw.pop("pax", {})
    for key, value in kw.items():
        setattr(info, key, value)
    return info


def F(name: str, data: bytes = b"data", mode: int = 0o644, **kw) -> Entry:
    return _info(name, tarfile.REGTYPE, mode, **kw), data


def D(name: str, mode: int = 0o755, **kw) -> Entry:
    return _info(name, tarfile.DIRTYPE, mode, **kw), b""


def L(name: str, target: str, **kw) -> Entry:
    return _info(name, tarfile.SYMTYPE, 0o777, linkname=target, **kw), b""


def H(name: str, target: str, **kw) -> Entry:
    return _info(name, tarfile.LNKTYPE, 0o644, linkname=target, **kw), b""


def C(name: str, major: int, minor: int, mode: int = 0o666, **kw) -> Entry:
    return _info(name, tarfile.CHRTYPE, mode, devmajor=major, devminor=minor, **kw), b""


def W(name: str) -> Entry:
    """A whiteout: an empty regular file named .wh.*"""
    return F(name, b"")


def make_tar(entries: list[Entry], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in entries:
            if info.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def extract(data: bytes, dest: Path, whiteouts: str = "overlay", **kw) -> ExtractResult:
    return extract_layer(io.BytesIO(data), dest, whiteouts=whiteouts, **kw)  # type: ignore[arg-type]


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    path = tmp_path / "layer"
    path.mkdir()
    return path


# --- round trips -----------------------------------------------------------------------------

def test_every_kind_round_trips(dest: Path) -> None:
    ns = "1600000000.123456789"
    archive = make_tar([
        D("bin", mode=0o751, uid=1234, gid=1234, pax={"mtime": ns, "SCHILY.xattr.user.dir": "d"}),
        F("bin/su", b"#!/bin/sh\n", mode=0o4755, uid=1234, gid=1234,
          pax={"mtime": ns, "SCHILY.xattr.user.note": "hello", "SCHILY.xattr.trusted.t": "root-only"}),
        F("bin/sg", b"x", mode=0o2711),
        D("tmp", mode=0o1777),
        L("bin/sh", "/bin/su", uid=1234, gid=1234, pax={"mtime": ns, "SCHILY.xattr.trusted.l": "on-link"}),
        H("bin/su-again", "bin/su"),
        C("dev/null", 1, 3, mode=0o666, uid=1234, gid=1234, pax={"mtime": ns}),
        (_info("dev/loop0", tarfile.BLKTYPE, 0o660, devmajor=7, devminor=0), b""),
        (_info("run/fifo", tarfile.FIFOTYPE, 0o620), b""),
        D("ro", mode=0o555, pax={"mtime": ns}),
        F("ro/late", b"written after the directory entry"),
    ])
    result = extract(archive, dest, whiteouts="apply")
    assert result.entries == 11
    assert result.size == len(b"#!/bin/sh\n") + 1 + len(b"written after the directory entry")
    su = os.lstat(dest / "bin/su")
    assert stat.S_IMODE(su.st_mode) == 0o4755 and (su.st_uid, su.st_gid) == (1234, 1234)
    assert su.st_mtime_ns == 1_600_000_000_123_456_789
    assert (dest / "bin/su").read_bytes() == b"#!/bin/sh\n"
    assert os.getxattr(dest / "bin/su", "user.note") == b"hello"
    assert os.getxattr(dest / "bin/su", "trusted.t") == b"root-only"
    assert stat.S_IMODE(os.lstat(dest / "bin/sg").st_mode) == 0o2711
    assert stat.S_IMODE(os.lstat(dest / "tmp").st_mode) == 0o1777
    sh = os.lstat(dest / "bin/sh")
    assert stat.S_ISLNK(sh.st_mode) and os.readlink(dest / "bin/sh") == "/bin/su"
    assert (sh.st_uid, sh.st_mtime_ns) == (1234, 1_600_000_000_123_456_789)
    assert os.getxattr(dest / "bin/sh", "trusted.l", follow_symlinks=False) == b"on-link"
    assert os.lstat(dest / "bin/su-again").st_ino == su.st_ino and su.st_nlink == 2
    null = os.lstat(dest / "dev/null")
    assert stat.S_ISCHR(null.st_mode) and (os.major(null.st_rdev), os.minor(null.st_rdev)) == (1, 3)
    assert stat.S_IMODE(null.st_mode) == 0o666 and null.st_uid == 1234
    assert null.st_mtime_ns == 1_600_000_000_123_456_789
    loop = os.lstat(dest / "dev/loop0")
    assert stat.S_ISBLK(loop.st_mode) and os.major(loop.st_rdev) == 7 and stat.S_IMODE(loop.st_mode) == 0o660
    assert stat.S_ISFIFO(os.lstat(dest / "run/fifo").st_mode)
    bin_ = os.lstat(dest / "bin")
    assert stat.S_IMODE(bin_.st_mode) == 0o751 and bin_.st_uid == 1234
    assert bin_.st_mtime_ns == 1_600_000_000_123_456_789
    assert os.getxattr(dest / "bin", "user.dir") == b"d"
    ro = os.lstat(dest / "ro")  # mode and mtime applied after the file inside was written
    assert stat.S_IMODE(ro.st_mode) == 0o555 and ro.st_mtime_ns == 1_600_000_000_123_456_789
    assert (dest / "ro/late").read_bytes() == b"written after the directory entry"
    assert os.lstat(dest / "dev").st_mode & 0o777 == 0o755  # implicit parents


def test_times_keep_pax_precision_and_default_to_the_header(dest: Path) -> None:
    extract(make_tar([F("plain"), F("half", pax={"mtime": "1600000000.5"}),
                      F("before-1970", pax={"mtime": "-86400.25"}),
                      F("atime", pax={"mtime": "1600000000", "atime": "1500000000.000000001"})]), dest)
    assert os.lstat(dest / "plain").st_mtime_ns == MTIME * 10**9
    assert os.lstat(dest / "plain").st_atime_ns == MTIME * 10**9
    assert os.lstat(dest / "half").st_mtime_ns == 1_600_000_000_500_000_000
    assert os.lstat(dest / "before-1970").st_mtime_ns == -86_400_250_000_000
    assert os.lstat(dest / "atime").st_atime_ns == 1_500_000_000_000_000_001


def test_xattrs_the_kernel_never_allows_are_skipped(dest: Path) -> None:
    """user.* cannot exist on symlinks or devices: skipped, not an error (see the module doc)."""
    extract(make_tar([L("l", "t", pax={"SCHILY.xattr.user.x": "1"}),
                      C("c", 1, 3, pax={"SCHILY.xattr.user.x": "1"})]), dest)
    assert os.listxattr(dest / "l", follow_symlinks=False) == []


def test_same_owner_false_keeps_the_extractors_ids(dest: Path) -> None:
    extract(make_tar([F("f", uid=1234, gid=1234), D("d", uid=1234)]), dest, same_owner=False)
    assert os.lstat(dest / "f").st_uid == os.geteuid() and os.lstat(dest / "d").st_uid == os.geteuid()


def test_libarchive_xattrs_are_decoded(dest: Path) -> None:
    extract(make_tar([F("f", pax={"LIBARCHIVE.xattr.user.b64": "AAEC"})]), dest)
    assert os.getxattr(dest / "f", "user.b64") == b"\x00\x01\x02"


class _PipeStream:
    """A real pipe with a writer thread: a stream that can neither seek nor peek."""

    def __init__(self, data: bytes) -> None:
        read_fd, write_fd = os.pipe()
        self.file = open(read_fd, "rb", buffering=0)

        def feed() -> None:
            with open(write_fd, "wb") as out:
                out.write(data)
        self.thread = threading.Thread(target=feed)
        self.thread.start()


@pytest.mark.parametrize("compression", ["plain", "gzip", "gzip-multi", "zstd", "zstd-multi"])
@pytest.mark.parametrize("source", ["bytesio", "file", "pipe"])
def test_compressions_and_diff_id(tmp_path: Path, compression: str, source: str) -> None:
    plain = make_tar([D("etc"), F("etc/os-release", b"ID=capsa\n" * 1000), F("big", os.urandom(3 << 20)),
                      L("etc/link", "os-release")]) + b"\0" * 5000  # padding after the end blocks
    if compression.startswith("zstd"):
        zstandard = pytest.importorskip("zstandard")
        packed = zstandard.ZstdCompressor().compress(plain)
        if compression == "zstd-multi":
            packed = b"".join(zstandard.ZstdCompressor().compress(plain[i:i + 100_000])
                              for i in range(0, len(plain), 100_000))
    elif compression.startswith("gzip"):
        packed = gzip.compress(plain)
        if compression == "gzip-multi":
            packed = gzip.compress(plain[:7000]) + gzip.compress(plain[7000:])
    else:
        packed = plain
    dest = tmp_path / "layer"
    dest.mkdir()
    if source == "pipe":
        pipe = _PipeStream(packed)
        with pipe.file:
            result = extract_layer(pipe.file, dest, whiteouts="overlay")
        pipe.thread.join()
    elif source == "file":
        (tmp_path / "blob").write_bytes(packed)
        with open(tmp_path / "blob", "rb") as fh:
            result = extract_layer(fh, dest, whiteouts="overlay")
            assert fh.read() == b""  # read to the very end
    else:
        result = extract(packed, dest)
    assert result.diff_id == "sha256:" + hashlib.sha256(plain).hexdigest()
    assert result.size == 9000 + (3 << 20) and result.entries == 4
    assert (dest / "etc/os-release").read_bytes() == b"ID=capsa\n" * 1000
    assert os.readlink(dest / "etc/link") == "os-release"


def test_decompressed_keeps_the_sniffed_bytes() -> None:
    plain = make_tar([F("a", b"x" * 10)])
    assert decompressed(io.BytesIO(plain)).read() == plain
    assert decompressed(io.BytesIO(gzip.compress(plain))).read() == plain
    assert decompressed(io.BytesIO(b"ab")).read() == b"ab"


def test_zstd_without_the_module_is_a_clear_error(dest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zstandard", None)  # what an absent package looks like
    with pytest.raises(ArchiveError) as err:
        extract(b"\x28\xb5\x2f\xfd" + b"\0" * 100, dest)
    assert "zstandard" in str(err.value) and "pip install zstandard" in err.value.hint


def test_duplicates_replace_and_the_fd_cache_follows(dest: Path) -> None:
    extract(make_tar([
        F("a", b"file"), D("a"), F("a/x", b"in a"),                 # file -> dir
        D("b"), F("b/y"), F("b", b"now a file"),                     # dir tree -> file
        L("c", "target"), F("c", b"not through the link"),           # symlink -> file
        F("e", b"old"), L("e", "elsewhere"),                         # file -> symlink
        D("k"), F("k/1"), F("k", b"file"), D("k"), F("k/2"),         # dir -> file -> dir again
        D("m"), F("m/x"), L("m", "n"), D("n"), F("m/y", b"via m"),   # dir -> symlink; cached fd dropped
        F("s", b"self"), H("s", "s"),                                # hardlink to itself: no-op
        F("f", b"1"), F("f", b"2"),                                  # file -> file
    ]), dest)
    assert (dest / "a/x").read_bytes() == b"in a"
    assert (dest / "b").read_bytes() == b"now a file"
    assert (dest / "c").read_bytes() == b"not through the link" and not (dest / "target").exists()
    assert os.readlink(dest / "e") == "elsewhere"
    assert sorted(os.listdir(dest / "k")) == ["2"]
    assert os.readlink(dest / "m") == "n" and (dest / "n/y").read_bytes() == b"via m"
    assert (dest / "s").read_bytes() == b"self" and (dest / "f").read_bytes() == b"2"


def test_many_directories_beyond_the_fd_cache(dest: Path) -> None:
    entries = [F(f"d{i:03d}/sub/f", str(i).encode()) for i in range(400)]
    entries += [F(f"d{i:03d}/sub/g", b"again") for i in range(0, 400, 7)]
    extract(make_tar(entries), dest)
    assert all((dest / f"d{i:03d}/sub/f").read_bytes() == str(i).encode() for i in range(400))
    assert (dest / "d399/sub/g").read_bytes() == b"again"


# --- whiteouts -------------------------------------------------------------------------------

def _walk_names(root: Path) -> list[str]:
    return [name for _, dirs, files in os.walk(root) for name in dirs + files]


def test_overlay_whiteouts(dest: Path) -> None:
    (dest / "gone2").write_bytes(b"was here before")
    extract(make_tar([
        W(".wh.gone"), W(".wh.gone2"), W("deep/dir/.wh.x"),
        F("same", b"kept"), W(".wh.same"),                # a whiteout never hides its own layer
        D("d"), F("d/new"), W("d/.wh..wh..opq"),
        W("fresh/.wh..wh..opq"),                          # the opaque dir is created
        W(".wh..wh.plnk"), F(".wh..wh.plnk/123.456", b"aufs"),  # aufs metadata: skipped
    ]), dest, whiteouts="overlay")
    for name in ("gone", "gone2", "deep/dir/x"):
        st = os.lstat(dest / name)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, name
    assert (dest / "same").read_bytes() == b"kept"
    assert os.getxattr(dest / "d", "trusted.overlay.opaque") == b"y" and (dest / "d/new").exists()
    assert os.getxattr(dest / "fresh", "trusted.overlay.opaque") == b"y"
    assert not [n for n in _walk_names(dest) if n.startswith(".wh.")]


def test_apply_whiteouts_and_opaque_directories(dest: Path) -> None:
    for path in ("gone.txt", "gonedir/a/b", "keep.txt", "d/old1", "d/sub/old2", "d/keep_dir/old3", "other/x"):
        (dest / path).parent.mkdir(parents=True, exist_ok=True)
        (dest / path).write_bytes(b"parent layer")
    os.symlink("/", dest / "d/rootlink")
    extract(make_tar([
        W(".wh.gone.txt"), W(".wh.gonedir"), W(".wh.missing"), W("nodir/.wh.x"),
        F("same", b"mine"), W(".wh.same"),
        D("d"), F("d/new_before"), D("d/keep_dir"), F("d/keep_dir/new"),
        W("d/.wh..wh..opq"),
        F("d/new_after"),
    ]), dest, whiteouts="apply")
    assert sorted(os.listdir(dest)) == ["d", "keep.txt", "other", "same"]
    assert sorted(os.listdir(dest / "d")) == ["keep_dir", "new_after", "new_before"]
    assert os.listdir(dest / "d/keep_dir") == ["new"]
    assert (dest / "same").read_bytes() == b"mine" and (dest / "other/x").exists()
    assert not [n for n in _walk_names(dest) if n.startswith(".wh.")]


# --- hostile archives ------------------------------------------------------------------------

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


def _snapshot(root: Path, skip: Path) -> dict[str, tuple]:
    """Everything under ``root`` but ``skip``: type, mode, owner, size, mtime, content, xattrs."""
    seen: dict[str, tuple] = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if Path(dirpath, d) != skip]
        for name in [".", *dirs, *files]:
            path = Path(dirpath, name)
            st = os.lstat(path)
            body = (path.read_bytes() if stat.S_ISREG(st.st_mode)
                    else os.readlink(path) if stat.S_ISLNK(st.st_mode) else None)
            xattrs = sorted(os.listxattr(path, follow_symlinks=False))
            seen[str(path)] = (st.st_mode, st.st_uid, st.st_size, st.st_mtime_ns, st.st_ino, body, xattrs)
    return seen


def test_the_hostile_table_is_big_enough() -> None:
    assert len(HOSTILE) >= 20


@pytest.mark.parametrize("mode", ["overlay", "apply"])
@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_archive_stays_inside(tmp_path: Path, case: str, mode: str) -> None:
    spec = HOSTILE[case]
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "dir/inner").write_bytes(b"inner")
    victim = outside / "victim"
    victim.write_bytes(b"precious")
    os.utime(victim, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    dest = tmp_path / "store" / "layer"
    dest.mkdir(parents=True)
    built = spec.build(outside)
    data = built if isinstance(built, bytes) else make_tar(built, spec.fmt)
    before = _snapshot(tmp_path, dest)
    listing = sorted(os.listdir(outside))
    try:
        extract(data, dest, whiteouts=mode)
    except ArchiveError as err:
        assert spec.lands is None, f"{case}: unexpected {err}"
        assert "\n" not in str(err) and err.exit_code == 125
    else:
        assert spec.lands is not None, f"{case}: extraction should have been refused"
        spec.lands(dest, outside, mode)
    assert victim.read_bytes() == b"precious"
    assert os.lstat(victim).st_mtime_ns == 1_000_000_000_000_000_000
    assert sorted(os.listdir(outside)) == listing
    assert _snapshot(tmp_path, dest) == before


# --- errors ----------------------------------------------------------------------------------

def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1:]


TWO = make_tar([F("a", b"x" * 600), F("b", b"y")], tarfile.USTAR_FORMAT)
BAD: dict[str, bytes] = {
    "empty": b"",
    "garbage": b"this is not a tar archive " * 100,
    "truncated-in-data": TWO[:700],
    "truncated-in-header": TWO[:1536 + 100],
    "corrupt-second-header": _flip(TWO, 1536 + 148),
    "truncated-gzip": gzip.compress(TWO)[:-20],
    "corrupt-gzip": _flip(gzip.compress(TWO + os.urandom(4000)), 200),
    "sparse": make_tar([(_info("s", tarfile.GNUTYPE_SPARSE, 0o644), b"")], tarfile.GNU_FORMAT),
    "unknown-type": make_tar([(_info("v", b"Q", 0o644), b"")]),
    "hardlink-missing": make_tar([H("h", "nowhere")]),
    "empty-symlink": make_tar([L("s", "")]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_archives_are_one_line_archive_errors(tmp_path: Path, case: str) -> None:
    dest = tmp_path / "layer"
    dest.mkdir()
    with pytest.raises(ArchiveError) as err:
        extract(BAD[case], dest)
    message = str(err.value)
    assert err.value.exit_code == 125 and message and "\n" not in message
    if case in ("empty", "truncated-in-data", "truncated-in-header", "corrupt-second-header", "truncated-gzip"):
        assert message.startswith("layer archive is truncated or corrupt: ")


def test_missing_dest_is_a_storage_error(tmp_path: Path) -> None:
    from capsa.errors import StorageError
    with pytest.raises(StorageError):
        extract(make_tar([F("a")]), tmp_path / "nope")


def test_no_fd_or_thread_leaks(tmp_path: Path) -> None:
    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))
    archives = [make_tar([D(f"d{i}/e") for i in range(300)] + [F(f"d{i}/e/f") for i in range(300)]),
                *BAD.values()]
    for spec in HOSTILE.values():
        built = spec.build(tmp_path / "outside")
        archives.append(built if isinstance(built, bytes) else make_tar(built, spec.fmt))
    extract(archives[0], tmp_path)  # warm up whatever the interpreter opens once
    start, threads = fds(), threading.active_count()
    for i, data in enumerate(archives * 2):
        dest = tmp_path / f"run{i}"
        dest.mkdir()
        try:
            extract(data, dest, whiteouts="overlay" if i % 2 else "apply")
        except ArchiveError:
            pass
    assert fds() == start
    assert threading.active_count() == threads
