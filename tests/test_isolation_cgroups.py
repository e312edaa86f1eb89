"""cgroups of the linux isolation driver, on the real kernel (v1, v2 or hybrid).

Every cgroup is made below this test process's own cgroup under a unique ``capsa-test-*``
parent; the fixture kills every forked child and removes every directory even when a test fails.
"""
from __future__ import annotations

import errno
import json
import os
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from capsa.errors import IsolationError
from capsa.hostinfo import own_cgroups
from capsa_isolation_linux.cgroups import Cgroup, Limits, own_paths

MiB = 1024 * 1024

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not own_paths(), reason="needs root and mounted cgroups")


class Lab:
    """A unique cgroup parent plus the children forked for a test; cleanup() undoes everything."""

    def __init__(self) -> None:
        self.parent = f"capsa-test-{secrets.token_hex(4)}"
        self.children: list[int] = []

    def fork(self, body: Callable[[], Any]) -> tuple[int, Callable[[], None], Callable[[], Any]]:
        """Fork a child that waits for go(), runs ``body`` and reports its JSON result to result()."""
        go_r, go_w = os.pipe()
        res_r, res_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: never returns into pytest
            try:
                os.close(go_w)
                os.close(res_r)
                os.read(go_r, 1)
                out: Any = {"ok": body()}
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                out = {"error": repr(exc)}
            try:
                os.write(res_w, json.dumps(out).encode())
            finally:
                os._exit(0)
        os.close(go_r)
        os.close(res_w)
        self.children.append(pid)

        def go() -> None:
            os.write(go_w, b"x")
            os.close(go_w)

        def result() -> Any:
            chunks = []
            while chunk := os.read(res_r, 65536):
                chunks.append(chunk)
            os.close(res_r)
            return json.loads(b"".join(chunks) or b"null")

        return pid, go, result

    def reap(self, pid: int) -> int:
        """waitpid() a child; returns its raw status."""
        _, status = os.waitpid(pid, 0)
        self.children.remove(pid)
        return status

    def dirs(self) -> list[str]:
        """Every directory at or below the parent, in every hierarchy."""
        found = []
        for own in own_paths().values():
            for dirpath, _, _ in os.walk(os.path.join(own, self.parent)):
                found.append(dirpath)
        return found

    def cleanup(self) -> None:
        roots = [os.path.join(own, self.parent) for own in own_paths().values()]
        for root in roots:  # thaw first: a frozen task dies only once thawed
            for dirpath, _, files in os.walk(root):
                if "freezer.state" in files:
                    _try_write(os.path.join(dirpath, "freezer.state"), "THAWED")
                if "cgroup.freeze" in files:
                    _try_write(os.path.join(dirpath, "cgroup.freeze"), "0")
        for pid in self.children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in self.children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.children = []
        deadline = time.monotonic() + 10
        for root in roots:
            for dirpath, _, _ in sorted(os.walk(root, topdown=False), key=lambda w: -w[0].count("/")):
                while True:
                    for pid in _procs(dirpath):
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    try:
                        os.rmdir(dirpath)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.02)


def _try_write(path: str, value: str) -> None:
    try:
        with open(path, "w") as fh:
            fh.write(value)
    except OSError:
        pass


def _procs(path: str) -> list[int]:
    try:
        with open(os.path.join(path, "cgroup.procs")) as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def _read(directory: str, name: str) -> str:
    with open(os.path.join(directory, name)) as fh:
        return fh.read().strip()


def _proc_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0]


def _sleeper() -> None:
    time.sleep(120)


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab()
    try:
        yield lab
    finally:
        lab.cleanup()
    assert not lab.dirs(), "cleanup left cgroup directories behind"


def test_limits_membership_and_delete(lab: Lab) -> None:
    cg = Cgroup("ctr", f"{lab.parent}/inner")
    v1_memory = cg.layout.v1_controllers.get("memory")
    memsw = bool(v1_memory) and os.path.exists(os.path.join(own_paths()[v1_memory], "memory.memsw.limit_in_bytes"))
    cg.create(Limits(memory=64 * MiB, memory_swap=128 * MiB if memsw else -1, cpu_quota=50000,
                     cpu_period=100000, cpu_shares=512, pids=64))
    for path in cg.paths().values():
        assert os.path.isdir(path)
        assert path.endswith(f"/{lab.parent}/inner/ctr")

    d, version = cg.controller_path("memory") or pytest.fail("no memory controller")
    if version == 1:
        assert int(_read(d, "memory.limit_in_bytes")) == 64 * MiB
        if memsw:
            assert int(_read(d, "memory.memsw.limit_in_bytes")) == 128 * MiB
    else:
        assert int(_read(d, "memory.max")) == 64 * MiB
    d, version = cg.controller_path("cpu") or pytest.fail("no cpu controller")
    if version == 1:
        assert (_read(d, "cpu.cfs_quota_us"), _read(d, "cpu.cfs_period_us"), _read(d, "cpu.shares")) == (
            "50000", "100000", "512")
    else:
        assert _read(d, "cpu.max") == "50000 100000"
        assert _read(d, "cpu.weight") == str(1 + ((512 - 2) * 9999) // 262142)
    d, _ = cg.controller_path("pids") or pytest.fail("no pids controller")
    assert _read(d, "pids.max") == "64"
    if cg.controller_path("cpuset") and cg.controller_path("cpuset")[1] == 1:  # type: ignore[index]
        assert _read(cg.controller_path("cpuset")[0], "cpuset.cpus")  # type: ignore[index]

    pid, go, _ = lab.fork(_sleeper)
    cg.add(pid)
    go()
    assert cg.pids() == [pid]
    shown = own_cgroups(pid)
    for controller, rel in cg.relative_paths().items():
        assert shown[controller] == rel
    from capsa.drivers.cgroupfiles import usage

    stats = usage(cg.paths().values())  # (what the driver's stats reads)
    assert stats.pids == 1 and stats.memory_limit == 64 * MiB
    assert isinstance(stats.cpu_ns, int)
    assert Cgroup.open("ctr", f"{lab.parent}/inner").paths() == cg.paths()

    with pytest.raises(IsolationError, match="already exists and has processes"):
        Cgroup("ctr", f"{lab.parent}/inner").create()

    cg.delete()
    status = lab.reap(pid)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert not lab.dirs(), "delete() left directories"
    cg.delete()  # idempotent
    with pytest.raises(IsolationError, match="does not exist"):
        Cgroup.open("ctr", f"{lab.parent}/inner")


def test_memory_limit_oom_kills(lab: Lab) -> None:
    with open("/proc/swaps") as fh:
        swap_on = len(fh.read().splitlines()) > 1
    cg = Cgroup("oom", lab.parent)
    try:
        cg.create(Limits(memory=32 * MiB, memory_swap=32 * MiB if swap_on else None))
    except IsolationError as exc:
        pytest.skip(f"swap is on but cannot be limited: {exc}")
    pid, go, result = lab.fork(lambda: len(b"\x01" * (200 * MiB)))
    cg.add(pid)
    go()
    status = lab.reap(pid)
    assert result() is None, "the child survived its allocation"
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert cg.oom_killed()
    cg.delete()


def test_pids_limit_makes_fork_fail(lab: Lab) -> None:
    def forker() -> dict[str, Any]:
        kids, err = [], None
        for _ in range(10):
            try:
                kid = os.fork()
            except OSError as exc:
                err = exc.errno
                break
            if kid == 0:
                time.sleep(60)
                os._exit(0)
            kids.append(kid)
        for kid in kids:
            os.kill(kid, signal.SIGKILL)
            os.waitpid(kid, 0)
        return {"forked": len(kids), "errno": err}

    cg = Cgroup("pids", lab.parent)
    cg.create(Limits(pids=3))
    pid, go, result = lab.fork(forker)
    cg.add(pid)
    go()
    assert result() == {"ok": {"forked": 2, "errno": errno.EAGAIN}}
    lab.reap(pid)
    cg.delete()


def test_freeze_thaw_and_kill_all(lab: Lab) -> None:
    cg = Cgroup("frz", lab.parent)
    cg.create()
    pid, go, _ = lab.fork(_sleeper)
    cg.add(pid)
    go()
    cg.freeze()
    assert cg.is_frozen()
    where = cg.controller_path("freezer")
    if where and where[1] == 1:
        assert _read(where[0], "freezer.state") == "FROZEN"
        assert _proc_state(pid) == "D"
    cg.thaw()
    assert not cg.is_frozen()
    deadline = time.monotonic() + 5
    while _proc_state(pid) != "S" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _proc_state(pid) == "S"

    cg.freeze()
    cg.kill_all(signal.SIGKILL)  # a frozen cgroup is thawed so SIGKILL lands
    status = lab.reap(pid)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert cg.pids() == [] and not cg.is_frozen()

    pid, go, _ = lab.fork(_sleeper)
    cg.add(pid)
    go()
    cg.kill_all(signal.SIGTERM)
    status = lab.reap(pid)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
    cg.delete()
    assert not lab.dirs()


@pytest.mark.parametrize("limits, words", [
    (Limits(memory=1024), "memory limit"),
    (Limits(memory=64 * MiB, memory_swap=32 * MiB), "memory+swap"),
    (Limits(memory_swap=64 * MiB), "memory+swap"),
    (Limits(cpu_period=100), "cpu"),
    (Limits(cpu_quota=10), "cpu"),
])
def test_bad_limits_leave_nothing(lab: Lab, limits: Limits, words: str) -> None:
    cg = Cgroup("bad", f"{lab.parent}/deeper")
    with pytest.raises(IsolationError) as info:
        cg.create(limits)
    assert words in info.value.message and "\n" not in info.value.message
    assert info.value.hint
    assert not lab.dirs()


@pytest.mark.parametrize("name, parent", [
    ("ok", "../escape"), ("ok", "a/../../b"), ("ok", "/abs"), ("a/b", ""), ("..", ""), ("", ""),
])
def test_refuses_paths_leaving_own_cgroup(name: str, parent: str) -> None:
    with pytest.raises(IsolationError):
        Cgroup(name, parent)
