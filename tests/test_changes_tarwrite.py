"""Layer diffs (naive two-tree and overlay upper dir) and the OCI layer tars written from them.

Real trees in tmp_path: devices, owners, xattrs (``user.*`` and ``trusted.*``), hardlinks,
symlinks, setuid bits and fixed mtimes. Needs root (mknod, chown, trusted xattrs).
"""
from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from capsa.drivers.storage import Change
from capsa.errors import StorageError
from capsa.store.changes import overlay_changes, overlay_opaque_dirs, tree_changes
from capsa.store.tarwrite import tar_size, write_layer_tar

T0 = 1_600_000_000_123_456_789  # a fixed mtime (ns)
T1 = 1_700_000_000_987_654_321

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mknod, chown, trusted xattrs)")


@pytest.fixture(autouse=True)
def _xattrs(tmp_path: Path) -> None:
    probe = tmp_path / ".probe"
    probe.touch()
    try:
        os.setxattr(probe, "trusted.probe", b"1")
        os.setxattr(probe, "user.probe", b"1")
    except OSError as exc:
        pytest.skip(f"tmp filesystem lacks user/trusted xattrs: {exc}")
    finally:
        probe.unlink()


def utime(path: Path, ns: int = T0) -> None:
    os.utime(path, ns=(ns, ns), follow_symlinks=False)


def whiteout(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))


def build_base(root: Path) -> Path:
    """A small tree with every kind of entry; every mtime is T0 (directories last)."""
    root.mkdir()
    (root / "etc").mkdir()
    (root / "etc/passwd").write_text("root:x:0:0\n")
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n")
    os.setxattr(root / "etc/hosts", "user.note", b"hosts")
    (root / "bin").mkdir()
    (root / "bin/tool").write_bytes(b"\x7fELF" + bytes(100))
    os.chmod(root / "bin/tool", 0o4755)
    os.symlink("tool", root / "bin/link")
    (root / "dev").mkdir()
    os.mknod(root / "dev/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    (root / "var/lib/app").mkdir(parents=True)
    (root / "var/lib/app/data").write_text("data")
    (root / "var/lib/app/more").write_text("more")
    (root / "home").mkdir()
    (root / "home/user file ü").write_text("unicode")
    os.chown(root / "home/user file ü", 1000, 1000)
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            utime(Path(dirpath) / name)
    utime(root)
    return root


def clone(src: Path, dst: Path) -> Path:
    """A metadata-exact copy (mode, owner, mtime, xattrs, devices), as a vfs layer starts."""
    subprocess.run(["cp", "-a", "--preserve=all", str(src), str(dst)], check=True)
    return dst


def as_dict(changes: list[Change]) -> dict[str, str]:
    return {c.path: c.kind for c in changes}


def read_tar(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers()


def archive(root: Path, changes: list[Change], opaque: set[str] = frozenset()) -> bytes:  # type: ignore[assignment]
    buf = io.BytesIO()
    n = write_layer_tar(buf, root, changes, opaque_dirs=opaque)
    data = buf.getvalue()
    assert n == len(data) == tar_size(root, changes, opaque)
    assert len(data) % tarfile.RECORDSIZE == 0
    return data


# --- tree_changes ---------------------------------------------------------------------------


def test_no_parent_means_everything_added(tmp_path: Path) -> None:
    base = build_base(tmp_path / "base")
    changes = tree_changes(base, None)
    assert [c.path for c in changes] == sorted(c.path for c in changes)
    assert set(as_dict(changes).values()) == {"added"}
    expected = {"etc", "etc/passwd", "bin/link", "dev/null", "var/lib/app/data", "home/user file ü"}
    assert expected <= set(as_dict(changes))
    assert "" not in as_dict(changes) and not any(c.path.startswith("/") for c in changes)


def test_identical_copy_has_no_changes(tmp_path: Path) -> None:
    base = build_base(tmp_path / "base")
    assert tree_changes(clone(base, tmp_path / "layer"), base) == []


def _chmod(p: Path) -> None: os.chmod(p, 0o600)
def _setuid(p: Path) -> None: os.chmod(p, 0o4644)
def _chown_uid(p: Path) -> None: os.chown(p, 4242, 0)
def _chown_gid(p: Path) -> None: os.chown(p, 0, 4242)
def _mtime(p: Path) -> None: utime(p, T1)


def _size(p: Path) -> None:
    p.write_text("root:x:0:0\nextra\n")
    utime(p)  # same mtime, different size


def _to_symlink(p: Path) -> None:
    p.unlink()
    os.symlink("elsewhere", p)
    utime(p)


def _to_dir(p: Path) -> None:
    p.unlink()
    p.mkdir()
    utime(p)


def _xattr_value(p: Path) -> None: os.setxattr(p, "user.note", b"other")
def _xattr_added(p: Path) -> None: os.setxattr(p, "trusted.label", b"x")


@pytest.mark.parametrize("mutate", [_chmod, _setuid, _chown_uid, _chown_gid, _mtime, _size, _to_symlink,
                                    _to_dir, _xattr_value, _xattr_added])
def test_each_metadata_difference_is_a_modification(tmp_path: Path, mutate: Callable[[Path], None]) -> None:
    base = build_base(tmp_path / "base")
    layer = clone(base, tmp_path / "layer")
    os.setxattr(base / "etc/passwd", "user.note", b"same")
    os.setxattr(layer / "etc/passwd", "user.note", b"same")
    mutate(layer / "etc/passwd")
    utime(layer / "etc")  # the parent's mtime is restored: it is reported anyway (ancestor rule)
    assert as_dict(tree_changes(layer, base)) == {"etc": "modified", "etc/passwd": "modified"}


def test_symlink_target_rdev_and_device_type(tmp_path: Path) -> None:
    base = build_base(tmp_path / "base")
    layer = clone(base, tmp_path / "layer")
    (layer / "bin/link").unlink()
    os.symlink("toox", layer / "bin/link")  # same length as "tool": same size, same mtime
    utime(layer / "bin/link")
    (layer / "dev/null").unlink()
    os.mknod(layer / "dev/null", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    utime(layer / "dev/null")
    for d in ("bin", "dev"):
        utime(layer / d)
    assert as_dict(tree_changes(layer, base)) == {"bin": "modified", "bin/link": "modified",
                                                  "dev": "modified", "dev/null": "modified"}


def test_same_size_and_mtime_means_unchanged(tmp_path: Path) -> None:
    base = build_base(tmp_path / "base")
    layer = clone(base, tmp_path / "layer")
    (layer / "etc/passwd").write_text("ROOT:x:0:0\n")
    utime(layer / "etc/passwd")
    assert tree_changes(layer, base) == []


def test_directory_mtime_alone_is_not_a_change_but_its_mode_is(tmp_path: Path) -> None:
    base = build_base(tmp_path / "base")
    layer = clone(base, tmp_path / "layer")
    utime(layer / "etc", T1)
    (layer / "tmpfile").touch()
    (layer / "tmpfile").unlink()
    assert tree_changes(layer, base) == []
    os.chmod(layer / "var", 0o1777)
    assert tree_changes(layer, base) == [Change("var", "modified")]


def test_overlay_and_selinux_xattrs_are_ignored(tmp_path: Path) -> None:
    base = build_base(tmp_path / "base")
    layer = clone(base, tmp_path / "layer")
    os.setxattr(layer / "etc/hosts", "trusted.overlay.origin", b"\x00\x01")
    os.setxattr(layer / "etc/hosts", "user.overlay.impure", b"y")
    assert tree_changes(layer, base) == []


def test_deleted_directory_reported_once_and_ancestors_modified(tmp_path: Path) -> None:
    base = build_base(tmp_path / "base")
    layer = clone(base, tmp_path / "layer")
    shutil.rmtree(layer / "var/lib/app")
    (layer / "bin/new tool ✓").write_text("x")
    assert tree_changes(layer, base) == [
        Change("bin", "modified"), Change("bin/new tool ✓", "added"),
        Change("var", "modified"), Change("var/lib", "modified"), Change("var/lib/app", "deleted"),
    ]


def test_type_swaps_between_file_and_directory(tmp_path: Path) -> None:
    base = build_base(tmp_path / "base")
    layer = clone(base, tmp_path / "layer")
    shutil.rmtree(layer / "var/lib/app")
    (layer / "var/lib/app").write_text("now a file")
    (layer / "etc/passwd").unlink()
    (layer / "etc/passwd/x").mkdir(parents=True)
    assert as_dict(tree_changes(layer, base)) == {
        "var": "modified", "var/lib": "modified", "var/lib/app": "modified",
        "etc": "modified", "etc/passwd": "modified", "etc/passwd/x": "added",
    }


def test_symlinks_are_never_followed(tmp_path: Path) -> None:
    base = build_base(tmp_path / "base")
    layer = clone(base, tmp_path / "layer")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s")
    os.symlink(outside, layer / "escape")
    assert as_dict(tree_changes(layer, base)) == {"escape": "added"}
    base2 = clone(layer, tmp_path / "base2")
    (outside / "secret").write_text("changed!")  # behind a symlink in both trees: invisible
    assert tree_changes(layer, base2) == []


# --- overlay_changes ------------------------------------------------------------------------


def build_overlay(tmp_path: Path) -> tuple[Path, list[Path]]:
    """Two lowers (top-most first) and an upper dir, laid out as overlayfs leaves them."""
    bottom, top, upper = tmp_path / "l0", tmp_path / "l1", tmp_path / "upper"
    for d in ("etc", "opt/old", "srv", "gone dir/sub"):
        (bottom / d).mkdir(parents=True)
    for f in ("etc/passwd", "etc/shadow", "opt/old/a", "srv/x", "gone dir/sub/f", "wiped"):
        (bottom / f).write_text(f)
    top.mkdir()
    whiteout(top / "wiped")  # deleted by the top lower: absent from the merged view
    (top / "opt").mkdir()
    os.setxattr(top / "opt", "trusted.overlay.opaque", b"y")  # hides l0's opt/old
    (top / "opt/kept").write_text("kept")
    upper.mkdir()
    (upper / "etc").mkdir()
    (upper / "etc/passwd").write_text("changed")
    whiteout(upper / "etc/shadow")
    whiteout(upper / "gone dir")
    (upper / "wiped").write_text("recreated")
    (upper / "opt/old").mkdir(parents=True)
    (upper / "opt/kept").write_text("kept2")
    (upper / "srv").mkdir()
    os.setxattr(upper / "srv", "user.overlay.opaque", b"y")  # rm -rf srv; mkdir srv
    (upper / "srv/new").write_text("n")
    (upper / "usr").mkdir()
    os.setxattr(upper / "usr", "trusted.overlay.opaque", b"x")  # "has xwhiteouts", not opaque
    return upper, [top, bottom]


def test_overlay_changes(tmp_path: Path) -> None:
    upper, lowers = build_overlay(tmp_path)
    assert overlay_changes(upper, lowers) == [
        Change("etc", "modified"), Change("etc/passwd", "modified"), Change("etc/shadow", "deleted"),
        Change("gone dir", "deleted"), Change("opt", "modified"), Change("opt/kept", "modified"),
        Change("opt/old", "added"),  # hidden by the opaque opt of the top lower
        Change("srv", "modified"), Change("srv/new", "added"), Change("usr", "added"),
        Change("wiped", "added"),  # whited out by the top lower
    ]
    assert overlay_opaque_dirs(upper) == {"srv"}
    assert set(as_dict(overlay_changes(upper, [])).values()) == {"added", "deleted"}


def test_overlay_lower_non_directory_hides_deeper_layers(tmp_path: Path) -> None:
    bottom, top, upper = tmp_path / "l0", tmp_path / "l1", tmp_path / "upper"
    (bottom / "d").mkdir(parents=True)
    (bottom / "d/f").write_text("f")
    top.mkdir()
    (top / "d").write_text("a file over the directory")
    (upper / "d").mkdir(parents=True)
    (upper / "d/f").write_text("new")
    assert overlay_changes(upper, [top, bottom]) == [Change("d", "modified"), Change("d/f", "added")]


def test_overlay_metacopy_is_refused(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "f").touch()
    os.setxattr(upper / "f", "trusted.overlay.metacopy", b"")
    with pytest.raises(StorageError, match="metacopy"):
        overlay_changes(upper, [])


def test_overlay_tar_has_whiteouts_and_opaque_markers(tmp_path: Path) -> None:
    upper, lowers = build_overlay(tmp_path)
    os.setxattr(upper / "etc/passwd", "trusted.overlay.origin", b"\x00")
    os.setxattr(upper / "etc/passwd", "user.keep", b"1")
    os.chown(upper / "srv", 7, 8)
    os.chmod(upper / "srv", 0o2750)
    changes = overlay_changes(upper, lowers)
    members = read_tar(archive(upper, changes, overlay_opaque_dirs(upper)))
    names = [m.name for m in members]
    assert names == ["etc", "etc/passwd", "etc/.wh.shadow", ".wh.gone dir", "opt", "opt/kept", "opt/old",
                     "srv", "srv/.wh..wh..opq", "srv/new", "usr", "wiped"]
    by_name = {m.name: m for m in members}
    for wh in ("etc/.wh.shadow", ".wh.gone dir"):
        assert by_name[wh].isreg() and by_name[wh].size == 0
    opq = by_name["srv/.wh..wh..opq"]
    assert opq.isreg() and opq.size == 0 and (opq.uid, opq.gid, opq.mode) == (7, 8, 0o750)
    assert by_name["etc/passwd"].pax_headers == {"SCHILY.xattr.user.keep": "1"}
    assert not any("overlay" in k for m in members for k in m.pax_headers)
    assert not any(m.ischr() for m in members)


# --- write_layer_tar / tar_size -------------------------------------------------------------


def build_rich(root: Path) -> Path:
    root.mkdir()
    (root / "dir").mkdir()
    os.chmod(root / "dir", 0o2775)
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)
    (root / "dir/suid").write_bytes(b"#!/bin/sh\n")
    os.chown(root / "dir/suid", 1234, 5678)  # before chmod: chown clears setuid
    os.chmod(root / "dir/suid", 0o4755)
    (root / "dir/a").write_bytes(b"A" * 513)
    os.link(root / "dir/a", root / "dir/b")
    os.link(root / "dir/a", root / "z-link")
    os.symlink("../dir/a", root / "tmp/sym")
    os.mknod(root / "tty", stat.S_IFCHR | 0o620, os.makedev(4, 1))
    os.chmod(root / "tty", 0o620)  # past the umask
    os.mknod(root / "loop", stat.S_IFBLK | 0o660, os.makedev(7, 3))
    os.mkfifo(root / "fifo", 0o600)
    os.mknod(root / "sock", stat.S_IFSOCK | 0o600)
    os.setxattr(root / "dir/a", "user.mime", "text/plain ✓".encode())
    os.setxattr(root / "dir/a", "trusted.blob", b"\xff\x00\xfe")
    os.setxattr(root / "dir/a", "trusted.overlay.origin", b"skip me")
    os.setxattr(root / "dir/a", "security.selinux", b"system_u:object_r:tmp_t:s0")
    os.setxattr(root / "tty", "trusted.dev", b"1")
    for p in sorted(root.rglob("*"), reverse=True):
        utime(p, T0 + 7 * 10**9)
    return root


def test_tar_members_keep_metadata(tmp_path: Path) -> None:
    root = build_rich(tmp_path / "rich")
    changes = tree_changes(root, None)
    assert "sock" in as_dict(changes)
    members = read_tar(archive(root, changes))
    by_name = {m.name: m for m in members}
    assert [m.name for m in members] == ["dir", "dir/a", "dir/b", "dir/suid", "fifo", "loop", "tmp", "tmp/sym",
                                         "tty", "z-link"]  # sorted; the socket is skipped
    mtime = (T0 + 7 * 10**9) // 10**9
    assert all(m.mtime == mtime and m.uname == "" and m.gname == "" for m in members)
    assert by_name["dir"].isdir() and by_name["dir"].mode == 0o2775
    assert by_name["tmp"].mode == 0o1777
    suid = by_name["dir/suid"]
    assert suid.isreg() and suid.mode == 0o4755 and (suid.uid, suid.gid) == (1234, 5678)
    a = by_name["dir/a"]
    assert a.isreg() and a.size == 513
    assert a.pax_headers["SCHILY.xattr.user.mime"] == "text/plain ✓"
    assert a.pax_headers["SCHILY.xattr.trusted.blob"].encode("utf-8", "surrogateescape") == b"\xff\x00\xfe"
    assert not any(k.endswith(("overlay.origin", "selinux")) for k in a.pax_headers)
    for link in ("dir/b", "z-link"):
        assert by_name[link].islnk() and by_name[link].linkname == "dir/a" and by_name[link].size == 0
    assert by_name["tmp/sym"].issym() and by_name["tmp/sym"].linkname == "../dir/a"
    tty, loop = by_name["tty"], by_name["loop"]
    assert tty.ischr() and (tty.devmajor, tty.devminor, tty.mode) == (4, 1, 0o620)
    assert tty.pax_headers == {"SCHILY.xattr.trusted.dev": "1"}
    assert loop.isblk() and (loop.devmajor, loop.devminor) == (7, 3)
    assert by_name["fifo"].isfifo()
    with tarfile.open(fileobj=io.BytesIO(archive(root, changes))) as tar:
        assert tar.extractfile("dir/a").read() == b"A" * 513  # type: ignore[union-attr]


def test_hardlink_to_a_path_outside_the_archive_is_a_full_file(tmp_path: Path) -> None:
    root = build_rich(tmp_path / "rich")
    members = read_tar(archive(root, [Change("dir/b", "modified")]))
    assert [(m.name, m.isreg(), m.size) for m in members] == [("dir/b", True, 513)]


def test_output_is_deterministic(tmp_path: Path) -> None:
    root = build_rich(tmp_path / "rich")
    changes = tree_changes(root, None) + [Change("gone", "deleted")]
    first = archive(root, changes)
    assert archive(root, list(reversed(changes))) == first


@pytest.mark.parametrize("size", [0, 1, 511, 512, 513, 10240, 100_001])
def test_tar_size_is_exact(tmp_path: Path, size: int) -> None:
    root = tmp_path / "r"
    deep = root / ("d" * 90) / ("ü" * 40) / "with space"
    deep.mkdir(parents=True)
    (deep / ("long name " * 12)).write_bytes(os.urandom(size))
    (deep / "small").write_bytes(b"x" * (size // 3))
    os.setxattr(deep / "small", "user.big", b"v" * 300)
    os.setxattr(deep / "small", "trusted.bin", bytes(range(256)))
    os.symlink("t" * 150, deep / "longlink")
    os.chown(deep / "small", 3_000_000, 3_000_000)  # needs pax uid/gid records
    (root / "plain").write_bytes(b"p" * size)
    os.mkdir(root / os.fsdecode(b"latin1-\xe9"))  # not UTF-8: hdrcharset=BINARY
    changes = tree_changes(root, None) + [Change(f"{'d' * 90}/{'gone ' * 30}", "deleted")]
    data = archive(root, changes)  # asserts tar_size == len(data) == returned count
    members = {m.name: m for m in read_tar(data)}
    small = members[str((deep / "small").relative_to(root))]
    assert (small.uid, small.gid, small.size) == (3_000_000, 3_000_000, size // 3)
    assert small.pax_headers["SCHILY.xattr.user.big"] == "v" * 300
    assert small.pax_headers["SCHILY.xattr.trusted.bin"].encode("utf-8", "surrogateescape") == bytes(range(256))
    assert members[str((deep / "longlink").relative_to(root))].linkname == "t" * 150
    assert f"{'d' * 90}/.wh.{'gone ' * 30}" in members
    assert os.fsdecode(b"latin1-\xe9") in members


def test_writes_to_an_unseekable_stream(tmp_path: Path) -> None:
    root = build_rich(tmp_path / "rich")
    changes = tree_changes(root, None)
    read_fd, write_fd = os.pipe()
    chunks: list[bytes] = []
    with os.fdopen(write_fd, "wb") as out, os.fdopen(read_fd, "rb") as inp:
        os.set_blocking(read_fd, False)

        class Drain(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, data: bytes) -> int:  # type: ignore[override]
                n = out.write(bytes(data)[:700])  # short writes through a real pipe
                out.flush()
                chunks.append(inp.read() or b"")
                return n

        n = write_layer_tar(Drain(), root, changes)  # type: ignore[arg-type]
    assert n == len(b"".join(chunks)) == tar_size(root, changes)
    assert b"".join(chunks) == archive(root, changes)


def test_bad_input_is_refused(tmp_path: Path) -> None:
    root = build_rich(tmp_path / "rich")
    for bad in ("/dir", "dir/../tmp", "dir//a", ""):
        with pytest.raises(ValueError):
            tar_size(root, [Change(bad, "added")])
    with pytest.raises(ValueError, match="twice"):
        tar_size(root, [Change("dir", "added"), Change("dir", "modified")])
    with pytest.raises(ValueError, match="opaque"):
        tar_size(root, [Change("dir", "added")], {"tmp"})
    with pytest.raises(StorageError, match="not a directory"):
        tar_size(root, [Change("fifo", "added")], {"fifo"})
    (root / ".wh.x").touch()
    with pytest.raises(StorageError, match="reserved"):
        write_layer_tar(io.BytesIO(), root, [Change(".wh.x", "added")])


def test_never_reads_through_a_symlink(tmp_path: Path) -> None:
    root = build_rich(tmp_path / "rich")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("secret")
    os.symlink(outside, root / "swapped")  # e.g. a directory replaced by a symlink after diffing
    with pytest.raises(StorageError):
        write_layer_tar(io.BytesIO(), root, [Change("swapped/secret", "modified")])
    members = read_tar(archive(root, [Change("swapped", "added")]))
    assert members[0].issym() and members[0].linkname == str(outside)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_a_one_line_storage_error(tmp_path: Path) -> None:
    root = build_rich(tmp_path / "rich")
    with open("/dev/full", "wb", buffering=0) as out, pytest.raises(StorageError) as err:
        write_layer_tar(out, root, tree_changes(root, None))  # type: ignore[arg-type]
    assert err.value.message == "no space left on device while writing a layer tar" and err.value.hint
