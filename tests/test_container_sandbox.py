"""The sandbox's defaults end to end through the CLI: read-only binds all the way down, device
access (``--device``), and mount targets of a hostile image kept inside its rootfs."""
from __future__ import annotations

import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from capsa.linux import mount, umount
from conftest import Capsa
from containers import store_fixtures

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


store, c = store_fixtures("sandbox")


def run(c: Capsa, *args: str) -> subprocess.CompletedProcess[str]:
    return c("run", "--rm", *args)


@pytest.fixture
def src(tmp_path: Path) -> Iterator[Path]:
    """A host directory with a tmpfs mounted below it (unmounted at the end)."""
    path = tmp_path / "src"
    (path / "sub").mkdir(parents=True)
    mount("tmpfs", str(path / "sub"), "tmpfs", 0, "size=1m")
    try:
        yield path
    finally:
        umount(str(path / "sub"), 2)


WRITE_BOTH = "echo x > /d/top; echo x > /d/sub/new; ls /d/sub"


@pytest.mark.parametrize("how", ["-v {src}:/d:ro", "--mount type=bind,source={src},target=/d,readonly",
                                 "--mount type=bind,src={src},dst=/d,ro=true"])
def test_read_only_bind_is_read_only_below(c: Capsa, src: Path, how: str) -> None:
    flag, value = how.format(src=src).split(" ", 1)
    r = run(c, flag, value, "busybox", "sh", "-c", WRITE_BOTH)
    assert r.stderr.count("Read-only file system") == 2, r.stderr
    assert not (src / "top").exists() and not (src / "sub" / "new").exists()
    r = run(c, "-v", f"{src}:/d", "busybox", "sh", "-c", WRITE_BOTH)
    assert r.returncode == 0 and r.stdout == "new\n", r.stderr  # the sub-mount is there, and writable


LOOP = "/dev/loop-control"


@pytest.mark.skipif(not os.path.exists(LOOP), reason="no /dev/loop-control")
def test_device_access(c: Capsa) -> None:
    probe = ("( : < /dev/lc ) 2>/dev/null && echo read-ok || echo read-denied; "
             "( : > /dev/lc ) 2>/dev/null && echo write-ok || echo write-denied; "
             "mknod /dev/made c 10 237 2>/dev/null && echo mknod-ok || echo mknod-denied; "
             "mknod /dev/nul c 1 3 && echo x > /dev/nul && echo null-ok")
    # a host node bound in is still not allowed; nor is making one, even with CAP_MKNOD
    r = run(c, "--cap-add", "MKNOD", "-v", f"{LOOP}:/dev/lc", "busybox", "sh", "-c", probe)
    assert r.stdout.split() == ["read-denied", "write-denied", "mknod-denied", "null-ok"], r.stdout + r.stderr
    r = run(c, "--cap-add", "MKNOD", "--device", f"{LOOP}:/dev/lc", "busybox", "sh", "-c", probe)
    assert r.stdout.split() == ["read-ok", "write-ok", "mknod-ok", "null-ok"], r.stdout + r.stderr
    r = run(c, "--device", f"{LOOP}:/dev/lc:r", "busybox", "sh", "-c", probe + "; stat -c '%t:%T' /dev/lc")
    assert r.stdout.split() == ["read-ok", "write-denied", "mknod-denied", "a:ed"], r.stdout + r.stderr
    for bad, message in (("/dev/nope", "stat /dev/nope: no such file or directory"),
                         ("/etc/passwd", "/etc/passwd is not a device node"),
                         (f"{LOOP}:/dev/lc:rwx", "invalid device mode: rwx"),
                         (f"{LOOP}:dev", "invalid device path 'dev'")):
        r = run(c, "--device", bad, "busybox", "true")
        assert r.returncode == 125 and r.stderr.startswith(f"Error: {message}"), r.stderr
    assert c("ps", "-a", "-q").stdout == ""  # nothing was left of the refused ones


def _hostile_image(c: Capsa, tmp: Path, links: dict[str, str]) -> str:
    """Import the busybox rootfs plus ``links`` (name -> symlink target) as an image."""
    base = tmp / "hostile.tar"
    subprocess.run(["tar", "-C", str(Path(c.tmp) / "bb-rootfs"), "-cf", str(base), "."], check=True)
    with tarfile.open(base, "a") as tar:
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    r = c("import", "-c", 'CMD ["/bin/sh"]', str(base), "hostile")
    assert r.returncode == 0, r.stderr
    return "hostile"


def test_hostile_image_mount_targets(c: Capsa, tmp_path: Path) -> None:
    area = tmp_path / "host-area"
    area.mkdir()
    (area / "keep").write_text("host\n")
    up = "/../../../../../../../.." + str(area)
    image = _hostile_image(c, tmp_path, {"etc/hosts": up + "/hosts", "etc/hostname": up + "/keep",
                                         "data": up + "/vol", "bnd": up + "/bnd", "scratch": up + "/tmp"})
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "f").write_text("shared\n")
    try:
        r = run(c, "-v", "hvol:/data", "-v", f"{shared}:/bnd", "--tmpfs", "/scratch", "--hostname", "inside",
                image, "sh", "-c", "echo v > /data/v; cat /bnd/f; touch /scratch/t && echo tmpfs-ok; "
                "cat /etc/hostname; grep -c localhost /etc/hosts")
        assert r.returncode == 0, r.stderr
        out = r.stdout.split()
        assert out[:3] == ["shared", "tmpfs-ok", "inside"] and int(out[3]) >= 1, r.stdout
        assert sorted(p.name for p in area.iterdir()) == ["keep"] and (area / "keep").read_text() == "host\n"
        assert sorted(p.name for p in shared.iterdir()) == ["f"]
    finally:
        c("volume", "rm", "-f", "hvol")
        c("rmi", "-f", image)
