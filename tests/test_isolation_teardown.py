"""The linux driver's short paths, with real containers, cgroups and processes: delete of a
stopped container removes its cgroup by rmdir alone and falls back to killing when something is
left; the Cgroup made by create is reused by state and delete; the state directory goes without
shutil; in a capsa monitor, importing the driver loads what create needs (and nowhere else)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from capsa.hostinfo import cgroup_layout
from test_isolation_runtime import Runtime, cgroup_dirs, default_spec, sh

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path("/bin/busybox").is_file(),
                                reason="needs root and Debian's busybox-static")


def _sleeper_in(cgroup: object) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(["sleep", "60"])
    cgroup.add(proc.pid)  # type: ignore[attr-defined]
    return proc


# -- removing a stopped container's cgroup ---------------------------------------------------------

def test_remove_if_empty_removes_only_empty_cgroups() -> None:
    from capsa_isolation_linux.cgroups import Cgroup
    from capsa_isolation_linux.state import remove_if_empty

    parent = f"capsa-teardown-{os.getpid()}"
    cgroup = Cgroup("capsa-leaf", parent)
    cgroup.create()
    proc = _sleeper_in(cgroup)
    try:
        assert remove_if_empty(cgroup) is False  # a member: nothing is killed, the dirs stay
        assert proc.poll() is None and cgroup.exists() and cgroup.pids() == [proc.pid]
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5
    while cgroup.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert remove_if_empty(cgroup) is True
    assert not cgroup.exists()
    layout = cgroup_layout()
    mounts = list(layout.v1_controllers.values()) + ([layout.v2_mount] if layout.v2_mount else [])
    assert not [m for m in set(mounts) if list(Path(m).glob(f"**/{parent}"))]  # the parent chain went too
    assert remove_if_empty(cgroup) is True  # idempotent


def test_delete_kills_what_a_stopped_container_left_behind(runtime: Runtime) -> None:
    """Without a pid namespace a child outlives the container's PID 1: the container is stopped,
    its cgroup is not empty, and delete falls back to killing what is in it."""
    spec = sh("sleep 60 & echo started")
    spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != "pid"]
    cid, pid = runtime.create(spec)
    runtime.driver.start(cid)
    assert os.waitstatus_to_exitcode(runtime.wait(pid)) == 0
    assert runtime.driver.state(cid).status == "stopped"
    left = runtime.driver._cgroup(runtime.driver._dir(cid).load()).pids()
    assert len(left) == 1  # the sleep, reparented to us (a subreaper)
    runtime.driver.delete(cid)
    assert not cgroup_dirs(cid)
    _, status = os.waitpid(left[0], 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_create_keeps_its_cgroup_for_state_and_delete(runtime: Runtime, tmp_path: Path) -> None:
    from capsa.drivers.base import DriverContext
    from capsa_isolation_linux import LinuxDriver

    cid, pid = runtime.create(default_spec(["true"]))
    kept = runtime.driver._cgroups[cid]
    doc = runtime.driver._dir(cid).load()
    assert runtime.driver._cgroup(doc) is kept and kept.paths() == doc["cgroup"]["paths"]
    runtime.driver.start(cid)
    runtime.wait(pid)
    assert runtime.driver.state(cid).annotations["io.capsa.oom-killed"] == "false"
    assert runtime.driver._cgroups[cid] is kept
    runtime.driver.delete(cid)
    assert cid not in runtime.driver._cgroups and not cgroup_dirs(cid)
    # Another driver (another process, as `capsa rm` is) finds the cgroup from the saved state.
    other = LinuxDriver(DriverContext("isolation", "linux", tmp_path / "root", tmp_path / "run"))
    cid, pid = runtime.create(default_spec(["true"]))
    runtime.driver.start(cid)
    runtime.wait(pid)
    assert other.state(cid).annotations["io.capsa.oom-killed"] == "false"
    other.delete(cid)
    assert not cgroup_dirs(cid) and not (tmp_path / "run" / "isolation" / "linux" / cid).exists()
    runtime.driver.delete(cid)  # an unknown container: nothing to do, and the kept Cgroup is dropped
    assert cid not in runtime.driver._cgroups


def test_state_dir_remove(tmp_path: Path) -> None:
    from capsa_isolation_linux.state import StateDir

    sd = StateDir(tmp_path, "c1")
    sd.make()
    sd.save({"id": "c1"})
    Path(sd.path, ".state.json.1.tmp").write_text("{}")
    sd.remove()
    assert not os.path.exists(sd.path)
    sd.remove()  # idempotent
    sd.make()
    Path(sd.path, "unexpected", "deeper").mkdir(parents=True)
    sd.remove()  # what it does not expect goes too
    assert not os.path.exists(sd.path)


# -- what importing the driver loads -------------------------------------------------------------

_PROBE = """
import sys
if sys.argv[1] == "named":  # a process named like a monitor: the name changes nothing
    with open("/proc/self/comm", "w") as fh:
        fh.write("capsa-monitor")
import capsa.drivers.isolation, capsa.errors, capsa.hostinfo
before = set(sys.modules)
import capsa_isolation_linux, capsa_isolation_linux.caps, capsa_isolation_linux.seccomp
from capsa_isolation_linux import caps, seccomp
if sys.argv[1] == "monitor":  # what the monitor does while it idles
    capsa_isolation_linux.LinuxDriver.warm_up()
print(" ".join(sorted(set(sys.modules) - before)))
print(len(__import__("capsa.security.caps").security.caps._LAST_CAP), seccomp._lib.cache_info().currsize)
"""


def _probe(role: str) -> tuple[set[str], str]:
    out = subprocess.run([sys.executable, "-c", _PROBE, role], capture_output=True, text=True, check=True).stdout
    modules, caches = out.splitlines()
    return set(modules.split()), caches


def test_create_modules_load_on_the_monitors_warm_up_call_only() -> None:
    """Importing the driver keeps create's modules lazy, whatever the process is named; the
    monitor's explicit ``warm_up()`` (the driver contract's optional method) loads them."""
    create = {f"capsa_isolation_linux.{m}" for m in ("launcher", "rootfs", "namespaces", "join", "state",
                                                      "cgroups", "seccomp_cache", "warmup")}
    for role in ("cli", "named"):
        loaded, caches = _probe(role)
        assert not loaded & create, loaded & create  # stop, kill, rm and the CLI's spec import stay lazy
        assert "typing" not in loaded  # (capsa's run path does without typing)
        assert caches == "0 0"
    loaded, caches = _probe("monitor")
    assert create <= loaded, create - loaded
    assert "typing" not in loaded
    assert caches == "1 1"  # cap_last_cap read and libseccomp loaded while the monitor idles
