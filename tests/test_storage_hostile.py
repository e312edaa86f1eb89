"""The hostile-archive table (tests/test_tar_extract.py) through each storage driver's apply_diff.

For every case and driver: the victim beside the store (and a decoy where the archive's relative
``../../outside`` would land from the layer directory) is untouched, nothing outside the driver's
home changes, and the layer is either exactly as before (the driver refused, as the table
requires) or holds the entry inside it (checked with the table's own ``lands``). The layer is
then mounted and unmounted, and nothing stays mounted.
"""
from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from capsa.errors import CapsaError
from capsa.testing.drivers import make_driver
from capsa.testing.layertree import layer_tar, mounts_under, tar_file, tree_state
from hostile_archives import snapshot

try:  # the table may move into a module of its own; the case ids stay the same
    from hostile_archives import HOSTILE, make_tar  # type: ignore[import-not-found]
except ImportError:
    from test_tar_extract import HOSTILE, make_tar

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (devices, ownership, trusted.* xattrs)")

#: Where each built-in driver keeps a layer's own files (a ``metadata`` key), and how it applies
#: whiteouts there: overlay keeps them as overlayfs markers, vfs (full copies) deletes.
DRIVERS = {"overlay": ("UpperDir", "overlay"), "vfs": ("path", "apply")}
VICTIM_NS = 1_000_000_000_000_000_000

#: Where a driver differs from the bare extractor: a layer's "./" (or "/") entry does not set
#: its root's mode, which stays 0555 for a base layer, as podman's (containers/storage's
#: defaultPerms: podman shows dr-xr-xr-x / whatever the entry); its mtime still lands.
ROOT_MODE_KEPT = {
    "dot-directory-odd-mode": lambda d, o, m: _ok(stat.S_IMODE(os.lstat(d).st_mode) == 0o555,
                                                  os.lstat(d).st_mtime_ns == 1234 * 10**9),
    "slash-directory": lambda d, o, m: _ok(stat.S_IMODE(os.lstat(d).st_mode) == 0o555),
}


def _ok(*conditions: bool) -> None:
    assert all(conditions), conditions


CASES = [pytest.param(driver, case, id=f"{driver}-{case}")
         for driver, (_, mode) in DRIVERS.items() for case, spec in HOSTILE.items() if mode in spec.modes]


def _plant_victim(outside: Path) -> None:
    (outside / "dir").mkdir(parents=True)
    (outside / "dir/inner").write_bytes(b"inner")
    (outside / "victim").write_bytes(b"precious")
    os.utime(outside / "victim", ns=(VICTIM_NS, VICTIM_NS))


def _assert_victim(outside: Path, listing: list[str]) -> None:
    assert (outside / "victim").read_bytes() == b"precious"
    assert os.lstat(outside / "victim").st_mtime_ns == VICTIM_NS
    assert (outside / "dir/inner").read_bytes() == b"inner"
    assert sorted(os.listdir(outside)) == listing


def test_every_driver_and_case_is_covered() -> None:
    assert len(HOSTILE) >= 20 and len(CASES) == 2 * len(HOSTILE)


@pytest.mark.parametrize(("driver_name", "case"), CASES)
def test_hostile_archive_through_the_driver(tmp_path: Path, driver_name: str, case: str) -> None:
    spec = HOSTILE[case]
    key, mode = DRIVERS[driver_name]
    driver = make_driver("storage", driver_name, tmp_path)
    home = driver.context.home
    try:
        outside = tmp_path / "outside"
        _plant_victim(outside)
        driver.create("layer", None)
        if spec.lands is None:  # to be refused: give the layer something to lose
            driver.apply_diff("layer", None, layer_tar([tar_file("keep", b"kept")]))
        layer_dir = Path(driver.metadata("layer")[key])
        assert layer_dir.is_dir() and home in layer_dir.parents
        decoy = layer_dir.parent.parent / "outside"  # where "../../outside" points from the layer dir
        if not decoy.exists():
            _plant_victim(decoy)
        built = spec.build(outside)
        data = built if isinstance(built, bytes) else make_tar(built, spec.fmt)

        mounted_before = tree_state(driver.mount("layer"))
        driver.unmount("layer")
        around = snapshot(tmp_path, (home,))
        around_but_run = snapshot(tmp_path, (home, driver.context.run_home))  # mounts count there
        listing, decoy_listing = sorted(os.listdir(outside)), sorted(os.listdir(decoy))
        layer_before = snapshot(layer_dir, ())
        home_names = sorted(os.listdir(home))

        try:
            driver.apply_diff("layer", None, io.BytesIO(data))
        except CapsaError as err:
            assert spec.lands is None, f"{driver_name} refused {case}: {err}"
            assert err.message and "\n" not in str(err) and err.exit_code == 125
            assert snapshot(layer_dir, ()) == layer_before, "the refused layer changed"
            assert sorted(os.listdir(home)) == home_names, "leftovers in the driver's home"
        else:
            assert spec.lands is not None, f"{driver_name} accepted {case}, which must be refused"
            # A base layer has nothing below it: overlay drops whiteouts that hide nothing (see
            # drop_idle_whiteouts), which leaves the layer as the "apply" mode would.
            if driver_name == "overlay" and case.startswith("whiteout"):
                devices = [p for p in layer_dir.rglob("*") if stat.S_ISCHR(p.lstat().st_mode)]
                assert devices == [], f"idle whiteouts kept: {devices}"
            else:
                ROOT_MODE_KEPT.get(case, spec.lands)(layer_dir, outside, mode)
        _assert_victim(outside, listing)
        _assert_victim(decoy, decoy_listing)
        assert snapshot(tmp_path, (home,)) == around, "something changed outside the driver's home"

        merged = Path(driver.mount("layer"))  # the layer still mounts, and mounting it escapes nowhere
        try:
            if spec.lands is None:
                assert tree_state(merged) == mounted_before
            else:  # names only: overlay lists whiteouts in layer-only dirs that lstat cannot find
                list(os.walk(merged))  # (test_whiteouts_with_nothing_to_hide_leave_no_trace)
        finally:
            driver.unmount("layer")
        _assert_victim(outside, listing)
        _assert_victim(decoy, decoy_listing)
        assert snapshot(tmp_path, (home, driver.context.run_home)) == around_but_run
        assert driver.list_layers() == ["layer"]
    finally:
        driver.cleanup()
    assert mounts_under(home) == []
