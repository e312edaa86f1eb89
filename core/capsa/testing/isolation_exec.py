"""The ``exec`` part of the isolation conformance suite (mixed into
:class:`capsa.testing.isolation.IsolationConformance`): a process started in a running
container joins its namespaces and cgroup, has its capabilities, seccomp filter and
no_new_privs, the process's user, env and cwd, returns its exit code (127/126 as errors), gets a
terminal of the container's devpts, and is refused by a container that is not running."""
from __future__ import annotations

import os
import select
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from capsa.drivers.isolation import ExecProcess, wait_exec
from capsa.errors import IsolationError
from capsa.testing.drivers import read_to_end

WAIT = 20.0
NAMESPACES = ("mnt", "uts", "ipc", "net", "pid", "cgroup")
STATUS_FIELDS = ("CapEff", "CapBnd", "CapPrm", "Seccomp", "NoNewPrivs", "Uid", "Gid")


def exec_process(args: list[str], **more: Any) -> dict[str, Any]:
    """An OCI process object as the core hands it to exec."""
    return {"args": args, "env": ["PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0},
            "capabilities": {k: ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_SETGID", "CAP_NET_BIND_SERVICE"]
                             for k in ("bounding", "effective", "permitted")},
            "noNewPrivileges": False, **more}


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as fh:
        fields = dict(line.split(":", 1) for line in fh if ":" in line)
    return {k: fields[k].strip() for k in STATUS_FIELDS if k in fields}


class ExecConformance:
    """Needs the suite's ``iso`` fixture, ``make`` and ``_pipes`` (see IsolationConformance)."""

    def _running(self, iso: Any, tmp_path: Path, **config: Any) -> tuple[str, int]:
        cid, bundle = self.make(iso, tmp_path, ["sleep", "60"], **config)  # type: ignore[attr-defined]
        null = os.open(os.devnull, os.O_RDWR)
        try:
            state = iso.create(cid, bundle, stdio=(null, null, null))
        finally:
            os.close(null)
        iso.start(cid)
        return cid, state.pid

    def _stop(self, iso: Any, cid: str, pid: int) -> None:
        iso.kill(cid, signal.SIGKILL)
        self._wait(pid)  # type: ignore[attr-defined]
        iso.delete(cid)

    def _exec(self, iso: Any, cid: str, process: dict[str, Any]) -> tuple[int, str, str]:
        stdio, out_r, err_r = self._pipes()  # type: ignore[attr-defined]
        try:
            proc = iso.exec(cid, process, stdio=stdio)
        except BaseException:
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            self._close_theirs(stdio)  # type: ignore[attr-defined]
        assert isinstance(proc, ExecProcess) and proc.pidfd >= 0
        assert select.select([proc.pidfd], [], [], WAIT)[0], "the exec'd process did not exit"
        code = wait_exec(proc)
        return code, read_to_end(out_r), read_to_end(err_r)

    def test_exec_joins_the_containers_namespaces_cgroup_and_security(self, iso: Any, tmp_path: Path) -> None:
        cid, init = self._running(iso, tmp_path, cap_add=["SYS_ADMIN"])
        try:
            spec_caps = (self._spec(iso, cid) or {}).get("capabilities") or {}
            process = exec_process(["sleep", "30"], capabilities=spec_caps, noNewPrivileges=True)
            proc = iso.exec(cid, process, stdio=None)
            try:
                for name in NAMESPACES:
                    assert os.readlink(f"/proc/{proc.pid}/ns/{name}") == os.readlink(f"/proc/{init}/ns/{name}"), name
                with open(f"/proc/{proc.pid}/cgroup") as mine, open(f"/proc/{init}/cgroup") as theirs:
                    assert mine.read() == theirs.read()
                got, want = _status(proc.pid), _status(init)
                assert got["Seccomp"] == want["Seccomp"] == "2"
                assert (got["CapEff"], got["CapBnd"]) == (want["CapEff"], want["CapBnd"])
                assert got["NoNewPrivs"] == "1"
                rootfs = self._rootfs(iso, cid)
                assert os.stat(f"/proc/{proc.pid}/root/bin/busybox").st_ino == os.stat(f"{rootfs}/bin/busybox").st_ino
            finally:
                signal.pidfd_send_signal(proc.pidfd, signal.SIGKILL)
                assert wait_exec(proc) == 128 + signal.SIGKILL
        finally:
            self._stop(iso, cid, init)

    def _spec(self, iso: Any, cid: str) -> dict[str, Any] | None:
        return self._config(iso, cid).get("process")

    def _rootfs(self, iso: Any, cid: str) -> str:
        bundle = iso.state(cid).bundle
        return os.path.join(bundle, self._config(iso, cid)["root"]["path"])

    @staticmethod
    def _config(iso: Any, cid: str) -> dict[str, Any]:
        import json

        with open(os.path.join(iso.state(cid).bundle, "config.json")) as fh:
            return json.load(fh)  # type: ignore[no-any-return]

    def test_exec_gets_the_processs_user_env_cwd_and_exit_code(self, iso: Any, tmp_path: Path) -> None:
        cid, init = self._running(iso, tmp_path, hostname="execed")
        try:
            code, out, err = self._exec(iso, cid, exec_process(
                ["sh", "-c", "echo $FOO; id -u; id -g; pwd; hostname; echo $$; exit 7"],
                env=["PATH=/bin", "FOO=bar"], cwd="/tmp", user={"uid": 1, "gid": 2}))
            assert code == 7, err
            foo, uid, gid, cwd, host, pid = out.split("\n")[:6]
            assert (foo, uid, gid, cwd, host) == ("bar", "1", "2", "/tmp", "execed")
            assert int(pid) > 1  # in the container's pid namespace, not its PID 1
        finally:
            self._stop(iso, cid, init)

    def test_exec_of_a_missing_or_non_executable_program(self, iso: Any, tmp_path: Path) -> None:
        cid, init = self._running(iso, tmp_path)
        try:
            for args, code in ((["/no/such/binary"], 127), (["nosuchcommand"], 127), (["/bin/notexec"], 126)):
                with pytest.raises(IsolationError) as err:
                    self._exec(iso, cid, exec_process(args))
                assert err.value.exit_code == code, (args, err.value.message)
            assert self._exec(iso, cid, exec_process(["true"]))[0] == 0  # the container is unharmed
        finally:
            self._stop(iso, cid, init)

    def test_exec_gets_a_terminal_of_the_containers_devpts(self, iso: Any, tmp_path: Path) -> None:
        cid, init = self._running(iso, tmp_path)
        try:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            null = os.open(os.devnull, os.O_RDWR)
            try:
                proc = iso.exec(cid, exec_process(["sh", "-c", "tty; echo tty-ok"], terminal=True),
                                stdio=(null, null, null), console=theirs.fileno())
            finally:
                os.close(null)
                theirs.close()
            with ours:
                _, fds, _, _ = socket.recv_fds(ours, 16, 1)
            assert len(fds) == 1
            got = b""
            deadline = time.monotonic() + WAIT
            while b"tty-ok" not in got and time.monotonic() < deadline:
                if select.select([fds[0]], [], [], 1)[0]:
                    try:
                        got += os.read(fds[0], 4096)
                    except OSError:
                        break
            assert wait_exec(proc) == 0
            os.close(fds[0])
            assert b"/dev/pts/" in got and b"tty-ok" in got, got
        finally:
            self._stop(iso, cid, init)

    def test_exec_needs_a_running_container(self, iso: Any, tmp_path: Path) -> None:
        cid, bundle = self.make(iso, tmp_path, ["true"])  # type: ignore[attr-defined]
        state = iso.create(cid, bundle, stdio=None)
        with pytest.raises(IsolationError):
            iso.exec(cid, exec_process(["true"]), stdio=None)  # created
        iso.start(cid)
        self._wait(state.pid)  # type: ignore[attr-defined]
        with pytest.raises(IsolationError):
            iso.exec(cid, exec_process(["true"]), stdio=None)  # stopped
        iso.delete(cid)
        with pytest.raises(IsolationError):
            iso.exec(cid, exec_process(["true"]), stdio=None)  # gone

    def test_exec_refuses_a_paused_container(self, iso: Any, tmp_path: Path) -> None:
        """A frozen container is refused at once (its process would never run: a hang)."""
        cid, init = self._running(iso, tmp_path)
        previous = signal.signal(signal.SIGALRM, _hung)
        try:
            iso.pause(cid)
            signal.alarm(int(WAIT) + 5)
            with pytest.raises(IsolationError, match="paused"):
                iso.exec(cid, exec_process(["true"]), stdio=None)
            signal.alarm(0)
            iso.resume(cid)
            code, _, _ = self._exec(iso, cid, exec_process(["true"]))
            assert code == 0
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
            self._stop(iso, cid, init)


    def test_exec_with_terminal_needs_a_console_and_leaves_the_subreaper_flag(self, iso: Any, tmp_path: Path) -> None:
        """A terminal without a console socket is refused; exec leaves the caller's
        PR_SET_CHILD_SUBREAPER as it found it (off here)."""
        cid, init = self._running(iso, tmp_path)
        was = _subreaper()
        try:
            with pytest.raises(IsolationError, match="console"):
                iso.exec(cid, exec_process(["true"], terminal=True), stdio=None)
            _subreaper(False)  # (the suite's process may be one: create made it so)
            code, _, _ = self._exec(iso, cid, exec_process(["true"]))
            assert code == 0
            assert not _subreaper(), "exec left the caller a child subreaper"
        finally:
            _subreaper(was)
            self._stop(iso, cid, init)


def _subreaper(set_to: bool | None = None) -> bool:
    """PR_GET_CHILD_SUBREAPER of this process (after PR_SET_CHILD_SUBREAPER ``set_to``, if given)."""
    import ctypes

    libc = ctypes.CDLL(None)
    if set_to is not None:
        libc.prctl(36, ctypes.c_ulong(int(set_to)), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    value = ctypes.c_int(0)
    libc.prctl(37, ctypes.byref(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    return bool(value.value)


def _hung(_signum: int, _frame: object) -> None:
    raise AssertionError("exec into a paused container hung")
