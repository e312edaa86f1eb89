"""``run``'s resource, namespace and health flags on both isolation drivers (capsa's ``linux``
and the ``oci`` driver with crun), read from the container's cgroup files and /proc; the
inspect fields they fill; the periodic health check timer (podman's needs systemd)."""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator

import pytest

from conftest import Capsa
from containers import busybox_store, cleanup, health_timers

CG = "/sys/fs/cgroup"
BLOCK = next((f"/dev/{d}" for d in sorted(os.listdir("/sys/block")) if os.path.exists(f"/dev/{d}")
              and not d.startswith(("loop", "zram", "ram"))), "")


@pytest.fixture(scope="module", params=["linux", "oci"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    if request.param == "oci" and not shutil.which("crun"):
        pytest.skip("crun is not installed")
    config = '[isolation]\ndriver = "oci"\n' if request.param == "oci" else ""
    yield from busybox_store(tmp_path_factory, f"res-{request.param}", config)


@pytest.fixture
def capsa(store: Capsa) -> Iterator[Capsa]:
    yield store
    assert cleanup(store) == []


def test_cgroup_files(capsa: Capsa) -> None:
    flags = ["--cpu-period", "50000", "--cpu-quota", "20000", "--cpuset-cpus", "0", "--memory-reservation", "16m",
             "--memory-swappiness", "5", "--oom-kill-disable", "--device-cgroup-rule", "b 7:* r"]
    if BLOCK:
        flags += ["--device-write-bps", f"{BLOCK}:3mb"]
    script = (f"cat {CG}/cpu/cpu.cfs_period_us {CG}/cpu/cpu.cfs_quota_us {CG}/cpuset/cpuset.cpus "
              f"{CG}/memory/memory.soft_limit_in_bytes {CG}/memory/memory.swappiness; grep oom_kill_disable "
              f"{CG}/memory/memory.oom_control; grep '^b 7' {CG}/devices/devices.list; "
              f"cat {CG}/blkio/blkio.throttle.write_bps_device")
    r = capsa("run", "--rm", *flags, "busybox", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[:7] == ["50000", "20000", "0", str(16 << 20), "5", "oom_kill_disable 1", "b 7:* r"], r.stdout
    if BLOCK:
        st = os.stat(BLOCK)
        assert f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)} {3 << 20}" in lines[7:], r.stdout


def test_process_and_namespaces(capsa: Capsa) -> None:
    host_ipc = os.readlink("/proc/self/ns/ipc")
    r = capsa("run", "--rm", "--oom-score-adj", "300", "--shm-size", "2m", "--sysctl", "kernel.shmmni=999",
              "--group-add", "4321", "--uts", "host", "busybox", "sh", "-c",
              "cat /proc/self/oom_score_adj /proc/sys/kernel/shmmni; df -k /dev/shm | tail -1; hostname; id -G")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[:2] == ["300", "999"], r.stdout
    assert re.match(r"shm\s+2048\s", lines[2]), r.stdout
    assert lines[3] == os.uname().nodename and "4321" in lines[4].split(), r.stdout
    r = capsa("run", "--rm", "--ipc", "host", "busybox", "readlink", "/proc/self/ns/ipc")
    assert (r.returncode, r.stdout.strip()) == (0, host_ipc), r.stderr


def test_inspect_host_config(capsa: Capsa) -> None:
    r = capsa("create", "--name", "hc", "--cpu-period", "50000", "--cpu-quota", "20000", "--cpuset-mems", "0",
              "--memory-reservation", "16m", "--oom-score-adj", "7", "--shm-size", "1m", "--pid", "host",
              "--ipc", "private", "--group-add", "wheel", "busybox", "true")
    assert r.returncode == 0, r.stderr
    doc = json.loads(capsa("inspect", "hc").stdout)[0]
    hc = doc["HostConfig"]
    assert (hc["CpuPeriod"], hc["CpuQuota"], hc["CpusetMems"], hc["MemoryReservation"], hc["OomScoreAdj"],
            hc["ShmSize"], hc["PidMode"], hc["IpcMode"], hc["GroupAdd"]) == (
        50000, 20000, "0", 16 << 20, 7, 1 << 20, "host", "private", ["wheel"]), hc


def test_rt_runtime_under_own_cgroup(capsa: Capsa) -> None:
    """capsa's containers live under capsa's own cgroup: a real-time budget there can be given."""
    r = capsa("run", "--rm", "--cpu-rt-runtime", "1000", "busybox", "cat", f"{CG}/cpu/cpu.rt_runtime_us")
    if r.returncode != 0 and "rt_runtime" in r.stderr:
        pytest.skip(f"no real-time budget in this cgroup: {r.stderr}")
    assert (r.returncode, r.stdout) == (0, "1000\n"), r.stderr


def test_periodic_health_checks(capsa: Capsa) -> None:
    r = capsa("run", "-d", "--health-cmd", "echo ran", "--health-interval", "1s", "busybox", "sleep", "300")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    deadline = time.monotonic() + 15
    health: dict = {}
    while time.monotonic() < deadline:
        health = json.loads(capsa("inspect", cid, "--format", "{{json .State.Health}}").stdout)
        if health["Log"] and len(health["Log"]) >= 2:
            break
        time.sleep(0.3)
    assert health["Status"] == "healthy" and health["Log"][0]["Output"] == "ran\n", health
    assert len(health_timers(capsa, cid)) == 1
    timer = health_timers(capsa, cid)[0]  # detached from the caller: no working directory of its kept busy
    assert (os.readlink(f"/proc/{timer}/cwd"), os.getsid(int(timer))) == ("/", int(timer))
    assert capsa("stop", "-t", "0", cid).returncode == 0
    deadline = time.monotonic() + 5
    while health_timers(capsa, cid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert health_timers(capsa, cid) == [], "the timer outlived its container"
    assert capsa("start", cid).returncode == 0
    assert json.loads(capsa("inspect", cid, "--format", "{{json .State.Health}}").stdout)["Status"] in ("starting", "healthy")
    assert capsa("rm", "-f", "-t", "0", cid).returncode == 0
    deadline = time.monotonic() + 5
    while health_timers(capsa, cid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert health_timers(capsa, cid) == []


def test_device_symlink_is_resolved(capsa: Capsa) -> None:
    """podman-run(1): a host device given as a symbolic link is resolved first."""
    link = capsa.tmp / "null-link"
    if not link.exists():
        link.symlink_to("/dev/null")
    r = capsa("run", "--rm", "--device", f"{link}:/dev/mine", "busybox", "ls", "-l", "/dev/mine")
    assert r.returncode == 0, r.stderr
    assert re.match(r"^c.* 1,\s+3 ", r.stdout), r.stdout


def test_no_timer_for_a_disabled_check(capsa: Capsa) -> None:
    """``--health-cmd none`` keeps its Interval (podman's Config.Healthcheck) but has no check to run."""
    r = capsa("run", "-d", "--health-cmd", "none", "--health-interval", "1s", "busybox", "sleep", "300")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        assert health_timers(capsa, cid) == []
    finally:
        assert capsa("rm", "-f", "-t", "0", cid).returncode == 0


def test_timer_ends_when_the_monitor_dies(capsa: Capsa) -> None:
    """A monitor killed outright leaves state.json saying "running" (capsa then counts the
    container exited: no monitor holds its lock); the timer must not run on forever."""
    import signal

    r = capsa("run", "-d", "--health-cmd", "true", "--health-interval", "1s", "busybox", "sleep", "300")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        assert len(health_timers(capsa, cid)) == 1
        monitor = json.loads((capsa.root / "containers" / cid / "state.json").read_text())["monitor_pid"]
        os.kill(monitor, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while health_timers(capsa, cid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert health_timers(capsa, cid) == [], "the timer outlived its container's monitor"
    finally:
        assert capsa("rm", "-f", "-t", "0", cid).returncode == 0


def test_timer_survives_a_pause(capsa: Capsa) -> None:
    """A paused container is not checked (``healthcheck run`` refuses it, as podman's), and its
    timer waits: after ``unpause`` the checks go on."""
    r = capsa("run", "-d", "--health-cmd", "true", "--health-interval", "1s", "busybox", "sleep", "300")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        assert capsa("pause", cid).returncode == 0
        time.sleep(4.5)  # (more than three intervals: three refused checks in a row ended the timer)
        assert len(health_timers(capsa, cid)) == 1, "the timer of a paused container ended"
        assert capsa("unpause", cid).returncode == 0
    finally:
        assert capsa("rm", "-f", "-t", "0", cid).returncode == 0


def test_image_healthcheck_runs_periodically(capsa: Capsa) -> None:
    """A container takes its image's HEALTHCHECK at create, as podman's (the default 30s
    timeout filled in), and its timer runs it."""
    ctx = capsa.tmp / "hc-image"
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text("FROM busybox\nHEALTHCHECK --interval=1s CMD echo from-image\n")
    r = capsa("build", "-q", "-t", "hcimage", str(ctx))
    assert r.returncode == 0, r.stderr
    cid = ""
    try:
        r = capsa("run", "-d", "hcimage", "sleep", "300")
        assert r.returncode == 0, r.stderr
        cid = r.stdout.strip()
        check = json.loads(capsa("inspect", cid, "--format", "{{json .Config.Healthcheck}}").stdout)
        assert (check["Test"], check["Interval"], check["Timeout"]) == (["CMD-SHELL", "echo from-image"], 10**9, 30 * 10**9), check
        deadline = time.monotonic() + 10
        health: dict = {}
        while time.monotonic() < deadline:
            health = json.loads(capsa("inspect", cid, "--format", "{{json .State.Health}}").stdout)
            if health["Log"]:
                break
            time.sleep(0.3)
        assert health["Status"] == "healthy" and health["Log"][0]["Output"] == "from-image\n", health
    finally:
        if cid:
            assert capsa("rm", "-f", "-t", "0", cid).returncode == 0
        assert capsa("rmi", "hcimage").returncode == 0


def test_timer_of_a_quick_restart_waits_for_the_old_one(capsa: Capsa) -> None:
    """stop + start within a second: the old timer may still hold the timer lock while it
    ends; the new one waits for it a little rather than leaving the container without one."""
    import fcntl

    r = capsa("create", "--health-cmd", "true", "--health-interval", "1s", "busybox", "sleep", "300")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    run_dir = capsa.runroot / "containers" / cid
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / "health-timer.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # (an old timer, about to end)
        assert capsa("start", cid).returncode == 0
        time.sleep(0.5)
        os.close(fd)
        fd = -1
        time.sleep(1)
        assert len(health_timers(capsa, cid)) == 1, "the container was left without a timer"
    finally:
        if fd >= 0:
            os.close(fd)
        assert capsa("rm", "-f", "-t", "0", cid).returncode == 0
