"""Mounts of the linux driver against hostile rootfs trees, and read-only binds all the way down.

Driver level (hand-written bundles, the ``runtime`` fixture of conftest): an image may put a
symlink where a mount goes (``/data -> /../../../<host dir>``, ``/etc/resolv.conf`` to a host
file, a parent directory of the destination, a device path): every mount, node and link lands
inside the rootfs, and nothing on the host is made or changed. ``ro`` binds are read-only in
the mounts below their source too. The resolver itself (inroot.RootDir) is tested on its own.
"""
from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from capsa.linux import mount, umount

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path("/bin/busybox").is_file(),
                                reason="needs root and Debian's busybox-static")


@pytest.fixture
def source_with_submount(tmp_path: Path) -> Iterator[Path]:
    """A host directory with a tmpfs mounted below it (unmounted at the end)."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "top").write_text("top\n")
    mount("tmpfs", str(src / "sub"), "tmpfs", 0, "size=1m")
    try:
        (src / "sub" / "inside").write_text("sub\n")
        yield src
    finally:
        umount(str(src / "sub"), 2)  # MNT_DETACH


def _bind(dest: str, source: Path | str, *options: str) -> dict:
    return {"destination": dest, "type": "bind", "source": str(source), "options": list(options)}


def test_ro_bind_is_read_only_below_too(runtime, source_with_submount: Path) -> None:  # noqa: ANN001
    from test_isolation_runtime import sh

    src = source_with_submount
    spec = sh("cat /ro/sub/inside; for f in /ro/top2 /ro/sub/new /rw/sub/new; do "
              "echo x 2>/dev/null > $f && echo $f-written || echo $f-refused; done; "
              "grep -c ' /ro/sub ' /proc/self/mountinfo; grep ' /ro/sub ' /proc/self/mountinfo | cut -d' ' -f6")
    spec["mounts"] += [_bind("/ro", src, "rbind", "ro", "rprivate"), _bind("/rw", src, "rbind", "rprivate")]
    res = runtime.run(spec)
    assert res.code == 0, res.err
    assert res.out.split() == ["sub", "/ro/top2-refused", "/ro/sub/new-refused", "/rw/sub/new-written", "1",
                               "ro,relatime"], res.out
    assert (src / "sub" / "new").exists() and not (src / "top2").exists()


def test_read_only_root_and_sys_stay_as_they_were(runtime) -> None:  # noqa: ANN001
    from test_isolation_runtime import sh

    spec = sh("touch /x 2>/dev/null || echo root-ro; touch /tmp/x && echo tmp-rw; "
              "touch /dev/x && echo dev-rw; echo 1 > /sys/kernel/x 2>/dev/null || echo sys-ro; "
              "grep ' /proc/sys ' /proc/self/mountinfo | cut -d' ' -f6")
    spec["root"]["readonly"] = True
    spec["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["rw"]})
    res = runtime.run(spec)
    assert res.code == 0, res.err
    out = res.out.split()
    assert out[:4] == ["root-ro", "tmp-rw", "dev-rw", "sys-ro"] and out[4].startswith("ro,"), res.out


@pytest.fixture
def host_area(tmp_path: Path) -> Path:
    """A host directory a hostile image aims at; it must stay empty."""
    area = tmp_path / "host-area"
    area.mkdir()
    (area / "file").write_text("host\n")
    return area


def _up(path: Path) -> str:
    """``path`` written so that it climbs out of any rootfs first."""
    return "/../../../../../../../.." + str(path)


def _host_unchanged(area: Path) -> None:
    assert sorted(p.name for p in area.iterdir()) == ["file"]
    assert (area / "file").read_text() == "host\n"


def test_hostile_symlinks_at_mount_targets(runtime, host_area: Path, tmp_path: Path) -> None:  # noqa: ANN001
    from test_isolation_runtime import sh

    rootfs = runtime.rootfs
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "v").write_text("volume\n")
    (tmp_path / "resolv").write_text("nameserver 10.0.0.1\n")
    os.symlink(_up(host_area / "d"), rootfs / "data")  # a volume target
    os.symlink(_up(host_area / "bind"), rootfs / "bnd")  # a bind target (dangling)
    os.symlink(_up(host_area / "t"), rootfs / "scratch")  # a tmpfs target (dangling)
    os.symlink(_up(host_area / "file"), rootfs / "etc" / "resolv.conf")  # an /etc file
    os.symlink(_up(host_area), rootfs / "parent")  # a parent of the destination
    spec = sh("cat /data/v; cat /bnd/v; touch /scratch/x && echo scratch-ok; cat /etc/resolv.conf; "
              "cat /parent/deep/v")
    spec["mounts"] += [
        _bind("/data", vol, "rbind", "rprivate", "nosuid", "nodev"),
        _bind("/bnd", vol, "bind", "ro"),
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "tmpcopyup"]},
        _bind("/etc/resolv.conf", tmp_path / "resolv", "rbind", "ro"),
        _bind("/parent/deep", vol, "rbind"),
    ]
    try:
        res = runtime.run(spec)
        assert res.code == 0, res.err
        assert res.out.split() == ["volume", "volume", "scratch-ok", "nameserver", "10.0.0.1", "volume"], res.out
        _host_unchanged(host_area)
        # what the links point at was made inside the rootfs
        inside = rootfs / str(host_area).lstrip("/")
        assert (inside / "bind").is_dir() and (inside / "t").is_dir() and (inside / "file").is_file()
        assert (inside / "deep").is_dir() and (inside / "d").is_dir() and not (vol / "deep").exists()
    finally:
        subprocess.run(["rm", "-rf", str(rootfs / str(host_area).lstrip("/").split("/")[0])], check=False)


def test_hostile_dev_directory(runtime, host_area: Path) -> None:  # noqa: ANN001
    """The image's /dev is a symlink out: devices, /dev links and the devpts go inside."""
    from test_isolation_runtime import sh

    rootfs = runtime.rootfs
    os.rmdir(rootfs / "dev")
    os.symlink(_up(host_area), rootfs / "dev")
    try:
        res = runtime.run(sh("ls /dev/null /dev/pts/ptmx; readlink /dev/fd; echo x > /dev/null && echo null-ok"))
        assert res.code == 0, res.err
        assert res.out.split() == ["/dev/null", "/dev/pts/ptmx", "/proc/self/fd", "null-ok"], res.out
        _host_unchanged(host_area)
    finally:
        os.unlink(rootfs / "dev")
        os.mkdir(rootfs / "dev")
        subprocess.run(["rm", "-rf", str(rootfs / str(host_area).lstrip("/").split("/")[0])], check=False)


def test_magic_links_and_loops_are_refused(runtime) -> None:  # noqa: ANN001
    from capsa.errors import IsolationError
    from test_isolation_runtime import sh

    rootfs = runtime.rootfs
    os.symlink("/proc/self/root/tmp", rootfs / "magic")  # /proc is mounted in the rootfs by then
    os.symlink("loop2", rootfs / "loop1")
    os.symlink("loop1", rootfs / "loop2")
    try:
        for dest in ("/magic/x", "/loop1/x"):
            spec = sh("true")
            spec["mounts"].append({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": []})
            with pytest.raises(IsolationError, match="symbolic links"):
                runtime.create(spec)
    finally:
        for name in ("magic", "loop1", "loop2"):
            os.unlink(rootfs / name)


def test_rootdir_resolver(tmp_path: Path, host_area: Path) -> None:
    from capsa_isolation_linux.inroot import RootDir

    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("../../../..", root / "etc" / "up")
    os.symlink("sub/../../x", root / "etc" / "rel")
    os.symlink(_up(host_area / "new"), root / "abs")
    with RootDir(str(root)) as r:
        for path, is_dir, made in (("/etc/up/a/b", True, "a/b"), ("/etc/rel", False, "x"),
                                   ("/abs/c", True, str(host_area).lstrip("/") + "/new/c")):
            fd = r.target(path, is_dir)
            try:
                assert os.readlink(f"/proc/self/fd/{fd}") == str(root / made)
            finally:
                os.close(fd)
        assert (root / "x").is_file() and (root / "etc" / "sub").is_dir()
        parent, name = r.parent("/etc/up/../y")
        try:
            assert (os.readlink(f"/proc/self/fd/{parent}"), name) == (str(root / "etc"), "y")
        finally:
            os.close(parent)
        os.symlink("self", root / "self")
        with pytest.raises(OSError) as info:
            r.target("/self/z", True)
        assert info.value.errno == errno.ELOOP
    _host_unchanged(host_area)


def test_masked_and_read_only_paths_of_the_image(runtime) -> None:  # noqa: ANN001
    """Masked and read-only paths the spec adds that are in the image: a file reads empty, a
    directory is an empty read-only tmpfs, a read-only directory refuses writes (mounts below
    it too); a parent that is a symlink is followed inside the container."""
    from test_isolation_runtime import sh

    rootfs = runtime.rootfs
    (rootfs / "etc" / "secret").write_text("secret\n")
    (rootfs / "sdir").mkdir()
    (rootfs / "sdir" / "x").write_text("x\n")
    (rootfs / "rodir").mkdir()
    (rootfs / "rodir" / "y").write_text("y\n")
    (rootfs / "real").mkdir()
    (rootfs / "real" / "hidden").write_text("hidden\n")
    os.symlink("real", rootfs / "via")
    spec = sh("echo \"[$(cat /etc/secret)]\"; ls /sdir | wc -l; touch /sdir/z 2>/dev/null || echo sdir-ro; "
              "cat /rodir/y; touch /rodir/n 2>/dev/null || echo rodir-ro; touch /rodir/sub/n 2>/dev/null || "
              "echo rosub-ro; echo \"[$(cat /real/hidden)]\"")
    spec["mounts"].append({"destination": "/rodir/sub", "type": "tmpfs", "source": "tmpfs", "options": []})
    spec["linux"]["maskedPaths"] += ["/etc/secret", "/sdir", "/not/there", "/via/hidden"]
    spec["linux"]["readonlyPaths"] += ["/rodir", "/missing"]
    res = runtime.run(spec)
    assert res.code == 0, res.err
    assert res.out.split() == ["[]", "0", "sdir-ro", "y", "rodir-ro", "rosub-ro", "[]"], res.out
    assert (rootfs / "etc" / "secret").read_text() == "secret\n"


@pytest.mark.parametrize("kind", ["maskedPaths", "readonlyPaths"])
def test_symlink_at_a_masked_or_read_only_path_is_refused(runtime, kind: str) -> None:  # noqa: ANN001
    """A hostile image puts a symlink where a masked or read-only path is: capsa must not mask,
    or make read-only, what the link points at (here a file and a directory elsewhere in the
    container); the container is refused, nothing was masked."""
    from capsa.errors import IsolationError
    from test_isolation_runtime import sh

    rootfs = runtime.rootfs
    (rootfs / "etc" / "victim").write_text("victim\n")
    (rootfs / "victimdir").mkdir()
    os.symlink("/etc/victim", rootfs / "etc" / "file-link")
    os.symlink("../../victimdir", rootfs / "etc" / "dir-link")
    for path in ("/etc/file-link", "/etc/dir-link"):
        spec = sh("cat /etc/victim; touch /victimdir/w && echo dir-rw")
        spec["linux"][kind].append(path)
        with pytest.raises(IsolationError, match="symbolic link"):
            runtime.create(spec)
    res = runtime.run(sh("cat /etc/victim; touch /victimdir/w && echo dir-rw"))
    assert res.code == 0 and res.out.split() == ["victim", "dir-rw"], (res.out, res.err)


def test_a_bind_refuses_options_of_the_filesystem(runtime, tmp_path: Path) -> None:  # noqa: ANN001
    """sync, dirsync, lazytime and mand are the source filesystem's flags: a bind cannot take
    them (a remount would change the host's filesystem), so it is refused, never made without
    them; a tmpfs (a filesystem of its own) takes them."""
    from capsa.errors import IsolationError
    from test_isolation_runtime import sh

    for opt in ("sync", "dirsync", "lazytime", "mand"):
        spec = sh("true")
        spec["mounts"].append(_bind("/b", tmp_path, "rbind", opt))
        with pytest.raises(IsolationError, match=f"{opt} cannot apply to a bind"):
            runtime.create(spec)
    spec = sh("grep ' /t ' /proc/self/mounts | cut -d' ' -f4")
    spec["mounts"].append({"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["sync", "dirsync"]})
    res = runtime.run(spec)
    assert res.code == 0, res.err
    assert {"sync", "dirsync"} <= set(res.out.strip().split(",")), res.out


def test_masking_binds_only_the_null_device(runtime) -> None:  # noqa: ANN001
    """A file is masked with the container's /dev/null, checked by descriptor: an image whose
    /dev/null (no /dev tmpfs, no such device in the spec) is a symlink to another file must not
    get that file bound over the masked path."""
    from capsa.errors import IsolationError
    from test_isolation_runtime import sh

    rootfs = runtime.rootfs
    (rootfs / "etc" / "secret").write_text("secret\n")
    (rootfs / "etc" / "victim").write_text("victim\n")
    os.symlink("/etc/victim", rootfs / "dev" / "null")
    spec = sh("cat /etc/secret")
    spec["mounts"] = [m for m in spec["mounts"] if m["destination"] not in ("/dev", "/dev/pts")]
    spec["linux"]["devices"] = []
    spec["linux"]["maskedPaths"] = ["/etc/secret"]
    with pytest.raises(IsolationError, match="not the null device"):
        runtime.create(spec)
