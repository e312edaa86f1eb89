"""Layer extraction (capsa.store.tarextract): round trips, compressions and whiteouts, on real
files in tmp_path (hostile archives and errors: test_tar_hostile.py). Runs as root (devices,
ownership, trusted.* xattrs)."""
from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import stat
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from capsa.errors import ArchiveError
from capsa.store.compression import sniff
from capsa.store.tarextract import decompressed, extract_layer
from capsa.store.tarstream import HashingReader
from layer_tars import MTIME, C, D, F, H, L, W, _info, extract, make_tar

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (devices, ownership, trusted.* xattrs)")

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


@pytest.mark.parametrize("compression", ["plain", "gzip", "gzip-multi", "zstd", "zstd-multi", "xz", "bzip2"])
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
    elif compression == "xz":
        packed = lzma.compress(plain)
    elif compression == "bzip2":
        packed = bz2.compress(plain)
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
    assert decompressed(io.BytesIO(lzma.compress(plain))).read() == plain
    assert decompressed(io.BytesIO(bz2.compress(plain))).read() == plain


def test_sniff_knows_every_compression_and_no_tar_name_fools_it() -> None:
    plain = make_tar([F("a")])
    assert [sniff(data[:10]) for data in (gzip.compress(plain), lzma.compress(plain), bz2.compress(plain),
                                          bz2.compress(b""), plain)] == ["gzip", "xz", "bzip2", "bzip2", "none"]
    for name in ("BZh9", "BZh91AY&SX", "\xfd7zXZ"):  # a plain tar whose first member starts like a magic number
        data = make_tar([F(name)])
        assert sniff(data[:10]) == "none" and decompressed(io.BytesIO(data)).read() == data


@pytest.mark.parametrize("compression", ["gzip", "xz", "bzip2"])
def test_corrupt_compressed_layers_are_one_line_archive_errors(dest: Path, compression: str) -> None:
    packed = {"gzip": gzip.compress, "xz": lzma.compress, "bzip2": bz2.compress}[compression](
        make_tar([F("x", os.urandom(50_000))]))
    for bad in (packed[:len(packed) // 2], packed[:200] + bytes(len(packed) - 200)):
        with pytest.raises(ArchiveError) as err:
            extract(bad, dest)
        assert str(err.value).startswith("layer archive is truncated or corrupt: ") and "\n" not in str(err.value)


def test_gzip_members_padding_and_what_follows_them() -> None:
    """gzip as gzip.GzipFile reads it: members one after the other, zero bytes between and
    after them; anything else after a member, a bad CRC or length, or a cut member is corrupt."""
    data = os.urandom(3 << 20)
    one, two = gzip.compress(data), gzip.compress(b"tail")

    def read(packed: bytes) -> bytes:
        return decompressed(io.BytesIO(packed)).read()

    assert read(one) == data and read(one + two) == data + b"tail"
    assert read(one + bytes(5000)) == data and read(one + bytes(3) + two + bytes(2)) == data + b"tail"
    crc_flipped = one[:-8] + bytes([one[-8] ^ 1]) + one[-7:]
    length_flipped = one[:-1] + bytes([one[-1] ^ 1])
    for bad in (one + b"junk", crc_flipped, length_flipped, one[:-4], one + two[:12]):
        with pytest.raises(ArchiveError, match="^layer archive is truncated or corrupt: "):
            read(bad)


def test_hashing_reader_hashes_and_counts_what_passes() -> None:
    data = os.urandom(3 << 20)
    reader = HashingReader(io.BytesIO(data))
    buf = bytearray(1000)
    assert reader.read(10) == data[:10] and reader.readinto(buf) == 1000 and bytes(buf) == data[10:1010]
    reader.drain()
    assert reader.count == len(data) and reader.digest == "sha256:" + hashlib.sha256(data).hexdigest()


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




def test_one_definition_of_whiteouts_magic_numbers_and_the_hashing_reader() -> None:
    from capsa.image import docker_archive, importing
    from capsa.store import safepath, tarextract, tarstream, tarwrite

    assert tarextract.WHITEOUT is tarwrite.WHITEOUT is tarstream.WHITEOUT == ".wh."
    assert tarextract.OPAQUE is tarwrite.OPAQUE is tarstream.OPAQUE == ".wh..wh..opq"
    assert docker_archive.HashingReader is tarstream.HashingReader
    assert not hasattr(importing, "_MAGIC") and not hasattr(safepath, "split_name")
    assert safepath.split_member_path("./a//b/", "member") == ["a", "b"]
