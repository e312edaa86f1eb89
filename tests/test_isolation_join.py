"""How the linux driver forks the container's process B and moves it into its cgroup
(launcher.py, join.py), with real containers and real cgroups.

B is forked straight into its pid namespace as the caller's own child (no intermediate process),
and the caller's pid_for_children is left as it was. A thread of the caller writes B's pid into
every hierarchy's cgroup.procs while B builds the container; B reports ready without waiting for
that, and waits for it only after start, before it execs. A join that fails makes start fail with
the cgroup's error (and ``capsa run`` exit 125 with one line) and leaves nothing behind.
"""
from __future__ import annotations

import errno
import os
import re
import secrets
import select
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from capsa.errors import IsolationError
from capsa.hostinfo import cgroup_layout, own_cgroups
from conftest import CAPSA, Capsa
from containers import busybox_store
from runtime_leftovers import strict_leftovers
from test_isolation_runtime import Runtime, default_spec, sh

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path("/bin/busybox").is_file(),
                                reason="needs root and Debian's busybox-static")


def ns_link(kind: str, pid: int | str = "self") -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def nspid(pid: int) -> list[str]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return line.split()[1:]
    raise AssertionError("no NSpid line")


def in_container_cgroup(pid: int, cid: str) -> dict[str, bool]:
    """Controller ("" for v2) -> whether ``pid`` is in the container's cgroup there."""
    return {c: path.rsplit("/", 1)[-1] == f"capsa-{cid}"
            for c, path in own_cgroups(pid).items() if c in ("", "memory", "pids", "cpu", "cpuset")}


@pytest.fixture
def slow_join(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The fallback of a kernel without CLONE_INTO_CGROUP (B is not born in its v2 cgroup, a
    Join thread moves it), with joins that wait for the returned event before they start (as a
    slow RCU grace period would); it is set before ``runtime`` cleans up."""
    from capsa_isolation_linux import clone, join

    def no_clone_into_cgroup(cgroup_fd: int) -> int:
        raise OSError(errno.ENOSYS, "clone3 refused (as an older kernel would)")

    monkeypatch.setattr(clone, "fork_into", no_clone_into_cgroup)
    go = threading.Event()
    original = join.Join._run

    def delayed(self: join.Join) -> None:
        go.wait(30)
        original(self)

    monkeypatch.setattr(join.Join, "_run", delayed)
    yield go
    go.set()


def threaded_v2_parent() -> Iterator[str]:
    """A cgroup parent under which the v2 hierarchy refuses processes: its child ``t`` is
    threaded, which leaves every new sibling ``domain invalid`` (writing cgroup.procs gives
    EOPNOTSUPP). v1 hierarchies accept the process: only the v2 part of the join fails."""
    layout = cgroup_layout()
    if layout.v2_mount is None:
        pytest.skip("needs a cgroup2 hierarchy")
    own = own_cgroups()[""]
    name = f"capsa-jointest-{secrets.token_hex(3)}"
    parent = Path(layout.v2_mount + own.rstrip("/"), name)
    parent.mkdir()
    try:
        (parent / "t").mkdir()
        (parent / "t" / "cgroup.type").write_text("threaded")
        yield name
    finally:
        for directory in sorted(parent.glob("**/"), key=lambda p: len(p.parts), reverse=True):
            directory.rmdir()


@pytest.fixture
def bad_parent() -> Iterator[str]:
    yield from threaded_v2_parent()


# -- forking B ------------------------------------------------------------------------------------

def test_container_process_is_our_child_in_a_new_pid_namespace(runtime: Runtime) -> None:
    before = ns_link("pid_for_children")
    cid, pid = runtime.create(default_spec(["true"]))
    assert ns_link("pid_for_children") == before == ns_link("pid")  # switched back after the fork
    assert os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None  # ours, alive
    assert nspid(pid)[-1] == "1" and len(nspid(pid)) == 2
    assert ns_link("pid", pid) != before
    assert children() == [pid]  # no intermediate process, not even a zombie
    runtime.driver.start(cid)
    assert os.waitstatus_to_exitcode(runtime.wait(pid)) == 0
    runtime.driver.delete(cid)


def children() -> list[int]:
    """This process's children (of its main thread, which forks the containers)."""
    return [int(c) for c in Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()]


def test_joining_another_containers_pid_namespace(runtime: Runtime) -> None:
    first_cid, first = runtime.create(default_spec(["sleep", "30"]))
    runtime.driver.start(first_cid)
    before = ns_link("pid_for_children")
    spec = sh("cat /proc/1/cmdline; echo; echo $$")
    spec["linux"]["namespaces"] = [{"type": "pid", "path": f"/proc/{first}/ns/pid"}] + [
        n for n in spec["linux"]["namespaces"] if n["type"] != "pid"]
    res = runtime.run(spec)
    assert ns_link("pid_for_children") == before
    assert res.code == 0, res.err
    lines = res.out.split("\n")
    assert lines[0] == "sleep\x0030\x00" and lines[1] != "1"  # the first container's PID 1 is its init
    runtime.driver.kill(first_cid, 9)
    runtime.wait(first)
    runtime.driver.delete(first_cid)


# -- B is born in its cgroup ----------------------------------------------------------------------

def test_b_is_born_in_its_v2_cgroup_and_moves_itself_into_v1(runtime: Runtime) -> None:
    """No migration of a whole process, so no wait for the kernel's global lock: B is created
    in its v2 directory (clone3) and moves its one thread into each v1 hierarchy itself."""
    from capsa_isolation_linux import join

    cid, pid = runtime.create(default_spec(["true"]))
    assert all(in_container_cgroup(pid, cid).values()), in_container_cgroup(pid, cid)
    assert pid not in join._pending  # no Join thread was needed
    runtime.driver.start(cid)
    assert os.waitstatus_to_exitcode(runtime.wait(pid)) == 0
    runtime.driver.delete(cid)


def test_fork_into_places_the_child_before_it_runs(tmp_path: Path) -> None:
    """clone.fork_into, alone: the child's very first look at /proc/self/cgroup shows the v2
    directory it was born in."""
    from capsa_isolation_linux.clone import fork_into

    layout = cgroup_layout()
    if layout.v2_mount is None:
        pytest.skip("needs a cgroup2 hierarchy")
    target = Path(layout.v2_mount + own_cgroups()[""].rstrip("/"), f"capsa-forkinto-{secrets.token_hex(3)}")
    target.mkdir()
    try:
        fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
        r, w = os.pipe()
        try:
            pid = fork_into(fd)
            if pid == 0:  # pragma: no cover - the child
                os.write(w, Path("/proc/self/cgroup").read_bytes())
                os._exit(0)
            os.close(w)
            seen = os.read(r, 65536).decode()
            os.waitpid(pid, 0)
        finally:
            os.close(fd)
            os.close(r)
        assert f"0::{own_cgroups()[''].rstrip('/')}/{target.name}\n" in seen, seen
    finally:
        target.rmdir()


# -- the fallback join runs alongside B ---------------------------------------------------------

def test_ready_does_not_wait_for_the_join_but_exec_does(runtime: Runtime, slow_join: threading.Event) -> None:
    out_path = runtime.tmp / "out"
    spec = sh("cat /proc/self/cgroup")
    with open(out_path, "wb") as out, open(os.devnull, "rb") as null:
        cid, pid = runtime.create(spec, (null.fileno(), out.fileno(), out.fileno()))
    # create returned while the v2 join had not even begun: B reported ready all the same (it
    # moved itself into the v1 hierarchies)
    member = in_container_cgroup(pid, cid)
    assert not member[""] and all(v for c, v in member.items() if c)
    errors: list[BaseException] = []

    def start() -> None:
        try:
            runtime.driver.start(cid)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    starter = threading.Thread(target=start)
    starter.start()
    time.sleep(0.3)
    assert starter.is_alive()  # the container process took the start signal but waits for its cgroup
    assert os.readlink(f"/proc/{pid}/exe") == os.readlink("/proc/self/exe")  # not exec'd yet
    assert not in_container_cgroup(pid, cid)[""]
    slow_join.set()
    starter.join(10)
    assert not starter.is_alive() and not errors, errors
    assert os.waitstatus_to_exitcode(runtime.wait(pid)) == 0
    lines = [line for line in out_path.read_text().splitlines() if re.match(r"\d+:[^:]*:", line)]
    assert lines and all(line.endswith(":/") for line in lines), lines  # ran in its cgroup (namespace root)
    runtime.driver.delete(cid)


def test_delete_of_a_created_container_waits_for_its_join(runtime: Runtime, slow_join: threading.Event) -> None:
    cid, pid = runtime.create(default_spec(["true"]))
    threading.Timer(0.3, slow_join.set).start()
    began = time.monotonic()
    runtime.driver.delete(cid, force=True)
    assert time.monotonic() - began >= 0.25  # the join was settled before the cgroup went
    runtime.wait(pid)
    from capsa_isolation_linux import join

    assert pid not in join._pending


def test_join_threads_are_settled_before_the_next_fork(runtime: Runtime, slow_join: threading.Event) -> None:
    from capsa_isolation_linux import join

    first_cid, first = runtime.create(default_spec(["true"]))
    assert first in join._pending
    threading.Timer(0.3, slow_join.set).start()
    second_cid, second = runtime.create(default_spec(["true"]))  # waits for the first join to end
    assert first not in join._pending
    for cid, pid in ((first_cid, first), (second_cid, second)):
        runtime.driver.start(cid)
        assert os.waitstatus_to_exitcode(runtime.wait(pid)) == 0
        runtime.driver.delete(cid)
    assert not join._pending


# -- a failed join --------------------------------------------------------------------------------

def test_failed_join_stops_the_process_before_exec(runtime: Runtime) -> None:
    """launcher level, a v1 cpuset cgroup without cpus (ENOSPC): B is ready all the same; at
    start it reads the error, hands it to start on the exec fifo and exits 125 without exec."""
    from capsa_isolation_linux import launcher
    from capsa_isolation_linux import rootfs as rfs
    from capsa_isolation_linux.cgroups import Cgroup
    from capsa_isolation_linux.namespaces import is_child_subreaper, set_child_subreaper

    if "cpuset" not in cgroup_layout().v1_controllers:
        pytest.skip("needs a v1 cpuset hierarchy")
    cid = runtime.new_id()
    cgroup = Cgroup(f"capsa-{cid}")
    cgroup.create()
    was = is_child_subreaper()
    try:
        cpuset = cgroup.controller_path("cpuset")
        assert cpuset is not None
        Path(cpuset[0], "cpuset.cpus").write_text("\n")
        spec = default_spec(["true"])
        bundle = runtime.bundle(spec)
        os.mkfifo(bundle / "exec.fifo")
        null = os.open(os.devnull, os.O_RDWR)
        try:
            plan = launcher.Plan(spec, str(runtime.rootfs), str(bundle), str(bundle / "exec.fifo"),
                                 (null, null, null), cgroup, rfs.cgroup_mount_plan(cgroup, spec), None, {})
            set_child_subreaper()
            pid = launcher.launch(plan)  # ready: the join's outcome is not B's business yet
        finally:
            os.close(null)
        fifo = os.open(bundle / "exec.fifo", os.O_RDONLY | os.O_NONBLOCK)
        try:
            assert select.select([fifo], [], [], 10)[0]
            got = os.read(fifo, 4096)
        finally:
            os.close(fifo)
        assert got.startswith(b"E"), got
        message = got[1:].decode()
        found = re.fullmatch(rf"cannot move process (\d+) into cgroup {re.escape(cpuset[0])}: (.*)", message)
        assert found and int(found[1]) == pid and found[2] == os.strerror(errno.ENOSPC), message
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 125  # it stopped there, before exec
        with pytest.raises(ChildProcessError):
            os.waitpid(-1, os.WNOHANG)  # nothing else of ours, not even a zombie
        assert cgroup.pids() == []
    finally:
        set_child_subreaper(was)
        cgroup.delete()
    with open("/proc/self/mountinfo") as fh:
        assert str(runtime.rootfs) not in fh.read()


def test_failed_join_fails_start(runtime: Runtime, bad_parent: str) -> None:
    spec = default_spec(["true"])
    spec["annotations"]["io.capsa.cgroup-parent"] = bad_parent
    cid, pid = runtime.create(spec)
    with pytest.raises(IsolationError) as info:
        runtime.driver.start(cid)
    message = info.value.message
    found = re.fullmatch(rf"cannot start container {cid}: cannot move process {pid} into cgroup (\S+): (.*)", message)
    assert found, message
    assert found[1].endswith(f"/{bad_parent}/capsa-{cid}") and found[2] == os.strerror(errno.EOPNOTSUPP)
    assert not Path(f"/proc/{pid}").exists()  # exited before exec, and start collected it
    runtime.pids.remove(pid)
    assert runtime.driver.state(cid).status == "stopped"
    runtime.driver.delete(cid)
    assert not list(Path("/sys/fs/cgroup").glob(f"*/**/capsa-{cid}"))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    yield from busybox_store(tmp_path_factory, "join")


def test_capsa_run_with_a_failed_join_exits_126_and_leaves_nothing(store: Capsa, bad_parent: str) -> None:
    r = subprocess.run([str(CAPSA), "--root", str(store.root), "--runroot", str(store.runroot), "run", "--rm",
                        "--cgroup-parent", bad_parent, "busybox", "true"],
                       env=store.env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 126, r.stderr  # a failed start: podman's run exits 126
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    found = re.fullmatch(r"Error: cannot start container ([0-9a-f]{64}): cannot move process \d+ into cgroup "
                         rf"\S+/{bad_parent}/capsa-\1: .*", lines[0])
    assert found, lines[0]
    assert store("ps", "-a", "-q").stdout.split() == []
    assert strict_leftovers(store, [found[1]]) == []


def _launch_v2_mount(runtime: Runtime, cgroup: object, args: list[str]) -> tuple[int, Path]:
    """launch() with the cgroup2-host mount plan (cgroup namespace, then a cgroup2 mount), which
    the hybrid hosts the tests run on would not pick: B must be in its cgroup before it mounts."""
    from capsa_isolation_linux import launcher

    layout = cgroup_layout()
    if layout.v2_mount is None:
        pytest.skip("needs a cgroup2 hierarchy")
    spec = default_spec(args)
    bundle = runtime.bundle(spec)
    os.mkfifo(bundle / "exec.fifo")
    mount_plan = {"version": "v2", "v2_path": cgroup.paths()[layout.v2_mount], "cgroupns": True}  # type: ignore[attr-defined]
    null = os.open(os.devnull, os.O_RDWR)
    try:
        plan = launcher.Plan(spec, str(runtime.rootfs), str(bundle), str(bundle / "exec.fifo"),
                             (null, null, null), cgroup, mount_plan, None, {})
        return launcher.launch(plan), bundle
    finally:
        os.close(null)


@pytest.fixture
def v2_cgroup(runtime: Runtime) -> Iterator[object]:
    from capsa_isolation_linux.cgroups import Cgroup
    from capsa_isolation_linux.namespaces import is_child_subreaper, set_child_subreaper

    was = is_child_subreaper()
    set_child_subreaper()
    cgroup = Cgroup(f"capsa-{runtime.new_id()}")
    cgroup.create()
    try:
        yield cgroup
    finally:
        set_child_subreaper(was)
        cgroup.delete()


def test_a_cgroup2_mount_waits_for_the_join_before_ready(runtime: Runtime, slow_join: threading.Event,
                                                         v2_cgroup: object) -> None:
    threading.Timer(0.3, slow_join.set).start()
    began = time.monotonic()
    pid, bundle = _launch_v2_mount(runtime, v2_cgroup, ["true"])
    assert time.monotonic() - began >= 0.25  # B waited for its cgroup before mounting cgroup2
    assert all(in_container_cgroup(pid, v2_cgroup.name[6:]).values())  # type: ignore[attr-defined]
    fifo = os.open(bundle / "exec.fifo", os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert select.select([fifo], [], [], 10)[0] and os.read(fifo, 16) == b"0"
    finally:
        os.close(fifo)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def test_a_failed_join_before_a_cgroup2_mount_fails_the_launch(runtime: Runtime, bad_parent: str) -> None:
    from capsa_isolation_linux import launcher
    from capsa_isolation_linux.cgroups import Cgroup
    from capsa_isolation_linux.namespaces import is_child_subreaper, set_child_subreaper

    cgroup = Cgroup(f"capsa-{runtime.new_id()}", bad_parent)
    cgroup.create()
    was = is_child_subreaper()
    set_child_subreaper()
    try:
        with pytest.raises(launcher.LaunchError) as info:
            _launch_v2_mount(runtime, cgroup, ["true"])
        assert re.fullmatch(rf"cannot move process \d+ into cgroup \S+/{bad_parent}/{cgroup.name}: "
                            f"{re.escape(os.strerror(errno.EOPNOTSUPP))}", str(info.value)), str(info.value)
        assert children() == []  # killed and reaped
        assert cgroup.pids() == []
    finally:
        set_child_subreaper(was)
        cgroup.delete()
