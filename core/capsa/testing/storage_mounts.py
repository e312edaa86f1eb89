"""The storage conformance suite, mount part: mounts and their reference counts, within one
process and across processes.

capsa mounts a container's layer in one process (the CLI's ``run``/``start``, or the container's
monitor) and unmounts it in another (the monitor at exit, or a later ``rm``): a driver's
reference counts must live outside the process (capsa's built-in drivers keep them in a file
under their runroot, guarded by a lock). The cross-process tests run the driver in child
processes of the test (the same interpreter, the same root, runroot and options) and check
that references taken in one are counted and released in another.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from capsa.errors import StorageError
from capsa.testing.layertree import mounts_under
from capsa.testing.storage_base import StorageSuite

# Runs in a child process: build the driver as the fixture did, do one operation, print its result.
_CHILD = """
import json, sys
from pathlib import Path
from capsa.drivers import load_driver
name, options, tmp, op, layer_id = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], sys.argv[5]
driver = load_driver("storage", name, options, root=tmp / "root", runroot=tmp / "run")
if op == "mount":
    result = str(driver.mount(layer_id))
elif op == "unmount":
    result = driver.unmount(layer_id)
elif op == "force-unmount":
    result = driver.unmount(layer_id, force=True)
else:
    raise SystemExit("unknown operation " + op)
print(json.dumps(result))
"""


class StorageMountConformance(StorageSuite):
    """Mounts: parent and own files, reference counts (in one process and across processes),
    nested mounts, repeated cycles."""

    def in_another_process(self, tmp_path: Path, op: str, layer_id: str) -> Any:
        """Run ``op`` (mount, unmount or force-unmount) of ``layer_id`` in a child process with
        a driver built as the ``storage`` fixture builds it; return what the operation returned."""
        proc = subprocess.run([sys.executable, "-c", _CHILD, self.name, json.dumps(dict(self.options)), str(tmp_path),
                               op, layer_id], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{op} {layer_id} in a child process failed: {proc.stderr.strip()}"
        return json.loads(proc.stdout)

    def test_mount_shows_parent_and_own_files(self, storage: Any) -> None:
        storage.create("base", None, writable=True)
        base = Path(storage.mount("base"))
        (base / "from-base").write_text("base")
        storage.unmount("base")
        storage.create("top", "base", writable=True)
        top = Path(storage.mount("top"))
        assert (top / "from-base").read_text() == "base"
        (top / "from-top").write_text("top")
        assert storage.unmount("top") is True
        again = Path(storage.mount("top"))
        assert sorted(p.name for p in again.iterdir()) == ["from-base", "from-top"]
        storage.unmount("top")

    def test_mount_is_reference_counted(self, storage: Any) -> None:
        storage.create("l", None)
        first = Path(storage.mount("l"))
        assert Path(storage.mount("l")) == first
        assert storage.unmount("l") is False
        assert storage.unmount("l") is True
        assert storage.unmount("l") is False

    def test_forced_unmount_drops_every_reference(self, storage: Any) -> None:
        storage.create("l", None)
        for _ in range(3):
            Path(storage.mount("l"))
        assert storage.unmount("l", force=True) is True
        assert storage.unmount("l") is False
        storage.remove("l")  # no reference is left to keep it
        assert not storage.exists("l")

    def test_nested_mounts_parent_and_child_at_once(self, storage: Any) -> None:
        self._base(storage)
        storage.create("child", "base", writable=True)
        child = Path(storage.mount("child"))
        try:
            (child / "etc/c").write_bytes(b"gamma\n")
            base = Path(storage.mount("base"))
            try:
                assert base != child
                assert (base / "etc/a").read_bytes() == b"alpha\n" and not (base / "etc/c").exists()
                assert (child / "etc/a").read_bytes() == b"alpha\n" and (child / "etc/c").read_bytes() == b"gamma\n"
                again = Path(storage.mount("child"))  # a second reference while the parent is mounted
                assert again == child and storage.unmount("child") is False
                assert sorted(os.listdir(child / "etc")) == ["a", "b", "c"]
            finally:
                assert storage.unmount("base") is True
            assert (child / "etc/b").read_bytes() == b"beta\n"  # still readable with the parent unmounted
        finally:
            assert storage.unmount("child") is True
        assert mounts_under(storage.context.home) == []

    def test_repeated_mount_cycles_leave_nothing_mounted(self, storage: Any) -> None:
        self._base(storage)
        storage.create("child", "base", writable=True)
        for i in range(10):
            path = Path(storage.mount("child"))
            parent = Path(storage.mount("base"))
            assert (path / "etc/a").read_bytes() == b"alpha\n" and (parent / "keep").read_bytes() == b"kept"
            (path / f"cycle{i}").write_text(str(i))
            assert storage.unmount("base") is True
            assert storage.unmount("child") is True
            assert storage.unmount("child") is False
        path = Path(storage.mount("child"))
        try:
            assert sorted(p.name for p in path.iterdir() if p.name.startswith("cycle")) == [f"cycle{i}" for i in range(10)]
        finally:
            storage.unmount("child")
        assert mounts_under(storage.context.home) == []

    # across processes ---------------------------------------------------------------------------

    def test_mount_in_one_process_unmount_in_another(self, storage: Any, tmp_path: Path) -> None:
        """As ``run`` mounts and a later ``rm`` unmounts: the reference outlives the process."""
        self._base(storage)
        path = self.in_another_process(tmp_path, "mount", "base")
        try:
            assert (Path(path) / "etc/a").read_bytes() == b"alpha\n"  # still mounted: the child is gone
            assert str(storage.mount("base")) == path  # this process's reference counts as a second one
            assert self.in_another_process(tmp_path, "unmount", "base") is False
            assert (Path(path) / "keep").read_bytes() == b"kept"
            with pytest.raises(StorageError):
                storage.remove("base")  # a reference is left: the layer is in use
        finally:
            last = storage.unmount("base")
        assert last is True
        assert mounts_under(storage.context.home) == []
        assert storage.unmount("base") is False
        storage.remove("base")
        assert not storage.exists("base")

    def test_references_from_several_processes_add_up(self, storage: Any, tmp_path: Path) -> None:
        """Parallel mounts in several processes take one reference each; the mount goes with
        the last release, whichever process makes it."""
        storage.create("l", None, writable=True)
        with ThreadPoolExecutor(max_workers=4) as pool:
            paths = list(pool.map(lambda _: self.in_another_process(tmp_path, "mount", "l"), range(4)))
        try:
            assert len(set(paths)) == 1
            (Path(paths[0]) / "written").write_text("by the test")
            with ThreadPoolExecutor(max_workers=3) as pool:
                results = list(pool.map(lambda _: self.in_another_process(tmp_path, "unmount", "l"), range(3)))
            assert results == [False, False, False]
            assert (Path(paths[0]) / "written").read_text() == "by the test"
        finally:
            last = self.in_another_process(tmp_path, "unmount", "l")
        assert last is True
        assert mounts_under(storage.context.home) == []
        again = Path(storage.mount("l"))
        try:
            assert (again / "written").read_text() == "by the test"
        finally:
            assert storage.unmount("l") is True

    def test_forced_unmount_in_another_process_drops_every_reference(self, storage: Any, tmp_path: Path) -> None:
        """As ``rm -f`` or ``system check --repair`` of a container whose start died."""
        storage.create("l", None)
        storage.mount("l")
        self.in_another_process(tmp_path, "mount", "l")
        assert self.in_another_process(tmp_path, "force-unmount", "l") is True
        assert mounts_under(storage.context.home) == []
        assert storage.unmount("l") is False
        storage.remove("l")
        assert not storage.exists("l")
