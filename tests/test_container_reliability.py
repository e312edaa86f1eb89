"""Reliability of real containers: many at once, a CLI killed half-way, forced removal, and
what a process inside a container cannot do to the host. Checked from inside the container
and from the host (records, logs, mounts, cgroups, processes)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import CAPSA, Capsa
from containers import busybox_store, cleanup
from runtime_leftovers import alive, monitor_pids, settle, strict_leftovers


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    yield from busybox_store(tmp_path_factory, "reliability")


@pytest.fixture
def c(store: Capsa) -> Iterator[Capsa]:
    yield store
    left = cleanup(store)
    assert left == [], f"left behind: {left}"
    assert settle(store, []) == []


def argv(c: Capsa, *args: str) -> list[str]:
    return [str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot), *args]


def record_ids(c: Capsa) -> list[str]:
    base = c.root / "containers"
    return [p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")] if base.is_dir() else []


def state_of(c: Capsa, cid: str) -> dict:
    """The container's recorded state (a record without state.json reads as created, as capsa does)."""
    try:
        return json.loads((c.root / "containers" / cid / "state.json").read_text())
    except FileNotFoundError:
        return {"status": "created"} if (c.root / "containers" / cid / "config.json").exists() else {}
    except ValueError:
        return {}


def poll(what, timeout: float = 15, step: float = 0.005):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(step)
    return what()


def test_20_parallel_run_rm(c: Capsa) -> None:
    def one(i: int) -> subprocess.CompletedProcess[str]:
        return c("run", "--rm", "busybox", "sh", "-c", "echo $HOSTNAME", timeout=120)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(20)))
    failures = [(r.returncode, r.stderr) for r in results if r.returncode != 0]
    assert failures == []
    names = [r.stdout.strip() for r in results]
    assert all(len(n) == 12 and all(ch in "0123456789abcdef" for ch in n) for n in names), names
    assert len(set(names)) == 20  # each its own container, each its own output
    assert all(r.stdout == n + "\n" and r.stderr == "" for r, n in zip(results, names))
    assert c("ps", "-a", "-q").stdout == ""
    assert record_ids(c) == []
    assert settle(c, []) == []


def _kill_cli_during_run_d(c: Capsa, name: str, how: str | float) -> subprocess.Popen[str]:
    """Start ``run -d`` and SIGKILL the CLI: once the container's monitor holds it (``monitor``),
    once its record exists (``record``), or after ``how`` seconds."""
    proc = subprocess.Popen(argv(c, "run", "-d", "--name", name, "busybox", "sh", "-c", "sleep 1; echo done"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=c.env)
    if how == "monitor":
        before = set(monitor_pids(c))
        poll(lambda: set(monitor_pids(c)) - before or proc.poll() is not None, step=0.001)
    elif how == "record":
        poll(lambda: record_ids(c) or proc.poll() is not None, step=0.001)
    elif how == "bundle":  # the layer is mounted and the bundle written: the monitor is next
        poll(lambda: list((c.runroot / "containers").glob("*/bundle/config.json")) or proc.poll() is not None,
             step=0.001)
    else:
        time.sleep(float(how))
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return proc


@pytest.mark.parametrize("how", ["monitor", "record", "bundle", 0.02, 0.08, 0.15, 0.3])
def test_cli_killed_during_run_detached(c: Capsa, how: str | float) -> None:
    proc = _kill_cli_during_run_d(c, "victim", how)
    ids = record_ids(c)
    if not ids:  # killed before the container was recorded: nothing may be left of it
        assert proc.returncode == -signal.SIGKILL
        assert strict_leftovers(c, []) == []
        return
    (cid,) = ids
    # ContainerRecords.add writes the record whole and renames it into place: a record that is
    # there is complete.
    assert (c.root / "containers" / cid / "config.json").exists()  # (state.json comes with the first state change)
    # Either the monitor got the container (it runs to completion) or the CLI died before
    # handing it over (it stays created). Running means the monitor is looking after it.
    status = poll(lambda: state_of(c, cid).get("status") in ("running", "exited") and state_of(c, cid)["status"],
                  timeout=5)
    if not status:
        assert state_of(c, cid).get("status") == "created", state_of(c, cid)
        assert monitor_pids(c) == []
        assert "Created" in c("ps", "-a", "--format", "{{.Status}}").stdout
        r = c("rm", "victim")  # a created container that never started is removable and leaves nothing
        assert r.returncode == 0, r.stderr
        assert settle(c, [cid]) == []
        return
    r = c("wait", "victim", timeout=30)
    assert (r.returncode, r.stdout) == (0, "0\n"), r.stderr
    assert c("logs", "victim").stdout == "done\n"
    doc = json.loads(c("inspect", "victim").stdout)[0]
    assert doc["State"]["Status"] == "exited" and doc["State"]["ExitCode"] == 0 and doc["State"]["FinishedAt"]
    assert settle(c, [cid]) == []  # the monitor tore everything down
    assert c("rm", "victim").returncode == 0


def test_cli_killed_during_run_detached_rm(c: Capsa) -> None:
    proc = subprocess.Popen(argv(c, "run", "-d", "--rm", "--name", "gone", "busybox", "sh", "-c", "sleep 1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=c.env)
    before = set(monitor_pids(c))
    assert poll(lambda: set(monitor_pids(c)) - before, step=0.001)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert poll(lambda: c("container", "exists", "gone").returncode == 1, timeout=20)
    assert record_ids(c) == []
    assert settle(c, []) == []


def _foreground(c: Capsa, *args: str) -> tuple[subprocess.Popen[str], str]:
    """A foreground ``run`` of ``sleep 1; echo done``, SIGKILLed once the container runs."""
    proc = subprocess.Popen(argv(c, "run", *args, "busybox", "sh", "-c", "sleep 1; echo done"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=c.env)
    cid = poll(lambda: next((i for i in record_ids(c) if state_of(c, i).get("status") == "running"), None))
    assert cid, proc.poll()
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate()
    assert out == "" and proc.returncode == -signal.SIGKILL
    return proc, cid


def test_cli_killed_during_foreground_run(c: Capsa) -> None:
    _, cid = _foreground(c, "--name", "fg")
    assert c("wait", "fg", timeout=30).stdout == "0\n"
    assert c("logs", "fg").stdout == "done\n"
    assert c("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "fg").stdout == "exited 0\n"
    assert settle(c, [cid]) == []
    assert c("rm", "fg").returncode == 0


def test_cli_killed_during_foreground_run_rm(c: Capsa) -> None:
    _, cid = _foreground(c, "--rm", "--name", "fgrm")
    assert poll(lambda: c("container", "exists", "fgrm").returncode == 1, timeout=20)
    assert record_ids(c) == []
    assert settle(c, [cid]) == []


def test_rm_all_force_leaves_no_mount_cgroup_or_process(c: Capsa) -> None:
    variants = [[], ["--init"], ["-t"], ["--rm"], ["--memory", "32m", "--pids-limit", "20"]]
    ids = []
    for extra in variants:
        r = c("run", "-d", *extra, "busybox", "sh", "-c", "sleep 60 & sleep 60")
        assert r.returncode == 0, r.stderr
        ids.append(r.stdout.strip())
    pids = [json.loads(c("inspect", cid).stdout)[0]["State"]["Pid"] for cid in ids]
    monitors = monitor_pids(c)
    assert all(p > 0 and alive(p) for p in pids) and len(monitors) == len(ids)
    children = []  # every process of the containers, from their cgroups
    for dirpath, _, files in os.walk("/sys/fs/cgroup"):
        if os.path.basename(dirpath).removeprefix("capsa-") in ids and "cgroup.procs" in files:
            children += [int(x) for x in Path(dirpath, "cgroup.procs").read_text().split()]
    assert len(set(children)) >= 2 * len(ids)
    r = c("rm", "-a", "-f", timeout=120)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.split()) == sorted(ids)
    assert c("ps", "-a", "-q").stdout == ""
    left = strict_leftovers(c, ids, pids + monitors + children)  # at once: rm waited for the teardown
    assert left == []
    with open("/proc/self/mountinfo") as fh:
        assert str(c.root) not in fh.read()


def test_container_cannot_see_or_signal_host_processes(c: Capsa) -> None:
    host = subprocess.Popen(["sleep", "60"])
    try:
        script = (f"kill -0 {host.pid} && echo SIGNALLED; kill -0 {os.getpid()} && echo SIGNALLED; "
                  "kill -0 1 && echo own-pid1; ps -o pid,comm | tail -n +2; "
                  "ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' '")
        r = c("run", "--rm", "busybox", "sh", "-c", script)
        assert "SIGNALLED" not in r.stdout and "own-pid1" in r.stdout
        assert "No such process" in r.stderr or "can't kill" in r.stderr
        lines = r.stdout.splitlines()
        ps = [line.split() for line in lines[1:-1]]
        assert ps and all(int(pid) < 10 for pid, _ in ps) and {comm for _, comm in ps} <= {"sh", "ps", "tail", "exe"}
        assert all(int(p) < 10 for p in lines[-1].split())
        assert alive(host.pid)
    finally:
        host.kill()
        host.wait()


def test_container_cannot_remount_root_write_proc_sys_load_modules_or_mknod(c: Capsa, tmp_path: Path) -> None:
    modules = Path("/proc/modules")  # absent on a kernel built without module support
    before_modules = modules.read_text() if modules.exists() else None
    domain = Path("/proc/sys/kernel/domainname").read_text()
    steps = {
        "remount": "mount -o remount,ro / ",
        "remount-bind": "mount -o remount,bind,ro / ",
        "mount-proc": "mount -t proc proc /mnt",
        "proc-sys": "echo evil > /proc/sys/kernel/domainname",
        "proc-sys-vm": "echo 3 > /proc/sys/vm/drop_caches",
        "insmod": "printf '\\177ELF-not-a-module' > /tmp/m.ko && insmod /tmp/m.ko",
        "mknod-c": "mknod /tmp/mem c 1 1",
        "mknod-b": "mknod /tmp/sda b 8 0",
    }
    script = "; ".join(f"{cmd} 2>/dev/null && echo ALLOWED-{name} || echo denied-{name}" for name, cmd in steps.items())
    script += "; grep ' / / ' /proc/self/mountinfo; ls /tmp"
    r = c("run", "--rm", "busybox", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    assert "ALLOWED" not in r.stdout, r.stdout
    assert all(f"denied-{name}" in r.stdout for name in steps)
    root_line = next(line for line in r.stdout.splitlines() if " / / " in line)
    assert " rw," in root_line or " rw " in root_line  # the remount did not take
    assert "mem" not in r.stdout.split() and "sda" not in r.stdout.split()
    assert (modules.read_text() if modules.exists() else None) == before_modules
    assert Path("/proc/sys/kernel/domainname").read_text() == domain
    # the errors are the kernel's refusals (no capability, or the seccomp filter), not typos
    r = c("run", "--rm", "busybox", "sh", "-c", "mknod /tmp/x c 1 3; insmod /etc/passwd; "
                                              "mount -o remount,ro /; echo 1 > /proc/sys/kernel/domainname")
    lines = r.stderr.lower().splitlines()
    assert len(lines) == 4 and all(any(w in line for w in ("not permitted", "permission denied", "read-only file system",
                                                           "function not implemented")) for line in lines), r.stderr
