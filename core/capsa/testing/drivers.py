"""The contract every driver of every kind keeps: loading, options, status, honest refusals."""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, ClassVar

import pytest

from capsa.drivers import contract_class, driver_class, load_driver
from capsa.errors import ConfigError, DriverNotSupported, OperationNotSupported


def read_to_end(fd: int) -> str:
    """Everything a pipe's read end ``fd`` gives until its writers close it, as text; closes it."""
    import os

    chunks = []
    while True:
        data = os.read(fd, 65536)
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def make_driver(kind: str, name: str, tmp_path: Path, options: dict[str, Any] | None = None) -> Any:
    """Load a driver as capsa does, with a root and runroot under ``tmp_path``; skip (with the
    reason) when the host cannot run it."""
    try:
        return load_driver(kind, name, options or {}, root=tmp_path / "root", runroot=tmp_path / "run")
    except DriverNotSupported as exc:
        pytest.skip(f"{kind} driver {name!r} is not supported here: {exc.message}")


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


class DriverContract:
    """Set ``kind`` and ``name``; ``options`` are passed to every driver the suite builds."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    options: ClassVar[dict[str, Any]] = {}

    def make_driver(self, tmp_path: Path, options: dict[str, Any] | None = None) -> Any:
        return make_driver(self.kind, self.name, tmp_path, dict(self.options, **(options or {})))

    def test_loads_through_its_entry_point(self) -> None:
        cls = driver_class(self.kind, self.name)
        assert issubclass(cls, contract_class(self.kind))
        assert cls.kind == self.kind

    def test_construction_writes_nothing(self, tmp_path: Path) -> None:
        self.make_driver(tmp_path)
        assert _tree(tmp_path) == []

    def test_unknown_option_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError) as err:
            load_driver(self.kind, self.name, {"no_such_option_xyz": "1"}, root=tmp_path / "r", runroot=tmp_path / "rr")
        assert "no_such_option_xyz" in err.value.message and err.value.hint
        assert err.value.exit_code == 125

    def test_status_reports_ready_and_detail(self, tmp_path: Path) -> None:
        status = self.make_driver(tmp_path).status()
        assert isinstance(status["ready"], bool)
        assert isinstance(status["detail"], str) and status["detail"]

    def test_unimplemented_operations_refuse_clearly(self, tmp_path: Path) -> None:
        driver = self.make_driver(tmp_path)
        for op in driver.unimplemented():
            params = [p for p in inspect.signature(getattr(driver, op)).parameters.values()
                      if p.default is inspect.Parameter.empty]
            with pytest.raises(OperationNotSupported) as err:
                getattr(driver, op)(*([None] * len(params)))
            assert op in err.value.message and err.value.hint and err.value.exit_code == 125
        assert driver.status()["ready"] is (not driver.unimplemented())
