"""``capsa exec`` end to end, on both isolation drivers: the process joins the container
(namespaces, cgroup, capabilities, seccomp, no_new_privs), exec's flags, exit codes (126/127),
refusals (stopped, created, unknown), ``-d`` sessions tracked by their waiter, and ``-it``
through a real pty."""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Capsa
from containers import ISOLATION_DRIVERS, busybox_store, cleanup, oci_busybox_store


@pytest.fixture(scope="module", params=ISOLATION_DRIVERS)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    if request.param == "oci":
        yield from oci_busybox_store(tmp_path_factory, "exec-oci")
    else:
        yield from busybox_store(tmp_path_factory, "exec")


@pytest.fixture
def c(store: Capsa) -> Iterator[Capsa]:
    yield store
    left = cleanup(store)
    assert left == [], f"left behind: {left}"


def running(c: Capsa, *flags: str, name: str = "box") -> str:
    r = c("run", "-d", "--name", name, *flags, "busybox", "sleep", "300")
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def status_of(pid: int, key: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    return ""


def test_exec_runs_in_the_container_with_its_identity(c: Capsa) -> None:
    cid = running(c, "--hostname", "inside", "-e", "FROM_RUN=1")
    r = c("exec", "box", "sh", "-c", "hostname; echo $FROM_RUN; id -u; pwd; echo $$; "
          "grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status; cat /proc/1/cmdline | tr '\\0' ' '")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:4] == ["inside", "1", "0", "/"]
    assert int(lines[4]) > 1
    fields = dict(line.split(":\t") for line in lines[5:8])
    init = int(c("inspect", "--format", "{{.State.Pid}}", cid).stdout)
    assert fields["Seccomp"] == status_of(init, "Seccomp") == "2"
    assert fields["CapEff"] == status_of(init, "CapEff")
    assert lines[8].strip() == "sleep 300"


def test_exec_flags_env_user_workdir_privileged(c: Capsa, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    running(c)
    envfile = tmp_path / "env"
    envfile.write_text("FROM_FILE=yes\n# comment\n")
    r = c("exec", "-e", "A=b", "--env-file", str(envfile), "-u", "alice", "-w", "/tmp", "box",
          "sh", "-c", "echo $A $FROM_FILE $HOME; id -u; id -g; pwd; grep CapEff /proc/self/status")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[:4] == ["b yes /home/alice", "1000", "1000", "/tmp"]
    assert r.stdout.splitlines()[4].split()[1] == "0000000000000000"
    if request.node.callspec.params["store"] == "oci":  # (the linux driver refuses it: CAP_SYS_PTRACE)
        r = c("exec", "--privileged", "box", "grep", "CapEff", "/proc/self/status")
        assert r.returncode == 0, r.stderr
        ours = int(next(line for line in Path("/proc/self/status").read_text().splitlines()
                        if line.startswith("CapBnd:")).split()[1], 16)
        assert int(r.stdout.split()[1], 16) == ours  # every capability capsa holds, as podman's exec --privileged
    r = c("container", "exec", "-l", "echo", "latest")
    assert (r.returncode, r.stdout) == (0, "latest\n")
    r = c("exec", "box", "ls", "-d", "/tmp")  # flags after the command are the command's
    assert (r.returncode, r.stdout) == (0, "/tmp\n")


def test_exec_exit_codes(c: Capsa) -> None:
    running(c)
    assert c("exec", "box", "sh", "-c", "exit 42").returncode == 42
    r = c("exec", "box", "nosuchcommand")
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error: ")]  # (crun also says it itself)
    assert r.returncode == 127 and len(errors) == 1 and "nosuchcommand" in errors[0], r.stderr
    assert c("exec", "box", "/etc/passwd").returncode == 126
    r = c("exec", "-w", "/nonexistent", "box", "true")
    assert r.returncode == 127  # (podman's, for a missing workdir)
    assert "check that the command exists" not in r.stderr, r.stderr  # (the hint is about the directory)
    r = c("exec", "box", "sh", "-c", "kill -9 $$")
    assert r.returncode == 137


def test_exec_stdin_is_a_pipe_only_with_i(c: Capsa) -> None:
    running(c)
    r = c("exec", "-i", "box", "cat", input="hello\n")
    assert (r.returncode, r.stdout) == (0, "hello\n")
    r = c("exec", "box", "cat", input="hello\n")  # without -i: nothing
    assert (r.returncode, r.stdout) == (0, "")


def test_host_terminals_and_files_never_enter_the_container(c: Capsa, tmp_path: Path) -> None:
    """A host file given as stdin or stdout (it could be reopened for writing through
    /proc/self/fd) reaches the process as a pipe capsa relays; a pipe is passed as it is."""
    import subprocess

    from conftest import CAPSA

    running(c)
    source, sink = tmp_path / "in", tmp_path / "out"
    source.write_text("from a file\n")
    argv = [str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot), "exec", "-i", "box", "sh", "-c",
            "readlink /proc/self/fd/0; readlink /proc/self/fd/1; cat"]
    with open(source) as fin, open(sink, "w") as fout:
        done = subprocess.run(argv, stdin=fin, stdout=fout, stderr=subprocess.PIPE, env=c.env, timeout=60)
    assert done.returncode == 0, done.stderr
    first, second, rest = sink.read_text().split("\n", 2)
    assert first.startswith("pipe:") and second.startswith("pipe:"), (first, second)
    assert rest == "from a file\n"
    # A process that does not read its stdin while it writes a lot: the relay keeps copying its output.
    source.write_bytes(b"x" * 1_000_000)
    argv[-1] = "sleep 0.3; head -c 300000 /dev/zero | tr '\\0' y; echo; echo end"
    with open(source) as fin, open(sink, "w") as fout:
        done = subprocess.run(argv, stdin=fin, stdout=fout, stderr=subprocess.PIPE, env=c.env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sink.read_text() == "y" * 300000 + "\nend\n"


def test_exec_refuses_what_is_not_running(c: Capsa) -> None:
    r = c("create", "--name", "made", "busybox", "sleep", "300")
    assert r.returncode == 0, r.stderr
    for ref in ("made",):
        r = c("exec", ref, "true")
        assert r.returncode == 125
        assert r.stderr.splitlines()[0] == ("Error: can only create exec sessions on running containers: "
                                            "container state improper")
    assert c("run", "--name", "done", "busybox", "true").returncode == 0
    r = c("exec", "done", "true")
    assert r.returncode == 125 and "container state improper" in r.stderr
    running(c)  # a paused container is refused at once (it used to hang: the frozen cgroup holds the process)
    assert c("pause", "box").returncode == 0
    for flags in ((), ("-d",), ("-t",)):
        r = c("exec", *flags, "box", "true", timeout=30)
        assert r.returncode == 125 and "container state improper" in r.stderr and "paused" in r.stderr, r.stderr
    assert c("unpause", "box").returncode == 0
    assert c("exec", "box", "true").returncode == 0
    r = c("exec", "nosuchcontainer", "true")
    assert r.returncode == 125 and r.stderr.startswith("Error: ") and len(r.stderr.splitlines()) <= 2
    r = c("exec", "made")
    assert r.returncode == 125 and "non-empty command" in r.stderr
    r = c("exec", "--detach-keys", "ctrl-%", "made", "true")
    assert r.returncode == 125 and "detach keys" in r.stderr


def test_exec_detached_is_tracked_by_its_waiter(c: Capsa) -> None:
    cid = running(c)
    r = c("exec", "-d", "box", "sh", "-c", "sleep 1; echo done > /tmp/marker")
    assert r.returncode == 0, r.stderr
    exec_id = r.stdout.strip()
    assert len(exec_id) == 64
    sessions = Path(c.runroot) / "containers" / cid / "exec"
    assert (sessions / f"{exec_id}.json").exists()
    assert c("inspect", "--format", "{{.ExecIDs}}", "box").stdout.strip() == f"[{exec_id}]"
    deadline = time.monotonic() + 10
    while (sessions / f"{exec_id}.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (sessions / f"{exec_id}.json").exists()  # removed when it completed
    assert c("inspect", "--format", "{{.ExecIDs}}", "box").stdout.strip() == "[]"
    assert c("exec", "box", "cat", "/tmp/marker").stdout == "done\n"


def test_preserve_fds(c: Capsa, tmp_path: Path) -> None:
    import subprocess

    running(c)
    r_fd, w_fd = os.pipe()
    os.write(w_fd, b"through fd 3\n")
    os.close(w_fd)
    from conftest import CAPSA

    argv = ["bash", "-c", f'exec 3<&{r_fd} {r_fd}<&-; exec "$@"', "sh", str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot), "exec", "--preserve-fds", "1",
            "box", "sh", "-c", "cat <&3"]
    done = subprocess.run(argv, capture_output=True, text=True, env=c.env, timeout=60,
                          pass_fds=(r_fd,))
    os.close(r_fd)
    assert (done.returncode, done.stdout) == (0, "through fd 3\n"), done.stderr
    r = c("exec", "--preserve-fds", "5", "box", "true")
    assert r.returncode == 125 and "preserve-fds" in r.stderr


# -- -t through a real pty ------------------------------------------------------------------------

class Terminal:
    """The capsa CLI on the slave side of a real pty (pty.fork); we hold the master."""

    def __init__(self, c: Capsa, *args: str, rows: int = 24, cols: int = 80) -> None:
        import pty

        from conftest import CAPSA

        argv = [str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot), *args]
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # pragma: no cover - the child
            os.execve(argv[0], argv, c.env)
        self.resize(rows, cols)
        self.out = b""

    def resize(self, rows: int, cols: int) -> None:
        import fcntl
        import struct
        import termios

        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def expect(self, pattern: bytes, timeout: float = 15.0) -> bytes:
        import select

        deadline = time.monotonic() + timeout
        while pattern not in self.out:
            left = deadline - time.monotonic()
            assert left > 0, f"{pattern!r} not seen in {self.out!r}"
            if select.select([self.fd], [], [], left)[0]:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                assert chunk, f"EOF before {pattern!r}: {self.out!r}"
                self.out += chunk
                if b"\x1b[6n" in chunk:  # busybox ash asks where the cursor is: answer as a terminal would
                    self.send(b"\x1b[1;1R")
        return self.out

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait(self, timeout: float = 15.0) -> int:
        import select

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                import termios

                self.lflag = termios.tcgetattr(self.fd)[3]  # the terminal as capsa left it
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            if select.select([self.fd], [], [], 0.05)[0]:
                try:
                    self.out += os.read(self.fd, 4096)
                except OSError:
                    pass
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"capsa did not exit: {self.out!r}")


def test_exec_it_gives_a_real_terminal_of_the_right_size(c: Capsa) -> None:
    running(c)
    t = Terminal(c, "exec", "-it", "box", "sh", "-c", "tty; stty size; echo end-$TERM")
    t.expect(b"end-xterm")
    assert t.wait() == 0
    text = t.out.decode()
    assert "/dev/pts/" in text and "24 80" in text, text
    t = Terminal(c, "exec", "box", "sh", "-c", "tty; ls -l /proc/self/fd/ 2>/dev/null | grep -c pts; echo end")
    t.expect(b"end")
    assert t.wait() == 0
    lines = t.out.decode().replace("\r", "").splitlines()
    assert lines[:3] == ["not a tty", "0", "end"], lines  # without -t: pipes, no terminal of the host


def test_exec_it_follows_the_window_size_and_restores_the_terminal(c: Capsa) -> None:
    import termios

    running(c)
    t = Terminal(c, "exec", "-it", "box", "sh")
    t.expect(b"# ")
    t.send(b"stty size; echo mark-$((40+2))\n")
    t.expect(b"mark-42")
    t.resize(33, 111)  # the kernel sends capsa SIGWINCH
    for n in range(43, 63):  # (capsa passes it on asynchronously: ask until it arrived)
        t.send(b"stty size; echo mark-$((40+%d))\n" % (n - 40))
        t.expect(b"mark-%d" % n)
        if b"33 111" in t.out:
            break
        time.sleep(0.2)
    assert b"33 111" in t.out, t.out
    t.send(b"exit 5\n")
    assert t.wait() == 5
    assert t.lflag & termios.ICANON and t.lflag & termios.ECHO  # raw mode undone


def test_exec_it_detaches_with_the_detach_keys_and_leaves_it_running(c: Capsa) -> None:
    cid = running(c)
    t = Terminal(c, "exec", "-it", "--detach-keys", "ctrl-x,y", "box", "sh")
    t.expect(b"# ")
    t.send(b"echo started-$((1+1))\n")
    t.expect(b"started-2")
    t.send(b"\x18y")
    assert t.wait() == 0
    sessions = list((Path(c.runroot) / "containers" / cid / "exec").glob("*.json"))
    assert len(sessions) == 1  # the session goes on, held by its waiter
    r = c("exec", "box", "sh", "-c", "ps | grep -c '[s]h$'")
    assert r.stdout.strip() != "0", r.stdout


# -- CVE-2019-5736 ----------------------------------------------------------------------------------

WATCHER = r"""
seen=" "
: > /tmp/log
while [ ! -e /tmp/stop ]; do
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    case "$seen" in *" $p "*) continue;; esac
    if head -c 1 $d/exe >/dev/null 2>&1; then
      t=$(readlink $d/exe 2>/dev/null)
      case "$t" in
        /bin/busybox) echo "OK $p" >> /tmp/log ;;
        "") ;;
        *) echo "OPENED $p $t" >> /tmp/log
           if ( : >> $d/exe ) 2>/dev/null; then echo "WROTE $p $t" >> /tmp/log; fi ;;
      esac
      seen="$seen$p "
    fi
  done
done
echo stopped >> /tmp/log
exec sleep 300
"""


def _digest(path: str) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_nothing_in_the_container_can_open_the_exec_helper_cve_2019_5736(c: Capsa) -> None:
    """A loop in the container tries to open (and then to open for writing) /proc/PID/exe of
    every process that appears while a stream of execs enters it. The processes entering run
    the host's interpreter (linux driver) or runtime (oci): none may be opened before it execs
    the user's program. A PATH of thousands of missing directories keeps each one in the
    container, with the container's user and capabilities already, for a while before execve:
    only its being non-dumpable protects it then."""
    lines = _watch_execs(c)
    assert [line for line in lines if line.startswith(("OPENED", "WROTE"))] == []


def test_cve_2019_5736_with_cap_sys_ptrace(c: Capsa, request: pytest.FixtureRequest) -> None:
    """CAP_SYS_PTRACE overrides non-dumpable: the linux driver refuses exec where a process of the
    container may hold it (the container's, or exec --privileged); the oci driver's runtime
    execs from a sealed memfd copy of itself, which the watcher may open (it does) but never write:
    the host's binaries stay as they were."""
    def refused(r: Any) -> bool:
        errors = [line for line in r.stderr.splitlines() if line.startswith("Error: ")]
        return r.returncode == 125 and len(errors) == 1 and "CAP_SYS_PTRACE" in errors[0] and "oci" in r.stderr

    oci = request.node.callspec.params["store"] == "oci"
    running(c, "--cap-add", "SYS_PTRACE", name="traced")
    running(c, name="plain")
    cases = [("traced", "true"), ("-t", "traced", "true"), ("--privileged", "plain", "true")]
    if not oci:  # (crun refuses run --privileged here: capset of capabilities capsa lacks, a matter of its own)
        running(c, "--privileged", name="privileged")
        cases.append(("privileged", "true"))
    for argv in cases:
        r = c("exec", *argv)
        assert (r.returncode == 0) if oci else refused(r), (argv, r.stderr)
    if oci:
        lines = _watch_execs(c, "--cap-add", "SYS_PTRACE")
        assert [line for line in lines if line.startswith("WROTE")] == []


def _watch_execs(c: Capsa, *flags: str) -> list[str]:
    """The watcher's log (see WATCHER) after a stream of execs; the host's binaries unchanged."""
    import shutil
    import sys

    from conftest import CAPSA

    host = {os.path.realpath(sys.executable), os.path.realpath(Path(CAPSA).parent / "python")}
    host |= {os.path.realpath(p) for p in (shutil.which("crun"), shutil.which("runc")) if p}
    before = {path: _digest(path) for path in host}
    running(c, name="target")  # the target of the stream, beside the watcher
    r = c("run", "-d", "--name", "watcher", *flags, "busybox", "sh", "-c", WATCHER)
    assert r.returncode == 0, r.stderr
    long_path = ":".join(["/x"] * 30000) + ":/bin"  # (one argument: at most 128 KiB)
    for i in range(12):
        r = c("exec", "-e", f"PATH={long_path}", "watcher", "true")
        assert r.returncode == 0, r.stderr
        r = c("exec", "watcher", "sleep", "0.05")  # an exec'd program the watcher must see (and may open)
        assert r.returncode == 0, r.stderr
    r = c("exec", "watcher", "touch", "/tmp/stop")
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 20
    log = ""
    while "stopped" not in log and time.monotonic() < deadline:
        time.sleep(0.2)
        log = c("exec", "watcher", "cat", "/tmp/log").stdout
    assert "stopped" in log, log
    lines = log.splitlines()
    assert any(line.startswith("OK ") for line in lines), log  # the watcher does open what it may
    assert {path: _digest(path) for path in host} == before
    return lines


@pytest.mark.parametrize("store", ["linux"], indirect=True)  # (the oci driver runs its runtime with subprocess)
def test_exec_is_light(c: Capsa) -> None:
    """``exec CONTAINER true`` on the linux driver is parsed without typer and imports neither
    the run path's lifecycle nor the enum-building signal and socket modules (bench/exec.py
    times it)."""
    import subprocess
    import sys

    from conftest import CAPSA

    running(c)
    argv = [sys.executable, "-X", "importtime", str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot),
            "exec", "box", "true"]
    r = subprocess.run(argv, capture_output=True, text=True, env=c.env)
    assert r.returncode == 0, r.stderr
    mods = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert "capsa.cli.execute" in mods
    assert not {m for m in mods if m.split(".")[0] in ("typer", "click", "pluggy", "rich", "requests", "pyroute2")}
    assert not mods & {"capsa.container.lifecycle", "capsa.container.flags", "signal", "socket", "importlib.metadata",
                       "dataclasses", "inspect", "typing", "hashlib"}, mods


# -- review fixes ---------------------------------------------------------------------------------

def test_exec_without_t_never_gets_the_callers_terminal(c: Capsa) -> None:
    """capsa runs on a real pty (its controlling terminal): the exec process, without -t, has no
    controlling terminal at all (/dev/tty: ENXIO), so nothing can write to the host's terminal
    or push input into it with TIOCSTI."""
    running(c)
    t = Terminal(c, "exec", "box", "sh", "-c", "echo INJECT''ED > /dev/tty; echo rc=$?")
    t.expect(b"rc=")
    assert t.wait() == 0
    assert b"INJECTED" not in t.out and b"rc=0" not in t.out, t.out
    assert b"No such device or address" in t.out, t.out


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        found += [int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return found


def test_exec_t_whose_waiter_is_killed_exits_125(c: Capsa) -> None:
    """The waiter of an ``exec -t`` session killed: the CLI says so and exits 125 at once (it
    used to wait for the session's end and exit 0, as if the user had detached)."""
    running(c)
    t = Terminal(c, "exec", "-t", "box", "sh", "-c", "echo up; sleep 30")
    t.expect(b"up")
    waiters = _children(t.pid)
    assert len(waiters) == 1, waiters
    os.kill(waiters[0], 9)
    started = time.monotonic()
    assert t.wait() == 125, t.out
    assert time.monotonic() - started < 10
    errors = [line for line in t.out.decode().replace("\r", "").splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "waiter" in errors[0], t.out


def test_exec_d_waiter_keeps_no_inherited_descriptor(c: Capsa) -> None:
    """A pipe capsa inherited (fd 5 here) sees EOF when the CLI exits, not when the detached
    session ends: the waiter closes what it does not use."""
    import select
    import subprocess

    from conftest import CAPSA

    running(c)
    r_fd, w_fd = os.pipe()
    argv = ["bash", "-c", f'exec 5>&{w_fd} {w_fd}>&-; exec "$@"', "sh", str(CAPSA), "--root", str(c.root),
            "--runroot", str(c.runroot), "exec", "-d", "box", "sleep", "30"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=c.env, timeout=60, pass_fds=(w_fd,))
        os.close(w_fd)
        assert done.returncode == 0, done.stderr
        assert select.select([r_fd], [], [], 5)[0] and os.read(r_fd, 10) == b"", "fd 5 is still held"
    finally:
        os.close(r_fd)


def test_cve_2019_5736_as_a_user_with_suid_dumpable_1(c: Capsa, request: pytest.FixtureRequest) -> None:
    """With fs.suid_dumpable=1 a change of user makes a process dumpable again: the linux
    driver's exec process, once it is the container's user (1000, as the watcher), must turn
    non-dumpable again until its execve. (crun's, dumpable then, is its sealed memfd copy: it may
    be opened, never written.)"""
    sysctl = Path("/proc/sys/fs/suid_dumpable")
    saved = sysctl.read_text()
    sysctl.write_text("1\n")
    try:
        lines = _watch_execs(c, "--user", "1000")
    finally:
        sysctl.write_text(saved)
    oci = request.node.callspec.params["store"] == "oci"
    assert [line for line in lines if line.startswith(("WROTE",) if oci else ("OPENED", "WROTE"))] == []


def test_workdir_through_a_host_descriptor_stays_in_the_container_cve_2024_21626(c: Capsa) -> None:
    """``-w /proc/self/fd/7``, 7 a descriptor of the host's /etc that capsa inherited: refused
    (127, as a missing directory), never the host's /etc; ``run`` too. (A directory passed on
    with --preserve-fds is given to the container: its program could fchdir to it anyway.)"""
    import subprocess

    from conftest import CAPSA

    running(c)
    base = [str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot)]
    marker = Path("/etc/capsa-test-host-marker")
    marker.write_text("host\n")
    try:
        for argv in (base + ["exec", "-w", "/proc/self/fd/7", "box", "ls"],
                     base + ["exec", "-d", "-w", "/proc/self/fd/7", "box", "ls"],
                     base + ["run", "--rm", "-w", "/proc/self/fd/7", "busybox", "ls"]):
            done = subprocess.run(["bash", "-c", 'exec 3</dev/null 4</dev/null 5</dev/null 6</dev/null 7</etc; exec "$@"',
                                   "sh", *argv], capture_output=True, text=True, env=c.env, timeout=60)
            assert "capsa-test-host-marker" not in done.stdout, (argv, done.stdout)
            assert done.returncode != 0, (argv, done.stdout, done.stderr)
    finally:
        marker.unlink()


def test_stale_exec_records_are_not_sessions(c: Capsa) -> None:
    """A record whose pid now names another process (pid reuse: its start time differs) is no
    session; the records of a session whose waiter was killed go when the container stops."""
    import json
    import subprocess

    cid = running(c)
    sessions = Path(c.runroot) / "containers" / cid / "exec"
    other = subprocess.Popen(["sleep", "60"])
    try:
        sessions.mkdir(exist_ok=True)
        (sessions / ("f" * 64 + ".json")).write_text(json.dumps(
            {"id": "f" * 64, "pid": other.pid, "command": ["x"], "tty": False, "detached": True, "started": 1}))
        assert c("inspect", "--format", "{{.ExecIDs}}", "box").stdout.strip() == "[]"
    finally:
        other.kill()
        other.wait()
    r = c("exec", "-d", "box", "sleep", "300")
    assert r.returncode == 0, r.stderr
    exec_id = r.stdout.strip()
    assert exec_id in c("inspect", "--format", "{{.ExecIDs}}", "box").stdout
    pid = json.loads((sessions / f"{exec_id}.json").read_text())["pid"]
    waiter = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    os.kill(waiter, 9)  # it cannot remove the record any more
    assert c("stop", "-t", "0", "box").returncode == 0
    assert not sessions.exists() or list(sessions.iterdir()) == []
    assert c("start", "box").returncode == 0
    assert c("inspect", "--format", "{{.ExecIDs}}", "box").stdout.strip() == "[]"
