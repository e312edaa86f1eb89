"""What the storage conformance suite's parts share: the driver under test and helpers.

See :mod:`capsa.testing.storage` for the suite itself (:class:`~capsa.testing.storage.StorageConformance`).
"""
from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Any, ClassVar

import pytest

from capsa.testing.drivers import make_driver
from capsa.testing.layertree import Member, layer_tar, tar_dir, tar_file, tree_state


class StorageSuite:
    """The ``storage`` fixture (the driver named ``name``, built with ``options`` under the
    test's temporary directory) and the helpers every part of the suite uses."""

    kind: ClassVar[str] = "storage"
    name: ClassVar[str] = ""
    options: ClassVar[dict[str, Any]] = {}

    @pytest.fixture
    def storage(self, tmp_path: Path) -> Any:
        driver = make_driver("storage", self.name, tmp_path, dict(self.options))
        yield driver
        driver.cleanup()


    @staticmethod
    def _owner() -> tuple[int, int]:
        """An owner that is not the test's own when running as root."""
        return (1234, 5678) if os.geteuid() == 0 else (os.geteuid(), os.getegid())

    @staticmethod
    def _user_xattrs_work(tmp_path: Path) -> bool:
        probe = tmp_path / ".xattr-probe"
        probe.write_bytes(b"")
        try:
            os.setxattr(probe, "user.capsa-probe", b"1")
            return True
        except OSError:
            return False
        finally:
            probe.unlink()

    @staticmethod
    def _state(storage: Any, layer_id: str) -> dict[str, tuple[Any, ...]]:
        path = Path(storage.mount(layer_id))
        try:
            return tree_state(path)
        finally:
            storage.unmount(layer_id)

    @staticmethod
    def _base_members() -> list[Member]:
        return [
            tar_dir("etc"), tar_file("etc/a", b"alpha\n"), tar_file("etc/b", b"beta\n"),
            tar_dir("opt"), tar_file("opt/x", b"x"), tar_dir("opt/sub"), tar_file("opt/sub/z", b"z"),
            tar_dir("srv"), tar_dir("srv/www"), tar_file("srv/www/index.html", b"<html>"),
            tar_file("keep", b"kept"),
        ]

    @staticmethod
    def _needs_apply_diff(storage: Any) -> None:
        """Skip a test of the diff group for a driver that declares apply_diff unimplemented
        (it refuses it with OperationNotSupported, checked by ``DriverContract``)."""
        if "apply_diff" in storage.unimplemented():
            pytest.skip(f"storage driver {storage.name!r} declares apply_diff unimplemented")

    def _base(self, storage: Any, layer_id: str = "base") -> None:
        """A base layer holding :meth:`_base_members`: applied as a diff, or written through a
        writable mount by a driver without apply_diff."""
        if "apply_diff" not in storage.unimplemented():
            storage.create(layer_id, None)
            storage.apply_diff(layer_id, None, layer_tar(self._base_members()))
            return
        storage.create(layer_id, None, writable=True)
        root = Path(storage.mount(layer_id))
        try:
            for info, data in self._base_members():
                path = root / info.name
                if info.type == tarfile.DIRTYPE:
                    path.mkdir(mode=info.mode)
                else:
                    path.write_bytes(data)
                    path.chmod(info.mode)
                os.utime(path, (info.mtime, info.mtime))
        finally:
            storage.unmount(layer_id)

    # create / remove / list ------------------------------------------------------------------

