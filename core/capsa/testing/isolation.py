"""The isolation conformance suite: the isolation driver contract on real containers.

Mixed into a test class with ``name`` (and optionally ``options``); see
``tests/test_isolation_conformance.py``. The bundles are the core's own: a busybox-static root
filesystem (Debian's ``/bin/busybox``) and the ``config.json`` :func:`capsa.container.spec.build_spec`
writes, so a driver that passes runs what capsa gives it. The test process plays capsa's
container monitor: ``create`` makes it a child subreaper, the container's first process
becomes its child and the suite reaps it. Every test deletes what it made even when it fails,
then checks that nothing of it is left: no cgroup directory, no state under the driver's
``run_home``, no process, no mount. Needs root (skips otherwise).
"""
from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from capsa.container.relay import reap_orphans
from capsa.errors import IsolationError
from capsa.testing.drivers import make_driver, read_to_end
from capsa.testing.isolation_exec import ExecConformance
from capsa.testing.isolation_running import RunningContainerConformance

__all__ = ["IsolationConformance", "busybox_bundle"]

WAIT = 20.0  # seconds a container of the suite may take to exit


def busybox_bundle(directory: Path, args: list[str], **config: Any) -> Path:
    """A bundle in ``directory``: a busybox-static rootfs and the core's config.json for a
    container running ``args`` (``config``: more ContainerConfig fields, such as tty=True)."""
    from capsa.container.etcfiles import write_files
    from capsa.container.model import ContainerConfig
    from capsa.container.spec import build_spec
    from json import dumps

    if not Path("/bin/busybox").is_file():
        pytest.skip("Debian's busybox-static is not installed (scripts/setup.sh installs it)")
    rootfs = directory / "rootfs"
    for name in ("bin", "etc", "proc", "sys", "dev", "tmp", "root", "run"):
        (rootfs / name).mkdir(parents=True, exist_ok=True)
    (rootfs / "tmp").chmod(0o1777)
    shutil.copy2("/bin/busybox", rootfs / "bin/busybox")
    for applet in ("sh", "cat", "echo", "sleep", "true", "tty", "id", "ls", "grep"):
        os.symlink("busybox", rootfs / "bin" / applet)
    (rootfs / "bin/notexec").write_text("#!/bin/sh\necho never\n")
    (rootfs / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (rootfs / "etc/group").write_text("root:x:0:\n")
    cid = directory.name
    cfg = ContainerConfig(id=cid, name=f"conformance-{cid[:8]}", image_id="", image_name="", cmd=list(args),
                          **config)
    files = write_files(directory / "files", cfg, "")
    spec = build_spec(cfg, {"Env": ["PATH=/bin"]}, str(rootfs), files)
    bundle = directory / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(dumps(spec))
    return bundle


def _subreaper() -> bool:
    import ctypes

    from capsa.linux import PR_GET_CHILD_SUBREAPER, libc

    value = ctypes.c_int(0)
    libc().prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(value), 0, 0, 0)
    return bool(value.value)


class IsolationConformance(ExecConformance, RunningContainerConformance):
    kind: ClassVar[str] = "isolation"
    name: ClassVar[str] = ""
    options: ClassVar[dict[str, Any]] = {}

    # fixtures --------------------------------------------------------------------------------

    @pytest.fixture
    def iso(self, tmp_path: Path) -> Any:
        if os.geteuid() != 0:
            pytest.skip("the isolation suite runs containers: it needs root")
        from capsa.linux import set_child_subreaper

        was = _subreaper()
        driver = make_driver("isolation", self.name, tmp_path, dict(self.options))
        driver.made = []  # ids created through the fixture's helpers
        try:
            yield driver
        finally:
            for cid in driver.made:
                try:
                    driver.delete(cid, force=True)
                except IsolationError:
                    pass
            reap_orphans()
            set_child_subreaper(was)
        for cid in driver.made:
            assert self._leftovers(driver, cid, tmp_path) == [], f"left behind by {cid}"

    def make(self, iso: Any, tmp_path: Path, args: list[str], **config: Any) -> tuple[str, Path]:
        """A fresh container id and the core's bundle for ``args``."""
        cid = os.urandom(32).hex()
        (tmp_path / cid).mkdir()
        bundle = busybox_bundle(tmp_path / cid, args, **config)
        iso.made.append(cid)
        return cid, bundle

    @staticmethod
    def _leftovers(iso: Any, cid: str, tmp_path: Path) -> list[str]:
        found = []
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            if hierarchy.is_dir():
                for dirpath, dirnames, _ in os.walk(hierarchy):
                    found += [os.path.join(dirpath, d) for d in dirnames if cid in d]
        home = iso.context.run_home_dir
        if os.path.isdir(home):
            for dirpath, dirnames, filenames in os.walk(home):
                found += [os.path.join(dirpath, n) for n in dirnames + filenames if cid in n]
        with open("/proc/self/mountinfo") as fh:
            found += [line.split()[4] for line in fh if str(tmp_path) in line.split()[4]]
        return found

    @staticmethod
    def _pipes() -> tuple[tuple[int, int, int], int, int]:
        """(stdio for the container, our read end of its stdout, of its stderr)."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        null = os.open(os.devnull, os.O_RDONLY)
        return (null, out_w, err_w), out_r, err_r

    @staticmethod
    def _close_theirs(stdio: tuple[int, int, int]) -> None:
        for fd in set(stdio):
            os.close(fd)

    @staticmethod
    def _wait(pid: int) -> int:
        """Reap ``pid`` (our child: we are a subreaper) and return its exit code (128+N if killed)."""
        pidfd = os.pidfd_open(pid)
        try:
            assert select.select([pidfd], [], [], WAIT)[0], f"container process {pid} did not exit"
        finally:
            os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)

    def _run(self, iso: Any, tmp_path: Path, args: list[str], **config: Any) -> tuple[int, str, str]:
        cid, bundle = self.make(iso, tmp_path, args, **config)
        stdio, out_r, err_r = self._pipes()
        try:
            state = iso.create(cid, bundle, stdio=stdio)
        except IsolationError as exc:
            self._close_theirs(stdio)
            os.close(out_r)
            os.close(err_r)
            return getattr(exc, "exit_code", 125), "", exc.message
        self._close_theirs(stdio)
        iso.start(cid)
        code = self._wait(state.pid)
        out, err = read_to_end(out_r), read_to_end(err_r)
        iso.delete(cid)
        return code, out, err

    # create / start / state / delete ---------------------------------------------------------

    def test_lifecycle_and_exit_code(self, iso: Any, tmp_path: Path) -> None:
        cid, bundle = self.make(iso, tmp_path, ["sh", "-c", "echo out; echo err >&2; exit 3"])
        stdio, out_r, err_r = self._pipes()
        state = iso.create(cid, bundle, stdio=stdio)
        self._close_theirs(stdio)
        assert (state.id, state.status, state.bundle) == (cid, "created", os.path.realpath(bundle))
        assert state.pid and os.path.exists(f"/proc/{state.pid}")
        assert iso.state(cid).status == "created"
        assert iso.state(cid).annotations.get("io.capsa.container-name", "").startswith("conformance-")
        iso.start(cid)
        assert self._wait(state.pid) == 3
        assert (read_to_end(out_r), read_to_end(err_r)) == ("out\n", "err\n")
        after = iso.state(cid)
        assert after.status == "stopped" and after.pid is None
        iso.delete(cid)
        with pytest.raises(IsolationError):
            iso.state(cid)
        assert self._leftovers(iso, cid, tmp_path) == []

    def test_exit_codes(self, iso: Any, tmp_path: Path) -> None:
        assert self._run(iso, tmp_path, ["true"])[0] == 0
        assert self._run(iso, tmp_path, ["sh", "-c", "exit 42"])[0] == 42

    def test_missing_and_non_executable_commands(self, iso: Any, tmp_path: Path) -> None:
        """127 and 126 as podman gives them: from create (IsolationError.exit_code) or as the
        process's exit code; either way the host is left clean."""
        code, _, err = self._run(iso, tmp_path, ["/no/such/binary"])
        assert code == 127, err
        assert self._run(iso, tmp_path, ["/bin/notexec"])[0] == 126

    def test_the_bundle_is_honoured(self, iso: Any, tmp_path: Path) -> None:
        code, out, err = self._run(iso, tmp_path, ["sh", "-c", "echo $$; id -u; hostname; pwd; echo $FOO; "
                                                   "grep -E '^(CapEff|Seccomp):' /proc/self/status"],
                                   env=["FOO=bar"], workdir="/tmp", hostname="conformant")
        assert code == 0, err
        pid1, uid, host, cwd, foo, capeff, seccomp = out.split("\n")[:7]
        assert (pid1, uid, host, cwd, foo) == ("1", "0", "conformant", "/tmp", "bar")
        assert capeff.split()[1] == "00000000800405fb" and seccomp.split()[1] == "2"

    def test_cgroup_is_under_our_own(self, iso: Any, tmp_path: Path) -> None:
        from capsa.hostinfo import own_cgroups

        cid, bundle = self.make(iso, tmp_path, ["sleep", "30"])
        state = iso.create(cid, bundle, stdio=None)
        try:
            iso.start(cid)  # (a driver may still be moving it into its cgroup until start)
            own, theirs = own_cgroups(), own_cgroups(state.pid)
            for key, path in theirs.items():
                if key in own:  # in each hierarchy: our cgroup or one below it
                    assert path == own[key] or path.startswith(own[key].rstrip("/") + "/"), (key, path, own[key])
            assert any(cid in path for path in theirs.values()), theirs
        finally:
            iso.kill(cid, signal.SIGKILL)
            self._wait(state.pid)
            iso.delete(cid)

    def test_terminal_through_the_console_socket(self, iso: Any, tmp_path: Path) -> None:
        cid, bundle = self.make(iso, tmp_path, ["sh", "-c", "tty; echo tty-ok"], tty=True)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        null = os.open(os.devnull, os.O_RDWR)
        try:
            state = iso.create(cid, bundle, stdio=(null, null, null), console=theirs.fileno())
        finally:
            os.close(null)
            theirs.close()
        with ours:
            _, fds, _, _ = socket.recv_fds(ours, 16, 1)
        assert len(fds) == 1
        master = fds[0]
        iso.start(cid)
        got = b""
        deadline = time.monotonic() + WAIT
        while b"tty-ok" not in got and time.monotonic() < deadline:
            if select.select([master], [], [], 1)[0]:
                try:
                    got += os.read(master, 4096)
                except OSError:
                    break
        assert self._wait(state.pid) == 0
        os.close(master)
        assert b"/dev/pts/" in got and b"tty-ok" in got, got
        iso.delete(cid)

    # kill ------------------------------------------------------------------------------------

    def test_kill_a_running_and_a_created_container(self, iso: Any, tmp_path: Path) -> None:
        cid, bundle = self.make(iso, tmp_path, ["sleep", "30"])
        state = iso.create(cid, bundle, stdio=None)
        iso.start(cid)
        assert iso.state(cid).status == "running"
        iso.kill(cid, signal.SIGKILL)
        assert self._wait(state.pid) == 128 + signal.SIGKILL
        assert iso.state(cid).status == "stopped"
        with pytest.raises(IsolationError):
            iso.kill(cid, signal.SIGTERM)  # stopped: no signal
        iso.delete(cid)
        cid2, bundle2 = self.make(iso, tmp_path, ["sleep", "30"])
        state2 = iso.create(cid2, bundle2, stdio=None)
        iso.kill(cid2, signal.SIGKILL)  # the OCI spec allows signalling a created container
        self._wait(state2.pid)
        assert iso.state(cid2).status == "stopped"
        with pytest.raises(IsolationError):
            iso.start(cid2)
        iso.delete(cid2)

    def test_unknown_ids(self, iso: Any, tmp_path: Path) -> None:
        unknown = "f" * 64
        for op in (lambda: iso.state(unknown), lambda: iso.start(unknown), lambda: iso.kill(unknown, 15)):
            with pytest.raises(IsolationError):
                op()
        iso.delete(unknown)  # not an error
        iso.delete(unknown, force=True)

    # idempotency and errors ------------------------------------------------------------------

    def test_start_twice_and_create_twice_fail_and_keep_the_container(self, iso: Any, tmp_path: Path) -> None:
        cid, bundle = self.make(iso, tmp_path, ["sleep", "30"])
        state = iso.create(cid, bundle, stdio=None)
        with pytest.raises(IsolationError):
            iso.create(cid, bundle, stdio=None)
        assert iso.state(cid).status == "created" and iso.state(cid).pid == state.pid
        iso.start(cid)
        with pytest.raises(IsolationError):
            iso.start(cid)
        assert iso.state(cid).status == "running"
        with pytest.raises(IsolationError):
            iso.delete(cid)  # running: needs force
        assert iso.state(cid).status == "running"
        iso.delete(cid, force=True)
        self._wait(state.pid)
        iso.delete(cid)  # twice: not an error
        assert self._leftovers(iso, cid, tmp_path) == []

    def test_a_bad_bundle_leaves_the_host_clean(self, iso: Any, tmp_path: Path) -> None:
        cid, bundle = self.make(iso, tmp_path, ["true"])
        (bundle / "config.json").unlink()
        with pytest.raises(IsolationError):
            iso.create(cid, bundle, stdio=None)
        with pytest.raises(IsolationError):
            iso.state(cid)
        assert self._leftovers(iso, cid, tmp_path) == []
        cid2, bundle2 = self.make(iso, tmp_path, ["true"])
        shutil.rmtree(bundle2.parent / "rootfs" / "bin")  # a rootfs without the command nor /bin
        code, _, _ = self._run_created_or_failed(iso, cid2, bundle2)
        assert code != 0
        iso.delete(cid2, force=True)
        assert self._leftovers(iso, cid2, tmp_path) == []

    def _run_created_or_failed(self, iso: Any, cid: str, bundle: Path) -> tuple[int, str, str]:
        try:
            state = iso.create(cid, bundle, stdio=None)
        except IsolationError as exc:
            return 125, "", exc.message
        try:
            iso.start(cid)
        except IsolationError as exc:
            self._wait(state.pid)
            return 125, "", exc.message
        return self._wait(state.pid), "", ""

    def test_gc_removes_what_no_live_container_owns(self, iso: Any, tmp_path: Path) -> None:
        cid, bundle = self.make(iso, tmp_path, ["sleep", "30"])
        state = iso.create(cid, bundle, stdio=None)
        assert iso.gc([cid], dry_run=False) == []  # live: kept
        assert iso.state(cid).status == "created"
        found = iso.gc([], dry_run=True)
        assert iso.state(cid).status == "created"  # a dry run changes nothing
        iso.gc([], dry_run=False)
        self._wait(state.pid)
        if found:  # a driver that holds state reports and removes it
            with pytest.raises(IsolationError):
                iso.state(cid)
        iso.delete(cid, force=True)
        assert self._leftovers(iso, cid, tmp_path) == []


