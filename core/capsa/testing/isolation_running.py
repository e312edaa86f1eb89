"""The isolation conformance suite's part on running containers: ``pause``/``resume`` (the
freezer), ``processes`` and ``stats``. Mixed into :class:`capsa.testing.isolation.IsolationConformance`,
whose fixtures and helpers (``iso``, ``make``, ``_wait``) it uses."""
from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from capsa.errors import IsolationError

COUNTER = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /root/t; mv /root/t /root/n; sleep 0.02; done"]


def freezer_says_frozen(pid: int) -> bool:
    """What the kernel says of the cgroup of ``pid``: the v1 freezer's ``freezer.state`` is
    FROZEN, or (without a v1 freezer) cgroup2's ``cgroup.events`` says ``frozen 1``."""
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    entries = {key: path for _, key, path in (line.split(":", 2) for line in lines)}
    for key, path in entries.items():
        if "freezer" in key.split(","):
            return Path(f"/sys/fs/cgroup/freezer{path}/freezer.state").read_text().strip() == "FROZEN"
    for mount in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        events = Path(f"{mount}{entries.get('', '/')}/cgroup.events")
        if events.exists():
            return "frozen 1" in events.read_text().splitlines()
    raise AssertionError(f"no freezer found for process {pid}: {entries}")


def _counter(rootfs: Path) -> int:
    try:
        return int((rootfs / "root/n").read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


class RunningContainerConformance:
    """pause/resume/processes/stats over real containers (see the module docstring)."""

    def _counting(self, iso: Any, tmp_path: Path, **config: Any) -> tuple[str, Any, Path]:
        cid, bundle = self.make(iso, tmp_path, COUNTER, **config)  # type: ignore[attr-defined]
        state = iso.create(cid, bundle, stdio=None)
        iso.start(cid)
        rootfs = bundle.parent / "rootfs"
        deadline = time.monotonic() + 10
        while _counter(rootfs) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _counter(rootfs) >= 2, "the counter never ran"
        return cid, state, rootfs

    def test_pause_freezes_and_resume_thaws(self, iso: Any, tmp_path: Path) -> None:
        cid, state, rootfs = self._counting(iso, tmp_path)
        try:
            with pytest.raises(IsolationError):
                iso.resume(cid)  # running: nothing to resume
            iso.pause(cid)
            assert iso.state(cid).status == "paused"
            assert freezer_says_frozen(state.pid)
            frozen_at = _counter(rootfs)
            time.sleep(0.3)
            assert _counter(rootfs) == frozen_at, "the counter advanced while paused"
            with pytest.raises(IsolationError):
                iso.pause(cid)  # paused already
            assert state.pid in iso.processes(cid)
            iso.resume(cid)
            assert iso.state(cid).status == "running"
            assert not freezer_says_frozen(state.pid)
            deadline = time.monotonic() + 5
            while _counter(rootfs) <= frozen_at + 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert _counter(rootfs) > frozen_at + 2, "the counter did not go on after resume"
        finally:
            iso.kill(cid, signal.SIGKILL)
            self._wait(state.pid)  # type: ignore[attr-defined]
        with pytest.raises(IsolationError):
            iso.pause(cid)  # stopped
        iso.delete(cid)

    def test_a_paused_container_is_deleted_with_force(self, iso: Any, tmp_path: Path) -> None:
        cid, state, _ = self._counting(iso, tmp_path)
        iso.pause(cid)
        with pytest.raises(IsolationError):
            iso.delete(cid)  # paused counts as running: force is needed
        assert iso.state(cid).status == "paused"
        iso.delete(cid, force=True)
        assert self._wait(state.pid) == 128 + signal.SIGKILL  # type: ignore[attr-defined]

    def test_processes_and_stats_come_from_the_cgroup(self, iso: Any, tmp_path: Path) -> None:
        cid, bundle = self.make(iso, tmp_path, ["sh", "-c", "sleep 30 & sleep 30 & wait"],  # type: ignore[attr-defined]
                                memory=64 << 20, pids_limit=50)
        state = iso.create(cid, bundle, stdio=None)
        iso.start(cid)
        try:
            deadline = time.monotonic() + 10
            while len(iso.processes(cid)) < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
            pids = iso.processes(cid)
            assert len(pids) == 3 and state.pid in pids, pids
            for pid in pids:  # each one's cgroup is the container's
                assert cid in Path(f"/proc/{pid}/cgroup").read_text()
            usage = iso.stats(cid)
            assert usage.pids == 3
            assert usage.memory_limit == 64 << 20
            assert usage.memory_usage is not None and 0 < usage.memory_usage < 64 << 20
            assert usage.cpu_ns is not None and usage.cpu_ns > 0
            assert usage.block_read is not None and usage.block_write is not None
        finally:
            iso.kill(cid, signal.SIGKILL)
            self._wait(state.pid)  # type: ignore[attr-defined]
        assert iso.processes(cid) == []
        iso.delete(cid)
        with pytest.raises(IsolationError):
            iso.stats(cid)
        with pytest.raises(IsolationError):
            iso.processes(cid)
