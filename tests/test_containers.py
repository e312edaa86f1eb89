"""Containers end to end: real namespaces, cgroups, overlay mounts and monitors, checked from
inside the container and from the host.

Tests marked ``@BOTH`` run twice: with the default ``linux`` isolation driver and with the
``oci`` driver (crun), whose store selects it in its configuration file; the others run with
``linux`` only."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CAPSA, Capsa, isolated_env
from containers import BOTH, cleanup, driver_store_fixtures, import_busybox


store, oci_store, c = driver_store_fixtures("containers")


def run(c: Capsa, *args: str, **kw) -> subprocess.CompletedProcess[str]:
    return c("run", "--rm", *args, **kw)


@BOTH
def test_run_prints_output_and_returns_the_exit_code(c: Capsa) -> None:
    r = run(c, "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert c("ps", "-a", "-q").stdout == ""  # --rm removed it


@BOTH
def test_missing_and_non_executable_commands(c: Capsa) -> None:
    r = run(c, "busybox", "/no/such/binary")
    assert r.returncode == 127 and ("not found" in r.stderr or "no such file" in r.stderr)
    r = run(c, "busybox", "/etc/passwd")
    assert r.returncode == 126


@BOTH
def test_pid_1_and_isolated_pid_namespace(c: Capsa) -> None:
    r = run(c, "busybox", "sh", "-c", "echo $$; ls /proc | grep -E '^[0-9]+$' | wc -l")
    pid1, count = r.stdout.split()
    assert pid1 == "1" and int(count) <= 4  # sh, ls, grep, wc: only the container's own processes


def test_default_capabilities_and_security(c: Capsa) -> None:
    status = run(c, "busybox", "cat", "/proc/self/status").stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["CapEff"].strip() == "00000000800405fb"
    assert fields["CapBnd"].strip() == "00000000800405fb"
    assert fields["Seccomp"].strip() == "2"
    for probe in ("mount -t tmpfs x /mnt", "echo 1 > /proc/sys/kernel/domainname", "mknod /tmp/x c 1 3",
                  "mount -o remount,rw /", "echo 1 > /sys/kernel/profiling", "insmod /nonexistent.ko"):
        r = run(c, "busybox", "sh", "-c", f"{probe} && echo SUCCEEDED")
        assert r.returncode != 0 and "SUCCEEDED" not in r.stdout, probe
    for masked in ("/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/interrupts"):
        if os.path.exists(masked):  # (this kernel has no /proc/kcore)
            assert run(c, "busybox", "sh", "-c", f"cat {masked} | wc -c").stdout.strip() == "0", masked


def test_cap_add_drop_privileged_and_no_new_privileges(c: Capsa) -> None:
    eff = lambda *a: run(c, *a, "busybox", "grep", "CapEff", "/proc/self/status").stdout.split()[1]  # noqa: E731
    assert int(eff("--cap-add", "NET_ADMIN"), 16) == 0x800405FB | (1 << 12)
    assert int(eff("--cap-drop", "CHOWN"), 16) == 0x800405FB & ~1
    assert int(eff("--privileged"), 16) > 0x800405FB
    r = run(c, "--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs", "/proc/self/status")
    assert r.stdout.split()[1] == "1"
    r = run(c, "--security-opt", "seccomp=unconfined", "busybox", "grep", "Seccomp:", "/proc/self/status")
    assert r.stdout.split()[1] == "0"


def test_custom_seccomp_profile(c: Capsa, tmp_path: Path) -> None:
    profile = tmp_path / "deny-mkdir.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}))
    r = run(c, "--security-opt", f"seccomp={profile}", "busybox", "mkdir", "/tmp/d")
    assert r.returncode != 0 and "Permission denied" in r.stderr


@BOTH
def test_mounts_hostname_env_user_workdir(c: Capsa) -> None:
    r = run(c, "--hostname", "box", "-e", "A=1", "-w", "/tmp", "-u", "alice", "busybox",
            "sh", "-c", "hostname; echo $A; pwd; id; cat /etc/hostname; grep -c box /etc/hosts; ls /run/.containerenv")
    lines = r.stdout.splitlines()
    assert lines[:3] == ["box", "1", "/tmp"], r.stderr
    assert lines[3].startswith("uid=1000(alice) gid=1000(alice)") and "10(wheel)" in lines[3]
    assert lines[4] == "box" and int(lines[5]) >= 1 and lines[6] == "/run/.containerenv"
    mounts = run(c, "busybox", "cat", "/proc/self/mountinfo").stdout
    for point, kind in (("/proc ", "proc"), ("/dev ", "tmpfs"), ("/dev/pts ", "devpts"), ("/dev/shm ", "tmpfs"),
                        ("/dev/mqueue ", "mqueue"), ("/sys ", "sysfs")):
        assert any(f" {point}" in line and f" - {kind} " in line for line in mounts.splitlines()), point
    sys_line = next(line for line in mounts.splitlines() if " /sys " in line)
    assert " ro," in sys_line or " ro " in sys_line
    assert str(c.root) not in mounts  # pivot_root: no host path is visible
    devs = run(c, "busybox", "ls", "/dev").stdout.split()
    assert {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm"} <= set(devs)


@BOTH
def test_env_file_entrypoint_read_only_and_tmpfs(c: Capsa, tmp_path: Path) -> None:
    env = tmp_path / "env"
    env.write_text("# comment\nB=two\n")
    r = run(c, "--env-file", str(env), "--entrypoint", "/bin/echo", "busybox", "x", "$B")
    assert r.stdout == "x $B\n"
    r = run(c, "--env-file", str(env), "busybox", "sh", "-c", "echo $B")
    assert r.stdout == "two\n"
    r = run(c, "--read-only", "--tmpfs", "/scratch", "busybox", "sh", "-c",
            "touch /nope; touch /scratch/ok && echo wrote; touch /tmp/ok && echo tmp")
    assert "Read-only file system" in r.stderr and r.stdout == "wrote\ntmp\n"


@BOTH
def test_bind_mounts_and_named_volumes(c: Capsa, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "in").write_text("from host\n")
    r = run(c, "-v", f"{host}:/data", "busybox", "sh", "-c", "cat /data/in; echo back > /data/out")
    assert r.stdout == "from host\n" and (host / "out").read_text() == "back\n"
    r = run(c, "-v", f"{host}:/data:ro", "busybox", "sh", "-c", "echo x > /data/out2")
    assert r.returncode != 0 and not (host / "out2").exists()
    r = run(c, "--mount", f"type=bind,source={host},target=/m,readonly", "busybox", "cat", "/m/in")
    assert r.stdout == "from host\n"
    assert run(c, "-v", "vol1:/v", "busybox", "sh", "-c", "echo kept > /v/f").returncode == 0
    assert run(c, "-v", "vol1:/v", "busybox", "cat", "/v/f").stdout == "kept\n"
    assert "vol1" in c("volume", "ls", "-q").stdout.split()
    doc = json.loads(c("volume", "inspect", "vol1").stdout)[0]
    assert Path(doc["Mountpoint"], "f").read_text() == "kept\n"
    assert c("volume", "rm", "vol1").returncode == 0
    r = run(c, "-v", "/does/not/exist:/x", "busybox", "true")
    assert r.returncode == 125 and "no such file or directory" in r.stderr
    assert c("ps", "-a", "-q").stdout == ""


@BOTH
def test_cgroup_limits_are_set_and_nested_under_our_cgroup(c: Capsa) -> None:
    r = c("run", "-d", "--memory", "64m", "--pids-limit", "50", "--cpus", "0.5", "--cpu-shares", "512",
          "busybox", "sleep", "60")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    pid = json.loads(c("inspect", cid).stdout)[0]["State"]["Pid"]
    assert pid > 0
    own = {line.split(":")[1]: line.split(":")[2] for line in Path("/proc/self/cgroup").read_text().splitlines()}
    theirs = {line.split(":")[1]: line.split(":")[2] for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()}
    for controller in ("memory", "pids", "cpu,cpuacct" if "cpu,cpuacct" in own else "cpu"):
        if controller in own:
            assert theirs[controller].startswith(own[controller].rstrip("/") + "/"), controller
            assert theirs[controller].endswith(f"capsa-{cid}"), controller
    memdir = Path("/sys/fs/cgroup/memory") / theirs["memory"].lstrip("/")
    assert int((memdir / "memory.limit_in_bytes").read_text()) == 64 * 1024 * 1024
    assert (Path("/sys/fs/cgroup/pids") / theirs["pids"].lstrip("/") / "pids.max").read_text().strip() == "50"


@BOTH
def test_oom_kill_is_reported(c: Capsa) -> None:
    r = c("run", "--name", "oomer", "--memory", "16m", "--memory-swap", "16m", "busybox",
          "sh", "-c", "dd if=/dev/zero bs=64M count=1 of=/dev/null")
    assert r.returncode == 137
    doc = json.loads(c("inspect", "oomer").stdout)[0]
    assert doc["State"]["OOMKilled"] is True and doc["State"]["ExitCode"] == 137


def test_pids_limit_default_is_1024(c: Capsa) -> None:
    r = c("run", "-d", "busybox", "sleep", "60")
    pid = json.loads(c("inspect", r.stdout.strip()).stdout)[0]["State"]["Pid"]
    line = next(l for l in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if ":pids:" in l)
    assert (Path("/sys/fs/cgroup/pids") / line.split(":")[2].lstrip("/") / "pids.max").read_text().strip() == "1024"


def test_ulimits(c: Capsa) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    r = run(c, "--ulimit", f"nofile=100:{hard}", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn")
    assert r.stdout.split() == ["100", str(hard)]
    r = run(c, "--ulimit", f"nofile={hard + 1}", "busybox", "true")
    assert r.returncode == 125 and "hard limit" in r.stderr


@BOTH
def test_detached_lifecycle_ps_logs_stop_wait_inspect(c: Capsa) -> None:
    r = c("run", "-d", "--name", "web", "--label", "team=a", "busybox", "sh", "-c",
          "trap 'echo bye; exit 7' TERM; echo started; while true; do sleep 0.1; done")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert len(cid) == 64
    time.sleep(0.3)
    ps = c("ps").stdout.splitlines()
    assert ps[0].split()[:2] == ["CONTAINER", "ID"] and "web" in ps[1] and "Up" in ps[1]
    assert c("ps", "--filter", "label=team=a", "--format", "{{.Names}} {{.Status}}").stdout.startswith("web Up")
    assert c("ps", "--filter", "status=exited", "-q").stdout == ""
    assert c("container", "exists", "web").returncode == 0
    assert c("logs", "web").stdout == "started\n"
    doc = json.loads(c("inspect", "web").stdout)[0]
    assert doc["State"]["Status"] == "running" and doc["State"]["Running"] is True and doc["Name"] == "web"
    assert doc["Config"]["Labels"] == {"team": "a"} and doc["HostConfig"]["PidsLimit"] == 1024
    host_pid = doc["State"]["Pid"]
    assert Path(f"/proc/{host_pid}").exists()
    assert c("stop", "web").stdout == "web\n"
    assert c("wait", "web").stdout == "7\n"
    assert c("logs", "web").stdout == "started\nbye\n"
    assert c("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "web").stdout == "exited 7\n"
    assert "Exited (7)" in c("ps", "-a", "--format", "{{.Status}}").stdout
    assert not Path(f"/proc/{host_pid}").exists()
    assert c("rm", "web").stdout == "web\n"  # (what was typed, as podman)
    assert c("container", "exists", "web").returncode == 1


@BOTH
def test_stop_timeout_then_sigkill_and_kill_signal(c: Capsa) -> None:
    c("run", "-d", "--name", "stubborn", "busybox", "sleep", "60")  # PID 1 ignores SIGTERM
    start = time.monotonic()
    assert c("stop", "-t", "1", "stubborn").returncode == 0
    assert 0.9 < time.monotonic() - start < 10
    assert c("inspect", "--format", "{{.State.ExitCode}}", "stubborn").stdout == "137\n"
    c("run", "-d", "--name", "k", "busybox", "sh", "-c", "trap 'exit 42' USR1; echo trapping; while true; do sleep 0.1; done")
    deadline = time.monotonic() + 10  # the signal goes once the trap is set (a slow start raced a fixed sleep)
    while "trapping" not in c("logs", "k").stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    assert c("kill", "-s", "USR1", "k").returncode == 0
    assert c("wait", "k").stdout == "42\n"
    r = c("kill", "k")
    assert r.returncode == 125 and "can only kill running containers" in r.stderr


@BOTH
def test_create_then_start_attached(c: Capsa) -> None:
    r = c("create", "--name", "later", "busybox", "echo", "hi")
    assert r.returncode == 0
    assert "Created" in c("ps", "-a", "--format", "{{.Status}}").stdout
    r = c("start", "-a", "later")
    assert (r.returncode, r.stdout) == (0, "hi\n")
    assert c("start", "later").stdout == "later\n"
    assert c("wait", "later").stdout == "0\n"


@BOTH
def test_interactive_stdin(c: Capsa) -> None:
    r = c("run", "--rm", "-i", "busybox", "sh", "-c", "read x; echo got $x", input="hello\n")
    assert r.stdout == "got hello\n"


@BOTH
def test_tty(c: Capsa) -> None:
    r = c("run", "--rm", "-t", "busybox", "sh", "-c", "tty; stty size >/dev/null && echo ok")
    assert r.returncode == 0 and "/dev/pts/" in r.stdout


@BOTH
def test_logs_tail_since_timestamps_follow(c: Capsa) -> None:
    c("run", "--name", "many", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done")
    assert c("logs", "--tail", "2", "many").stdout == "line4\nline5\n"
    stamped = c("logs", "-t", "many").stdout.splitlines()
    assert len(stamped) == 5 and stamped[0].endswith(" line1") and stamped[0][:4].isdigit()
    assert c("logs", "--since", "1h", "many").stdout.count("line") == 5
    c("run", "-d", "--name", "slow", "busybox", "sh", "-c", "echo a; sleep 0.5; echo b")
    r = c("logs", "-f", "slow")
    assert r.stdout == "a\nb\n"


def test_restart_policy_on_failure(c: Capsa) -> None:
    c("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 1")
    assert c("wait", "flaky").stdout == "1\n"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and json.loads(c("inspect", "flaky").stdout)[0]["RestartCount"] < 2:
        time.sleep(0.1)
    c("wait", "flaky")
    doc = json.loads(c("inspect", "flaky").stdout)[0]
    assert doc["RestartCount"] == 2 and c("logs", "flaky").stdout == "run\nrun\nrun\n"


def test_manual_start_resets_restart_count(c: Capsa) -> None:
    """The restart policy's count starts again at 0 with a start the user asks for (podman's
    init without retainRetries): it fails three times, then keeps running."""
    script = ("if [ -e /ok ]; then exec sleep 60; fi; n=$(cat /n 2>/dev/null || echo 0); "
              "echo $((n+1)) > /n; [ $n -ge 2 ] && touch /ok; exit 1")
    c("run", "-d", "--name", "thrice", "--restart", "on-failure:5", "busybox", "sh", "-c", script)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and c("inspect", "--format", "{{.State.Status}} {{.RestartCount}}",
                                            "thrice").stdout.split() != ["running", "3"]:
        time.sleep(0.1)
    assert c("inspect", "--format", "{{.State.Status}} {{.RestartCount}}", "thrice").stdout.split() == ["running", "3"]
    c("stop", "-t", "0", "thrice")
    c("start", "thrice")
    assert c("inspect", "--format", "{{.State.Status}} {{.RestartCount}}", "thrice").stdout.split() == ["running", "0"]
    c("rm", "-f", "-t", "0", "thrice")


def test_init_reaps_and_forwards(c: Capsa) -> None:
    r = run(c, "--init", "busybox", "sh", "-c", "echo $$; cat /proc/1/cmdline | tr '\\0' ' '")
    if r.returncode == 125 and "catatonit" in r.stderr:
        pytest.fail("catatonit is missing: scripts/setup.sh installs it")
    pid, cmdline = r.stdout.splitlines()
    assert pid != "1" and "capsa-init" in cmdline


def test_init_under_a_mount_on_run(c: Capsa) -> None:
    """A volume or tmpfs on /run does not hide the init (or /run/.containerenv) beneath it:
    mounts go parents first, as podman orders them."""
    for mount in (["-v", "initrunvol:/run"], ["--tmpfs", "/run"]):
        r = run(c, "--init", *mount, "busybox", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; test -f /run/.containerenv && echo env")
        assert r.returncode == 0, (mount, r.stderr)
        assert "capsa-init" in r.stdout and r.stdout.rstrip().endswith("env"), (mount, r.stdout)
    c("volume", "rm", "initrunvol")


def test_rootfs_container(c: Capsa, tmp_path: Path) -> None:
    from containers import busybox_rootfs

    root = busybox_rootfs(tmp_path / "exploded")
    r = c("run", "--rm", "--rootfs", str(root), "sh", "-c", "echo $$; cat /etc/passwd | head -1")
    assert r.stdout == "1\nroot:x:0:0:root:/root:/bin/sh\n", r.stderr


def test_bad_input_leaves_nothing(c: Capsa) -> None:
    before = c("ps", "-a", "-q").stdout
    # (--pull=never: a missing image is pulled otherwise)
    for args, words in ((["--pull=never", "nosuchimage"], "image not known"), (["--memory", "1k", "busybox"], "minimum memory"),
                        (["--memory", "lots", "busybox"], "invalid size"), (["--restart", "sometimes", "busybox"], "restart policy"),
                        (["--cpus", "-1", "busybox"], "--cpus"), (["--stop-signal", "SIGNOPE", "busybox"], "invalid signal")):
        r = c("run", *args, "true")
        assert r.returncode == 125, args
        errors = [l for l in r.stderr.splitlines() if l.startswith("Error:")]
        assert len(errors) == 1 and words in errors[0], (args, r.stderr)
    assert c("ps", "-a", "-q").stdout == before


@BOTH
def test_rm_running_needs_force_and_rm_all_force_cleans_everything(c: Capsa) -> None:
    for i in range(3):
        c("run", "-d", "--name", f"bg{i}", "busybox", "sleep", "60")
    r = c("rm", "bg0")
    assert r.returncode == 2 and "without force" in r.stderr  # podman: 2, container in use
    assert c("rm", "-a", "-f").returncode == 0
    assert c("ps", "-a", "-q").stdout == ""


def test_container_prune_and_exists(c: Capsa) -> None:
    c("run", "--name", "done1", "busybox", "true")
    c("run", "-d", "--name", "alive", "busybox", "sleep", "60")
    r = c("container", "prune", "-f")
    assert r.returncode == 0 and len(r.stdout.split()) == 1
    assert c("container", "exists", "done1").returncode == 1 and c("container", "exists", "alive").returncode == 0


def test_both_storage_drivers_run_containers_and_the_layer_goes_with_them(tmp_path: Path) -> None:
    capsa = Capsa(env=isolated_env(tmp_path), root=tmp_path / "root", runroot=tmp_path / "run", tmp=tmp_path)
    capsa.write_config('[storage]\ndriver = "vfs"\n')
    import_busybox(capsa, tmp_path)
    try:
        r = capsa("run", "--name", "v", "busybox", "sh", "-c", "echo data > /file; cat /file")
        assert r.stdout == "data\n"
        layers = json.loads((capsa.root / "layers.json").read_text())
        assert len(layers) == 2
        assert capsa("rm", "v").returncode == 0
        assert len(json.loads((capsa.root / "layers.json").read_text())) == 1
    finally:
        assert cleanup(capsa) == []
        capsa("system", "reset", "-f")


def test_foreground_run_forwards_signals_and_exits_with_the_container_code(c: Capsa) -> None:
    proc = subprocess.Popen([str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot), "run", "--name", "fg",
                             "busybox", "sh", "-c", "trap 'echo caught; exit 5' TERM; echo ready; "
                             "while true; do sleep 0.1; done"], stdout=subprocess.PIPE, text=True, env=c.env)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert (proc.returncode, out) == (5, "caught\n")
    assert c("inspect", "--format", "{{.State.ExitCode}}", "fg").stdout == "5\n"


def test_restart_always_until_stopped(c: Capsa) -> None:
    c("run", "-d", "--name", "again", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2; exit 3")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and json.loads(c("inspect", "again").stdout)[0]["RestartCount"] < 2:
        time.sleep(0.1)
    assert json.loads(c("inspect", "again").stdout)[0]["RestartCount"] >= 2
    assert c("stop", "-t", "1", "again").returncode == 0
    state = json.loads(c("inspect", "again").stdout)[0]["State"]
    assert state["Status"] == "exited" and not state["Running"]
    time.sleep(0.5)  # a stopped container is not restarted any more
    assert json.loads(c("inspect", "again").stdout)[0]["State"]["Status"] == "exited"


def test_a_long_running_container_is_watched_by_the_lean_monitor(c: Capsa) -> None:
    """After a moment the monitor execs its lean form (same pid): small, and it still relays,
    logs, records the exit and tears down. Its state reaches it in a memfd, not in argv."""
    r = c("run", "-d", "--name", "long", "busybox", "sh", "-c",
          "trap 'echo bye; exit 9' TERM; echo hi; while true; do sleep 0.1; done")
    assert r.returncode == 0, r.stderr
    monitor = int(c("inspect", "--format", "{{.State.ConmonPid}}", "long").stdout)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and b"capsa.container.lean_monitor" not in Path(f"/proc/{monitor}/cmdline").read_bytes():
        time.sleep(0.1)
    argv = Path(f"/proc/{monitor}/cmdline").read_bytes().split(b"\0")[:-1]
    assert argv[1:4] == [b"-I", b"-m", b"capsa.container.lean_monitor"], argv
    assert len(argv) == 5 and argv[4].isdigit(), argv  # a descriptor number: the state is not in argv
    assert not any(b"{" in arg or c.runroot.as_posix().encode() in arg for arg in argv)
    rss = next(int(l.split()[1]) for l in Path(f"/proc/{monitor}/status").read_text().splitlines() if l.startswith("VmRSS"))
    assert rss < 12 * 1024, f"the lean monitor uses {rss} KB"
    assert c("logs", "long").stdout == "hi\n"
    assert c("stop", "long").returncode == 0
    assert c("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "long").stdout == "exited 9\n"
    assert c("logs", "long").stdout == "hi\nbye\n"
    assert not Path(f"/proc/{monitor}").exists() or b"capsa.container" not in Path(f"/proc/{monitor}/cmdline").read_bytes()


_NAMED = """
import sys, time
open("/proc/self/comm", "w").write(sys.argv[1])
if sys.argv[2]:  # hold the container's monitor lock, as a monitor does
    from capsa.container.monitor_lock import hold
    hold(sys.argv[2])
print("ready", flush=True)
time.sleep(60)
"""


def _process_named(name: str, lock_run_dir: str = "") -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _NAMED, name, lock_run_dir], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    assert Path(f"/proc/{proc.pid}/comm").read_text() == f"{name}\n"
    return proc


def test_a_monitor_is_known_by_its_lock_not_by_its_name(c: Capsa) -> None:
    """Whatever holds a container's monitor lock is its living monitor, whatever its name; a
    process that merely calls itself capsa-monitor, recorded as the monitor, is not."""
    from capsa.container.monitor_lock import holder
    from capsa.container.records import ContainerRecords

    records = ContainerRecords(str(c.root), str(c.runroot))
    for name, locks in (("not-a-monitor", True), ("capsa-monitor", False)):
        assert c("create", "--name", name, "busybox", "true").returncode == 0
        cid = c("inspect", "--format", "{{.Id}}", name).stdout.strip()
        os.makedirs(records.run_dir(cid), exist_ok=True)
        proc = _process_named(name, records.run_dir(cid) if locks else "")
        try:
            records.update_state(cid, status="running", pid=proc.pid, monitor_pid=proc.pid)
            assert holder(records.run_dir(cid)) == (proc.pid if locks else 0)
            running = c("inspect", "--format", "{{.State.Running}}", name).stdout
            assert running == ("true\n" if locks else "false\n"), (name, running)
            assert (name in c("ps", "--format", "{{.Names}}").stdout.split()) == locks
        finally:
            proc.kill()
            proc.wait()
        assert c("inspect", "--format", "{{.State.Running}}", name).stdout == "false\n"  # its lock went with it
        r = c("rm", "-f", name)
        assert r.returncode == 0, r.stderr
    # and a real monitor: `stop` waits for exactly it
    assert c("run", "-d", "--name", "real", "busybox", "sleep", "60").returncode == 0
    monitor = int(c("inspect", "--format", "{{.State.ConmonPid}}", "real").stdout)
    assert holder(records.run_dir(c("inspect", "--format", "{{.Id}}", "real").stdout.strip())) == monitor
    assert c("stop", "-t", "1", "real").returncode == 0
    assert not Path(f"/proc/{monitor}").exists() or Path(f"/proc/{monitor}/stat").read_text().split(") ")[1][0] == "Z"


def test_network_none_has_only_loopback_and_host_shares_the_hosts(c: Capsa) -> None:
    assert run(c, "--network", "none", "busybox", "ls", "/sys/class/net").stdout.split() == ["lo"]
    assert run(c, "--network", "none", "busybox", "cat", "/sys/class/net/lo/operstate").stdout.strip() in ("unknown", "up")
    # the default network is the bridge (the store's own, see conftest): eth0 beside lo
    assert run(c, "busybox", "ls", "/sys/class/net").stdout.split() == ["eth0", "lo"]
    r = c("create", "busybox", "true")
    assert c("inspect", "--format", "{{.HostConfig.NetworkMode}}", r.stdout.strip()).stdout.strip() == "bridge"
    # (the host's list may change meanwhile: an earlier container's veth is torn down just after
    # its exit was reported; the container sees the host's list of some moment in between)
    before = set(os.listdir("/sys/class/net"))
    seen = set(run(c, "--network", "host", "busybox", "ls", "/sys/class/net").stdout.split())
    after = set(os.listdir("/sys/class/net"))
    assert before & after <= seen <= before | after, (sorted(before), sorted(seen), sorted(after))
    r = run(c, "--network", "nosuchnet", "busybox", "true")
    assert r.returncode == 125 and "unable to find network with name or ID nosuchnet" in r.stderr and "bridge" in r.stderr


def test_run_rm_mounts_its_layer_volatile_and_a_kept_container_does_not(c: Capsa) -> None:
    """A ``--rm`` container's writes need not survive a crash: overlay skips syncing them (as
    podman's); a container that is kept gets a normal, synced mount."""
    def volatile(*flags: str) -> bool:
        r = c("run", *flags, "busybox", "sh", "-c", "grep '^overlay / ' /proc/mounts")
        assert r.returncode == 0, r.stderr
        options = r.stdout.split()[3].split(",")
        return "volatile" in options or "fsync=volatile" in options  # (newer kernels show the latter)

    assert volatile("--rm")
    name = "kept-volatile-check"
    assert not volatile("--name", name)
    c("rm", name)


def test_rm_releases_the_mount_of_a_start_that_died_before_its_monitor_took_over(c: Capsa) -> None:
    """A CLI killed between mounting a container's layer and handing it to the monitor leaves a
    reference on the layer; ``rm`` drops it (nothing can be running in a stopped container)."""
    from capsa.drivers import load_driver

    cid = c("create", "--name", "half-started", "busybox", "true").stdout.strip()
    layer = json.loads((c.root / "containers" / cid / "config.json").read_text())["layer_id"]
    driver = load_driver("storage", "overlay", {}, root=c.root, runroot=c.runroot)
    merged = str(driver.mount(layer))  # what the dead start did
    assert merged in Path("/proc/self/mountinfo").read_text()
    r = c("rm", "half-started")
    assert r.returncode == 0, r.stderr
    assert merged not in Path("/proc/self/mountinfo").read_text()
    assert c("ps", "-a", "-q").stdout == ""


def test_names_are_indexed_and_the_index_rebuilds_and_skips_stale_links(c: Capsa) -> None:
    """Names live in <root>/containers/.names/<name> -> id, so create and lookups by name do
    not read every record; a store without the index gets it rebuilt, and a link whose
    container is gone does not hold its name."""
    import shutil

    cid = c("create", "--name", "indexed", "busybox", "true").stdout.strip()
    index = c.root / "containers" / ".names"
    assert os.readlink(index / "indexed") == cid
    assert c("inspect", "--format", "{{.Id}}", "indexed").stdout.strip() == cid
    shutil.rmtree(index)  # a store from before the index
    r = c("create", "--name", "indexed", "busybox", "true")
    assert r.returncode == 125 and 'name "indexed" is already in use' in r.stderr
    assert os.readlink(index / "indexed") == cid  # rebuilt from the records
    os.symlink("0" * 64, index / "ghost")  # a stale link: its container is gone
    ghost = c("create", "--name", "ghost", "busybox", "true")
    assert ghost.returncode == 0, ghost.stderr
    assert os.readlink(index / "ghost") == ghost.stdout.strip()
    assert c("rm", "indexed", "ghost").returncode == 0
    assert sorted(os.listdir(index)) == []


def test_a_state_write_after_removal_does_not_bring_the_container_back(tmp_path: Path) -> None:
    """``run --rm``'s monitor removes the record while the CLI may still be writing the state
    (a start that failed, then rm -f): that write must find the container gone, not recreate
    its directory as a stray half record."""
    from capsa.container.model import ContainerConfig
    from capsa.container.records import ContainerNotFound, ContainerRecords, ContainerState

    records = ContainerRecords(tmp_path / "root", tmp_path / "run")
    config = ContainerConfig(id="a" * 64, name="gone", image_id=None, image_name="busybox")
    records.add(config)
    records.remove(config.id)
    with pytest.raises(ContainerNotFound):
        records.set_state(config.id, ContainerState(status="stopping"))
    with pytest.raises(ContainerNotFound):
        records.update_state(config.id, status="exited")
    assert not os.path.exists(records.dir(config.id)) and records.all() == []


# What the way to a container must not import: each costs a run or a create milliseconds on the
# machines capsa runs on (docs/benchmarks.md). `run`'s CLI imports socket (and with it enum) to
# attach; `create` does not even that.
SLOW_FOR_BOTH = {"re", "json", "pathlib", "shutil", "dataclasses", "inspect", "typing", "hashlib", "platform",
                 "tempfile", "urllib.parse", "typer", "click", "importlib.metadata"}
SLOW_FOR_CREATE = SLOW_FOR_BOTH | {"enum", "functools", "collections", "contextlib", "socket", "signal"}


def _imports_of(c: Capsa, *args: str) -> set[str]:
    r = subprocess.run([os.environ.get("PYTHON", str(Path(CAPSA).parent / "python")), "-X", "importtime", str(CAPSA),
                        "--root", str(c.root), "--runroot", str(c.runroot), *args],
                       capture_output=True, text=True, env=c.env, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    names = [line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")]
    return set(names[names.index("site") + 1:])  # what the program imported (not the interpreter's start-up)


def test_run_and_create_import_none_of_the_slow_modules(c: Capsa) -> None:
    c("version")  # the entry-point index is cached
    created = _imports_of(c, "create", "--name", "lean", "-e", "A=1", "busybox", "true")
    assert "capsa_storage_overlay" in created and not created & SLOW_FOR_CREATE, created & SLOW_FOR_CREATE
    ran = _imports_of(c, "run", "--rm", "busybox", "true")
    assert "capsa.container.attach" in ran and not ran & SLOW_FOR_BOTH, ran & SLOW_FOR_BOTH
