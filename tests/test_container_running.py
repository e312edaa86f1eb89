"""``pause``/``unpause``, ``top`` and ``stats`` (podman's), for real, over both isolation
drivers where it matters (``linux``, and ``oci`` with crun): a busybox store of each."""
from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from capsa.testing.isolation_running import freezer_says_frozen
from conftest import CAPSA, Capsa
from containers import BOTH, driver_store_fixtures

COUNTER = "i=0; while :; do i=$((i+1)); echo $i > /tmp/t; mv /tmp/t /tmp/n; sleep 0.05; done"


store, oci_store, c = driver_store_fixtures("running")


def _error(r: subprocess.CompletedProcess[str], code: int = 125) -> str:
    """The one ``Error:`` line of a failed command (its hint may follow)."""
    assert r.returncode == code and r.stdout == "", (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert lines and lines[0].startswith("Error: "), r.stderr
    return lines[0]


def _pid(c: Capsa, ref: str) -> int:
    return int(c("inspect", "--format", "{{.State.Pid}}", ref).stdout)


def _counter(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/root/tmp/n").read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def _counting(c: Capsa, name: str) -> int:
    assert c("run", "-d", "--name", name, "busybox", "sh", "-c", COUNTER).returncode == 0
    pid = _pid(c, name)
    deadline = time.monotonic() + 10
    while _counter(pid) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _counter(pid) >= 2
    return pid


def _status(c: Capsa, ref: str) -> str:
    return c("inspect", "--format", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}", ref).stdout.strip()


# -- pause / unpause ------------------------------------------------------------------------------

@BOTH
def test_pause_freezes_the_container_and_unpause_lets_it_go_on(c: Capsa) -> None:
    pid = _counting(c, "counter")
    r = c("pause", "counter")
    assert (r.returncode, r.stdout, r.stderr) == (0, "counter\n", "")
    assert _status(c, "counter") == "paused true false"
    assert freezer_says_frozen(pid)
    assert c("ps", "--format", "{{.Names}} {{.Status}}").stdout == ""  # (as podman: running ones only)
    assert c("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout == "counter Paused\n"
    assert c("ps", "--filter", "status=paused", "-q").stdout.strip() != ""
    frozen_at = _counter(pid)
    time.sleep(1.5)  # (past the monitor's hand-over to its lean form, 1 s after the start)
    assert _counter(pid) == frozen_at, "the container ran while paused"
    cid = c("inspect", "--format", "{{.Id}}", "counter").stdout.strip()
    assert _error(c("pause", "counter")) == f'Error: "{cid}" is already paused: container state improper'
    assert "can only stop created or running containers" in _error(c("stop", "counter"))
    assert "unable to restart a container in a paused or unknown state" in _error(c("restart", "counter"))
    assert _status(c, "counter") == "paused true false" and _counter(pid) == frozen_at
    r = c("container", "unpause", "counter")
    assert (r.returncode, r.stdout, r.stderr) == (0, "counter\n", "")
    assert _status(c, "counter") == "running false true"
    assert not freezer_says_frozen(pid)
    deadline = time.monotonic() + 5
    while _counter(pid) <= frozen_at + 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _counter(pid) > frozen_at + 2, "the container did not go on after unpause"
    assert _error(c("unpause", "counter")) == f'Error: "{cid}" is not paused, can\'t unpause: container state improper'
    assert c("stop", "-t", "0", "counter").returncode == 0
    assert _error(c("pause", "counter")) == 'Error: "exited" is not running, can\'t pause: container state improper'
    c("rm", "counter")


@BOTH
def test_a_paused_container_can_be_killed_waited_for_and_removed(c: Capsa) -> None:
    c("run", "-d", "--name", "k", "busybox", "sleep", "60")
    c("run", "-d", "--name", "r", "busybox", "sleep", "60")
    assert c("pause", "k", "r").stdout == "k\nr\n"
    waiter = subprocess.Popen([str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot), "wait", "k"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=c.env)
    try:
        time.sleep(0.3)
        assert waiter.poll() is None  # a paused container is not done
        assert c("kill", "k").returncode == 0  # SIGKILL: it is thawed so that it dies, as podman does
        out, err = waiter.communicate(timeout=30)
    finally:
        waiter.kill()
    assert (waiter.returncode, out) == (0, "137\n"), err
    assert c("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "k").stdout == "exited 137\n"
    r = c("rm", "r")
    assert r.returncode == 2 and "paused" in r.stderr
    assert c("rm", "-f", "r").returncode == 0
    c("run", "-d", "--name", "a", "busybox", "sleep", "60")
    assert c("pause", "a").returncode == 0
    assert c("kill", "--all").returncode == 0  # paused ones too, as podman
    assert c("wait", "a").stdout == "137\n"
    c("rm", "a")
    assert c("container", "exists", "r").returncode == 1
    c("rm", "k")


def test_pause_and_unpause_select_and_refuse_as_podman(c: Capsa, tmp_path: Path) -> None:
    assert "no such container" in _error(c("pause", "nosuch"))
    assert "no such container" in _error(c("unpause", "nosuch"))
    c("create", "--name", "made", "busybox", "true")
    assert _error(c("pause", "made")) == 'Error: "created" is not running, can\'t pause: container state improper'
    assert "at least one container" in _error(c("pause"))
    assert "cannot be used together" in _error(c("pause", "--all", "made"))
    assert "invalid filter key" in _error(c("pause", "--filter", "volume=x"))
    c("run", "-d", "--name", "one", "busybox", "sleep", "60")
    c("run", "-d", "--name", "two", "busybox", "sleep", "60")
    cid = c("inspect", "--format", "{{.Id}}", "two").stdout.strip()
    (tmp_path / "cid").write_text(cid)
    assert c("pause", "--cidfile", str(tmp_path / "cid")).stdout == f"{cid}\n"
    r = c("pause", "--all")  # the running ones only: "two" is paused already, "made" created
    one = c("inspect", "--format", "{{.Id}}", "one").stdout.strip()
    assert (r.returncode, r.stdout) == (0, f"{one}\n"), r.stderr
    r = c("pause", "one", "made")  # on through every one, 125 at the end
    assert r.returncode == 125 and r.stdout == "" and r.stderr.count("Error: ") == 2
    assert c("unpause", "--filter", "name=one").stdout == f"{one}\n"
    r = c("pause", "--filter", "name=made")  # --filter alone: an error for each match not running, as podman
    assert _error(r) == 'Error: "created" is not running, can\'t pause: container state improper'
    assert c("unpause", "--all").stdout == f"{cid}\n"  # (--all: the paused ones only, silently)
    assert c("pause", "--latest").stdout == f"{cid}\n"  # ("two", the newest)
    assert c("unpause", "--latest").stdout == f"{cid}\n"
    assert c("ps", "--filter", "status=paused", "-q").stdout == ""
    c("rm", "-f", "made", "one", "two")


# -- stats ----------------------------------------------------------------------------------------

def _size(text: str) -> float:
    """go-units' human size back to bytes: ``3.092MB`` -> 3092000."""
    m = re.fullmatch(r"([\d.]+)([kMGTP]?B)", text)
    assert m, text
    return float(m.group(1)) * 1000 ** ["B", "kB", "MB", "GB", "TB", "PB"].index(m.group(2))


@BOTH
def test_stats_no_stream_reads_the_containers_cgroup(c: Capsa) -> None:
    cid = c("run", "-d", "--name", "s", "--memory", "64m", "busybox", "sh", "-c",
            "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 60 & sleep 60 & wait").stdout.strip()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = c("stats", "--no-stream", "--format", "json", "s")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        if doc[0]["pids"] == "3":
            break
        time.sleep(0.1)
    assert r.stdout.startswith("[\n {\n  \"id\": ")  # podman's one-space indent, no screen clearing
    (entry,) = doc
    assert list(entry) == ["id", "name", "cpu_time", "cpu_percent", "avg_cpu", "mem_usage", "mem_percent",
                           "net_io", "block_io", "pids"]
    assert (entry["id"], entry["name"], entry["pids"]) == (cid[:12], "s", "3")
    usage, limit = (_size(x) for x in entry["mem_usage"].split(" / "))
    assert limit == 67.11e6 and 0 < usage < limit  # --memory 64m = 67108864 bytes
    assert abs(float(entry["mem_percent"].rstrip("%")) - usage / limit * 100) < 0.1
    assert re.fullmatch(r"\d+\.\d\d%", entry["cpu_percent"]) and float(entry["cpu_percent"][:-1]) > 0  # (it counted)
    assert entry["cpu_time"].endswith("s") and entry["cpu_time"] != "0s"
    pid = _pid(c, "s")
    eth0 = next(line for line in Path(f"/proc/{pid}/net/dev").read_text().splitlines() if line.strip().startswith("eth0:"))
    assert re.fullmatch(r"[\d.]+[kMGT]?B / [\d.]+[kMGT]?B", entry["net_io"])  # eth0's (podman reads it alone)
    assert _size(entry["net_io"].split(" / ")[0]) <= int(eth0.partition(":")[2].split()[0])
    c("run", "-d", "--name", "offline", "--network", "none", "busybox", "sleep", "60")
    assert c("stats", "--no-stream", "--format", "{{.NetIO}}", "offline").stdout == "-- / --\n"  # no eth0, as podman
    c("rm", "-f", "-t", "0", "offline")
    r = c("container", "stats", "--no-stream", "--no-trunc", "--format", "{{.ContainerID}} {{.PIDs}} {{.MemLimit}}", "s")
    assert r.stdout == f"{cid} 3 {64 << 20}\n"
    table = c("stats", "--no-stream").stdout.splitlines()  # every running container, by default
    # (the same columns; their widths follow the values, which change between two reads)
    assert c("stats", "--no-stream", "--format", "table").stdout.splitlines()[0].split() == table[0].split()
    assert table[0].split() == ["ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT", "MEM", "%", "NET", "IO",
                                "BLOCK", "IO", "PIDS", "CPU", "TIME", "Avg", "CPU", "%"]
    assert len(table) == 2 and table[1].startswith(f"{cid[:12]}  s ")
    assert c("pause", "s").returncode == 0  # a paused container has counters too
    assert c("stats", "--no-stream", "--format", "{{.Name}} {{.PIDS}}", "s").stdout == "s 3\n"
    c("rm", "-f", "s")


def test_stats_streams_until_interrupted_and_refuses_bad_input(c: Capsa) -> None:
    import signal

    assert c("stats", "--no-stream").stdout.splitlines()[0].startswith("ID ")  # nothing runs: the header
    c("run", "-d", "--name", "live", "busybox", "sleep", "60")
    proc = subprocess.Popen([str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot), "stats", "-i", "1",
                             "--format", "{{.Name}}", "live"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=c.env,  # (born ignoring SIGINT, as a background job: still ends)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    time.sleep(2.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out.count("\033[2J\033[1;1H") >= 2 and out.count("live\n") >= 2  # the screen redrawn each round
    c("create", "--name", "idle", "busybox", "true")
    assert "container state improper" in _error(c("stats", "--no-stream", "idle"))
    assert "no such container" in _error(c("stats", "--no-stream", "nosuch"))
    assert "cannot be used together" in _error(c("stats", "--all", "live"))
    assert "--interval" in _error(c("stats", "--interval", "0", "live"))
    assert "Bogus" in _error(c("stats", "--no-stream", "--format", "{{.Bogus}}", "live"))
    c("rm", "-f", "live", "idle")


# -- top ------------------------------------------------------------------------------------------

def _rows(text: str) -> list[list[str]]:
    import re

    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()]


@BOTH
def test_top_lists_the_containers_processes_with_podmans_descriptors(c: Capsa) -> None:
    c("run", "-d", "--name", "t", "-u", "alice", "busybox", "sh", "-c", "sleep 100 & sleep 101 & wait")
    deadline = time.monotonic() + 10
    while len(c("top", "t").stdout.splitlines()) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    rows = _rows(c("top", "t").stdout)
    assert rows[0] == ["USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND"]
    assert [r[:3] for r in rows[1:]] == [["alice", "1", "0"], ["alice", "2", "1"], ["alice", "3", "1"]]
    assert [r[7] for r in rows[1:]] == ["sh -c sleep 100 & sleep 101 & wait", "sleep 100", "sleep 101"]
    assert all(r[5] == "?" and r[4].endswith("s") and float(r[3]) >= 0 for r in rows[1:])
    r = c("container", "top", "t", "pid,comm", "group", "%U", "hpid", "nice", "state", "seccomp", "capeff", "capbnd")
    rows = _rows(r.stdout)
    assert rows[0] == ["PID", "COMMAND", "GROUP", "USER", "HPID", "NI", "STATE", "SECCOMP", "EFFECTIVE CAPS",
                       "BOUNDING CAPS"]
    assert [row[:4] for row in rows[1:]] == [["1", "sh", "alice", "alice"], ["2", "sleep", "alice", "alice"],
                                             ["3", "sleep", "alice", "alice"]]
    cid = c("inspect", "--format", "{{.Id}}", "t").stdout.strip()
    for row in rows[1:]:  # the host's pids of the container's cgroup
        assert cid in Path(f"/proc/{row[4]}/cgroup").read_text()
        assert row[5:8] == ["0", "S", "filter"] and row[8] == "none"  # (uid 1000: no effective capabilities)
        assert row[9].split(",")[:3] == ["CHOWN", "DAC_OVERRIDE", "FOWNER"]
    hpids = [row[4] for row in rows[1:]]
    r = c("top", "t", "-o", "pid,comm")  # not descriptors: the host's ps on the container's processes
    assert r.returncode == 0 and [line.split()[0] for line in r.stdout.splitlines()[1:]] == hpids, r.stderr
    c("rm", "-f", "t")


def test_top_reads_users_inside_the_container_and_refuses_bad_input(c: Capsa, tmp_path: Path) -> None:
    decoy = tmp_path / "decoy-passwd"
    decoy.write_text("hacked:x:0:0:host file:/:/bin/sh\n")
    # the container's /etc/passwd points at a host path: it must be looked up inside the container
    c("run", "-d", "--name", "evil", "busybox", "sh", "-c", f"rm /etc/passwd; ln -s /../../../..{decoy} /etc/passwd; "
      "touch /tmp/ready; sleep 100")
    pid = _pid(c, "evil")
    deadline = time.monotonic() + 10
    while not Path(f"/proc/{pid}/root/tmp/ready").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _rows(c("top", "evil", "user", "pid").stdout)[1] == ["0", "1"]  # no entry for uid 0: its number
    assert "ps(1) option" in _error(c("top", "evil", "-u", "root"))  # -u would select the host's processes
    for words in (["-eo", "user,pid,comm"], ["-e", "-o", "pid,comm"], ["-A", "-o", "pid,comm"], ["ax", "-o", "pid,comm"]):
        r = c("top", "evil", *words)  # podman's documented example: --pid limits ps to the container already
        assert r.returncode == 0, (words, r.stderr)
        lines = r.stdout.splitlines()
        assert lines[0].split()[-2:] == ["PID", "COMMAND"] and [ln.split()[-1] for ln in lines[1:]] == ["sleep"], \
            (words, r.stdout)
        assert lines[1].split()[-2] == str(pid)  # (the host's ps: host pids)
    assert "ps(1) option" in _error(c("top", "evil", "bogus"))
    assert "no such container" in _error(c("top", "nosuch"))
    assert "must provide the name" in _error(c("top"))
    assert c("pause", "evil").returncode == 0
    assert _error(c("top", "evil")) == "Error: top can only be used on running containers: container state improper"
    c("create", "--name", "made", "busybox", "true")
    assert "top can only be used on running containers" in _error(c("top", "made"))
    assert "pid" in c("top", "--list-descriptors").stdout.split()
    c("rm", "-f", "evil", "made")


def test_the_cgroup2_freezer_freezes_and_thaws(tmp_path: Path) -> None:
    """capsa.drivers.cgroupfiles on cgroup2 alone (the v1 freezer is what this hybrid host's
    containers get): a process in a cgroup2 directory of its own stops and goes on."""
    import os
    import signal

    from capsa.drivers import cgroupfiles
    from capsa.hostinfo import cgroup_layout, own_cgroups

    layout = cgroup_layout()
    if not layout.v2_mount or "" not in own_cgroups():
        pytest.skip("no cgroup2 hierarchy here")
    d = Path(layout.v2_mount + own_cgroups()[""].rstrip("/")) / f"capsa-test-freeze-{os.getpid()}"
    d.mkdir()
    proc = subprocess.Popen(["sh", "-c", f"while :; do date +%s%N > {tmp_path}/n; sleep 0.02; done"])
    try:
        (d / "cgroup.procs").write_text(str(proc.pid))
        time.sleep(0.2)
        assert cgroupfiles.freezer([str(d)]) == (str(d), 2) and not cgroupfiles.is_frozen([str(d)])
        cgroupfiles.set_frozen([str(d)], True)
        assert cgroupfiles.is_frozen([str(d)]) and "frozen 1" in (d / "cgroup.events").read_text()
        before = (tmp_path / "n").read_text()
        time.sleep(0.3)
        assert (tmp_path / "n").read_text() == before
        cgroupfiles.set_frozen([str(d)], False)
        time.sleep(0.3)
        assert (tmp_path / "n").read_text() != before
        assert proc.pid in cgroupfiles.members([str(d)])  # (and its children)
        assert cgroupfiles.usage([str(d)]).cpu_ns  # cpu.stat's usage_usec
    finally:
        cgroupfiles.set_frozen([str(d)], False)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                d.rmdir()
                break
            except OSError:
                time.sleep(0.02)


# -- races and half-done pauses (review findings) -------------------------------------------------

DEAF = "trap '' TERM; while :; do sleep .1; done"  # ignores stop's SIGTERM: only SIGKILL ends it


def _freezer_file(pid: int) -> tuple[Path, str, str]:
    """(file, frozen, thawed) of the kernel's freezer of process ``pid``'s cgroup: v1's
    freezer.state, else cgroup2's cgroup.freeze; written directly, behind capsa's back."""
    entries = {key: path for _, key, path in (line.split(":", 2) for line in
                                              Path(f"/proc/{pid}/cgroup").read_text().splitlines())}
    for key, path in entries.items():
        if "freezer" in key.split(","):
            return Path(f"/sys/fs/cgroup/freezer{path}/freezer.state"), "FROZEN", "THAWED"
    for mount in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if Path(f"{mount}{entries.get('', '/')}/cgroup.freeze").exists():
            return Path(f"{mount}{entries.get('', '/')}/cgroup.freeze"), "1", "0"
    raise AssertionError(f"no freezer for process {pid}")


def _set_frozen_behind(pid: int, frozen: bool) -> None:
    path, on, off = _freezer_file(pid)
    path.write_text(on if frozen else off)
    deadline = time.monotonic() + 5
    while freezer_says_frozen(pid) != frozen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert freezer_says_frozen(pid) == frozen


def _record(c: Capsa, ref: str) -> dict[str, object]:
    cid = c("inspect", "--format", "{{.Id}}", ref).stdout.strip()
    return json.loads((c.root / "containers" / cid / "state.json").read_text())


@BOTH
def test_pause_refuses_a_container_being_stopped_so_the_stop_ends(c: Capsa) -> None:
    """stop's SIGTERM is ignored; a pause arriving before its SIGKILL would freeze the container
    and (v1 freezer) the SIGKILL would never be handled: the pause is refused, as podman's of a
    "stopping" container, and the stop ends."""
    assert c("run", "-d", "--name", "deaf", "busybox", "sh", "-c", DEAF).returncode == 0
    stopper = subprocess.Popen([str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot), "stop", "-t", "2",
                                "deaf"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=c.env)
    try:
        deadline = time.monotonic() + 10
        while not _record(c, "deaf").get("stop_requested") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _error(c("pause", "deaf")) == 'Error: "stopping" is not running, can\'t pause: container state improper'
        out, err = stopper.communicate(timeout=30)
    finally:
        stopper.kill()
    assert stopper.returncode == 0, err
    assert _status(c, "deaf") == "exited false false"
    c("rm", "deaf")


@BOTH
def test_stop_kills_a_container_frozen_behind_a_running_record(c: Capsa) -> None:
    """A freeze the record does not know of (a pause killed between freezing and recording):
    stop's SIGKILL thaws the container whatever the record says, or it would wait for ever."""
    assert c("run", "-d", "--name", "frozen", "busybox", "sh", "-c", DEAF).returncode == 0
    pid = _pid(c, "frozen")
    _set_frozen_behind(pid, True)
    try:
        r = c("stop", "-t", "1", "frozen", timeout=30)
    finally:
        if Path(f"/proc/{pid}").exists():
            _set_frozen_behind(pid, False)
    assert r.returncode == 0, r.stderr
    assert "resorting to SIGKILL" in r.stderr
    assert _status(c, "frozen") == "exited false false"
    c("rm", "frozen")


@BOTH
def test_pause_and_unpause_follow_the_kernels_freezer_over_a_half_written_record(c: Capsa) -> None:
    """A pause killed between freezing and recording leaves a frozen cgroup recorded running;
    an unpause killed between thawing and recording, a thawed one recorded paused. Either way
    pause and unpause do their part (or just correct the record), and system check finds it."""
    pid = _counting(c, "half")
    try:
        _set_frozen_behind(pid, True)  # frozen, recorded running
        check = c("system", "check", timeout=120)
        assert "recorded running but its cgroup is frozen" in check.stdout, check.stdout + check.stderr
        assert c("unpause", "half").returncode == 0  # (was: "not paused")
        assert not freezer_says_frozen(pid) and _status(c, "half") == "running false true"
        _set_frozen_behind(pid, True)
        assert c("pause", "half").returncode == 0  # (was: "already paused"): recorded paused now
        assert freezer_says_frozen(pid) and _status(c, "half") == "paused true false"
        _set_frozen_behind(pid, False)  # thawed, recorded paused
        assert "recorded paused but its cgroup is thawed" in c("system", "check", timeout=120).stdout
        assert c("pause", "half").returncode == 0  # (was: "already paused"): frozen again
        assert freezer_says_frozen(pid) and _status(c, "half") == "paused true false"
        _set_frozen_behind(pid, False)
        assert c("unpause", "half").returncode == 0  # recorded running, nothing left to thaw
        assert _status(c, "half") == "running false true"
        _set_frozen_behind(pid, True)
        repair = c("system", "check", "--repair", timeout=120)
        assert "recorded running but its cgroup is frozen" in repair.stdout, repair.stdout + repair.stderr
        assert _status(c, "half") == "paused true false" and freezer_says_frozen(pid)  # the record follows the kernel
        assert "its cgroup" not in c("system", "check", timeout=120).stdout
        assert c("unpause", "half").returncode == 0
        assert not freezer_says_frozen(pid)
    finally:
        if Path(f"/proc/{pid}").exists():
            _set_frozen_behind(pid, False)
    c("rm", "-f", "half")


@BOTH
def test_a_paused_containers_published_ports_stay_claimed(c: Capsa) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        host = s.getsockname()[1]
    assert c("run", "-d", "--name", "pub", "--network", "bridge", "-p", f"{host}:80", "busybox",
             "sleep", "60").returncode == 0
    assert c("pause", "pub").returncode == 0
    r = c("run", "--rm", "--network", "bridge", "-p", f"{host}:80", "busybox", "true")
    assert r.returncode == 125 and "already published by another container" in r.stderr, r.stderr
    c("rm", "-f", "pub")


def test_the_passwd_reader_of_top_and_exec_u_opens_by_descriptor_while_the_container_swaps_a_dir(
        c: Capsa, tmp_path: Path) -> None:
    """The container swaps a directory for an absolute symlink to a host path, again and again:
    a path checked in the root and then opened by name (``/proc/PID/root/d/passwd``) is resolved
    by the kernel on the host if the swap lands in between; openat2(RESOLVE_IN_ROOT) is not.
    (``read_root_file`` is what top reads /etc/passwd and /etc/group with, and exec -u too; the
    swapped directory is not /etc, which overlayfs cannot rename and holds bind mounts.)"""
    from capsa.container.userinfo import read_root_file

    (tmp_path / "hostetc").mkdir()
    (tmp_path / "hostetc" / "passwd").write_text("hacked:x:0:0:host file:/:/bin/sh\n")
    swap = (f"mkdir /d; cp /etc/passwd /d/; while :; do mv /d /d2; ln -s {tmp_path}/hostetc /d; rm /d; mv /d2 /d; "
            "done")
    assert c("run", "-d", "--name", "swapper", "busybox", "sh", "-c", swap).returncode == 0
    root = f"/proc/{_pid(c, 'swapper')}/root"
    seen = {read_root_file(root, "/d/passwd").partition(":")[0] for _ in range(3000)}
    assert "hacked" not in seen and "root" in seen, seen
    assert _rows(c("top", "swapper", "user", "pid").stdout)[1] == ["root", "1"]
    c("rm", "-f", "-t", "0", "swapper")
