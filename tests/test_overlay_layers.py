"""overlay specifics: deep stacks (the new mount API's lowerdir+, and mount(2)'s one-page option
limit on the legacy path), the working directory left alone, whiteouts, diffs."""
from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from capsa.errors import StorageError
from capsa.testing.drivers import make_driver


@pytest.fixture
def overlay(tmp_path: Path):
    driver = make_driver("storage", "overlay", tmp_path)
    yield driver
    driver.cleanup()


def stack(driver, depth: int) -> str:
    parent = None
    for i in range(depth):
        driver.create(f"l{i}", parent, writable=True)
        (driver.context.home / f"l{i}" / "diff" / f"f{i}").write_text(str(i))
        parent = f"l{i}"
    return parent


def test_a_130_layer_stack_mounts_with_every_file_visible(overlay) -> None:
    top = stack(overlay, 130)
    cwd = os.getcwd()
    merged = Path(overlay.mount(top))
    try:
        assert os.getcwd() == cwd
        assert len(os.listdir(merged)) == 130
        assert (merged / "f0").read_text() == "0" and (merged / "f129").read_text() == "129"
        mountinfo = Path("/proc/self/mountinfo").read_text()
        assert str(merged) in mountinfo
    finally:
        assert overlay.unmount(top) is True
    assert str(merged) not in Path("/proc/self/mountinfo").read_text()


def test_the_layer_limit_is_a_clear_error(tmp_path: Path) -> None:
    driver = make_driver("storage", "overlay", tmp_path, {"max_layers": 5})
    top = stack(driver, 5)
    with pytest.raises(StorageError) as err:
        driver.create("too-deep", top)
    assert "would stack 6 layers" in err.value.message and "max_layers" in err.value.hint
    assert not driver.exists("too-deep")


def test_mount_options_past_one_page_are_refused_before_mounting_on_the_legacy_path(tmp_path: Path, monkeypatch) -> None:
    """A kernel without overlay's lowerdir+ (forced here) mounts with mount(2), whose option
    string is limited to one page."""
    from capsa_storage_overlay import newmount

    monkeypatch.setitem(newmount._state, "unsupported", True)
    driver = make_driver("storage", "overlay", tmp_path, {"max_layers": 400})
    top = stack(driver, 260)
    with pytest.raises(StorageError) as err:
        driver.mount(top)
    assert "more than the kernel's limit" in err.value.message
    assert driver.counter.get(top) == 0


def test_the_legacy_mount_leaves_the_working_directory_alone(tmp_path: Path, monkeypatch) -> None:
    from capsa_storage_overlay import newmount

    monkeypatch.setitem(newmount._state, "unsupported", True)
    driver = make_driver("storage", "overlay", tmp_path)
    top = stack(driver, 40)
    monkeypatch.chdir(tmp_path)
    merged = Path(driver.mount(top))
    try:
        assert os.getcwd() == str(tmp_path)
        assert len(os.listdir(merged)) == 40
    finally:
        driver.unmount(top)
        driver.cleanup()


def test_the_mount_api_stacks_past_one_page_of_options_without_changing_directory(tmp_path: Path, monkeypatch) -> None:
    """With the new mount API (one lowerdir+ per layer) the stack is limited by overlay itself
    (500), not by a one-page option string, and the working directory never changes."""
    from capsa_storage_overlay import newmount

    driver = make_driver("storage", "overlay", tmp_path)
    assert driver.options["max_layers"] == newmount.OVERLAY_MAX_STACK
    top = stack(driver, 300)
    sub = tmp_path / "elsewhere"
    sub.mkdir()
    monkeypatch.chdir(sub)
    seen: list[str] = []
    real_chdir, real_fchdir = os.chdir, os.fchdir
    monkeypatch.setattr(os, "chdir", lambda p: (seen.append(str(p)), real_chdir(p))[1])
    monkeypatch.setattr(os, "fchdir", lambda fd: (seen.append(fd), real_fchdir(fd))[1])
    merged = Path(driver.mount(top))
    try:
        assert newmount.supported(), "this kernel (6.8+) has lowerdir+"
        assert seen == [] and os.getcwd() == str(sub)
        names = os.listdir(merged)
        assert len(names) == 300 and (merged / "f0").read_text() == "0" and (merged / "f299").read_text() == "299"
        line = next(l for l in Path("/proc/self/mountinfo").read_text().splitlines() if f" {merged} " in l)
        assert "lowerdir+=" in line
    finally:
        assert driver.unmount(top) is True
        driver.cleanup()
    assert str(merged) not in Path("/proc/self/mountinfo").read_text()


def layer_tar(entries: list[tuple[str, str | None]]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in entries:
            info = tarfile.TarInfo(name)
            if text is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = len(text)
                tar.addfile(info, io.BytesIO(text.encode()))
    buf.seek(0)
    return buf


def test_whiteouts_hide_lower_files_and_diff_round_trips(overlay) -> None:
    overlay.create("base", None)
    overlay.apply_diff("base", None, layer_tar([("etc", None), ("etc/a", "a"), ("etc/b", "b"), ("opt", None), ("opt/x", "x")]))
    overlay.create("top", "base")
    overlay.apply_diff("top", "base", layer_tar([("etc/.wh.a", ""), ("opt/.wh..wh..opq", ""), ("opt/y", "y")]))
    upper = overlay.context.home / "top" / "diff"
    assert stat.S_ISCHR((upper / "etc" / "a").lstat().st_mode) and os.getxattr(upper / "opt", "trusted.overlay.opaque") == b"y"
    merged = Path(overlay.mount("top"))
    try:
        assert sorted(os.listdir(merged / "etc")) == ["b"] and sorted(os.listdir(merged / "opt")) == ["y"]
    finally:
        overlay.unmount("top")
    with overlay.diff("top", "base") as stream:
        names = tarfile.open(fileobj=stream).getnames()
    assert "etc/.wh.a" in names and "opt/.wh..wh..opq" in names and "opt/y" in names and "etc/b" not in names
    kinds = {c.path: c.kind for c in overlay.changes("top", "base")}
    assert kinds["etc/a"] == "deleted" and kinds["opt/y"] == "added"
    assert overlay.diff_size("top", "base") == len(overlay.diff("top", "base").read())


def test_a_failed_apply_diff_leaves_the_layer_as_it_was(overlay) -> None:
    overlay.create("base", None)
    overlay.apply_diff("base", None, layer_tar([("keep", "1")]))
    before = sorted(p.name for p in (overlay.context.home / "base" / "diff").iterdir())
    with pytest.raises(Exception):
        overlay.apply_diff("base", None, layer_tar([("new", "2"), ("../escape", "3")]))
    assert sorted(p.name for p in (overlay.context.home / "base" / "diff").iterdir()) == before


def test_mount_points_with_escaped_characters_are_recognised(tmp_path: Path) -> None:
    """/proc/self/mountinfo escapes spaces, tabs, newlines and backslashes as octal (\\040 ...):
    mount points whose names hold them are still found (capsa.hostinfo unescapes by hand)."""
    from capsa.linux import MNT_DETACH, is_mountpoint, mount, mounts_under, umount

    target = tmp_path / "a dir\twith\nodd \\ names"
    target.mkdir()
    mount("tmpfs", str(target), "tmpfs", 0, "size=1m")
    try:
        assert is_mountpoint(str(target))
        assert mounts_under(str(tmp_path)) == [str(target)]
    finally:
        umount(str(target), MNT_DETACH)
    assert not is_mountpoint(str(target))
