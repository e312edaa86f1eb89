"""Device access control of the linux driver, on the real kernel.

Each enforcement path is tested alone: an eBPF device program on a cgroup2 directory (the v2
path; it works on this hybrid host's ``unified`` tree too) and the v1 ``devices`` controller. A
forked child joins a scratch cgroup below this process's own in one hierarchy only and probes
opens and mknods; the cgroups go away (and the program with them) even when a test fails. Then
real containers: a device outside the allowed list cannot be made nor opened, the defaults
work, and a rule for a device (what ``--device`` adds) opens it.
"""
from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from capsa.errors import IsolationError
from capsa.hostinfo import cgroup_layout

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path("/bin/busybox").is_file(),
                                reason="needs root and Debian's busybox-static")

PODMAN_RULES = [{"allow": False, "access": "rwm"}] + [
    {"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"}
    for major, minor in ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2))] + [
    {"allow": True, "type": "c", "major": 136, "access": "rwm"}]
LOOP_CONTROL = (10, 237)


def _own_dir(mount: str) -> str:
    from capsa_isolation_linux.cgroups import own_paths

    return own_paths()[mount]


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Scratch cgroup directories (hierarchy kind -> dir) removed at the end, and a node dir."""
    made: dict[str, str] = {}
    layout = cgroup_layout()
    name = f"capsa-devtest-{secrets.token_hex(4)}"
    if layout.v2_mount:
        made["v2"] = os.path.join(_own_dir(layout.v2_mount), name)
    if "devices" in layout.v1_controllers:
        made["v1"] = os.path.join(_own_dir(layout.v1_controllers["devices"]), name)
    for path in made.values():
        os.mkdir(path)
    made["nodes"] = str(tmp_path)
    try:
        yield made
    finally:
        for key in ("v1", "v2"):
            if key in made:
                os.rmdir(made[key])  # the probe has exited: the cgroup is empty


def probe(cgroup_dir: str, v1: bool, nodes: str, checks: list[tuple[str, ...]]) -> list[str]:
    """In a child moved into ``cgroup_dir``: each check ("open", path, mode) or ("mknod", kind,
    major, minor) answers "ok" or the errno's name."""
    import errno

    for check in checks:
        if check[0] == "open" and not os.path.exists(check[1]):
            pytest.skip(f"no {check[1]} on this host")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(r)
            with open(os.path.join(cgroup_dir, "tasks" if v1 else "cgroup.procs"), "w") as fh:
                fh.write("0")
            out = []
            for i, check in enumerate(checks):
                try:
                    if check[0] == "open":
                        os.close(os.open(check[1], {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR}[check[2]]))
                    else:
                        kind = stat.S_IFCHR if check[1] == "c" else stat.S_IFBLK
                        path = os.path.join(nodes, f"node{i}")
                        os.mknod(path, kind | 0o600, os.makedev(int(check[2]), int(check[3])))
                        os.unlink(path)
                    out.append("ok")
                except OSError as exc:
                    out.append(errno.errorcode.get(exc.errno or 0, str(exc)))
            os.write(w, " ".join(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        got = fh.read().decode().split()
    os.waitpid(pid, 0)
    return got


DEFAULT_CHECKS = [("open", "/dev/null", "rw"), ("open", "/dev/zero", "r"), ("open", "/dev/loop-control", "rw"),
                  ("mknod", "c", "1", "3"), ("mknod", "c", *map(str, LOOP_CONTROL)), ("mknod", "b", "7", "0")]


def test_bpf_program_on_cgroup2(scratch: dict[str, str]) -> None:
    from capsa_isolation_linux import device_access as da

    if "v2" not in scratch:
        pytest.skip("no cgroup2 hierarchy")
    da.attach(scratch["v2"], da.rules(PODMAN_RULES))
    assert probe(scratch["v2"], False, scratch["nodes"], DEFAULT_CHECKS) == \
        ["ok", "ok", "EPERM", "ok", "EPERM", "EPERM"]


@pytest.mark.parametrize("rules, checks, expected", [
    # wildcard minor, read-only access: reads of any 1:* device, no writes, no mknod
    ([{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "access": "r"}],
     [("open", "/dev/null", "r"), ("open", "/dev/null", "w"), ("open", "/dev/zero", "r"), ("mknod", "c", "1", "3")],
     ["ok", "EPERM", "ok", "EPERM"]),
    # allow all, then deny writes to 1:5: a later rule wins, a deny matches any of its accesses
    # (an rw open is refused: stricter than runc, whose deny matches only a subset of its access)
    ([{"allow": True, "access": "rwm"}, {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "w"}],
     [("open", "/dev/zero", "r"), ("open", "/dev/zero", "rw"), ("open", "/dev/null", "w"), ("mknod", "b", "7", "0")],
     ["ok", "EPERM", "ok", "ok"]),
    # type a with a major: both kinds of device 7, nothing else
    ([{"allow": False, "access": "rwm"}, {"allow": True, "type": "a", "major": 7, "access": "m"}],
     [("mknod", "b", "7", "0"), ("mknod", "c", "7", "1"), ("mknod", "c", "1", "3"), ("open", "/dev/null", "r")],
     ["ok", "ok", "EPERM", "EPERM"]),
    # type b only: a char device of the same numbers stays denied
    ([{"allow": False, "access": "rwm"}, {"allow": True, "type": "b", "major": 1, "minor": 3, "access": "rwm"}],
     [("mknod", "b", "1", "3"), ("mknod", "c", "1", "3")], ["ok", "EPERM"]),
])
@pytest.mark.parametrize("path", ["v2", "v1"])
def test_rule_semantics(scratch: dict[str, str], path: str, rules: list[dict], checks: list[tuple[str, ...]],
                        expected: list[str]) -> None:
    """The eBPF program and the v1 controller give the same answers."""
    from capsa_isolation_linux import device_access as da

    if path not in scratch:
        pytest.skip(f"no {path} hierarchy with device control")
    if path == "v2":
        da.attach(scratch["v2"], da.rules(rules))
    else:
        da.apply_v1(scratch["v1"], da.rules(rules))
    assert probe(scratch[path], path == "v1", scratch["nodes"], checks) == expected


def test_v1_devices_controller(scratch: dict[str, str]) -> None:
    from capsa_isolation_linux import device_access as da

    if "v1" not in scratch:
        pytest.skip("no v1 devices hierarchy")
    da.apply_v1(scratch["v1"], da.rules(PODMAN_RULES))
    listed = Path(scratch["v1"], "devices.list").read_text().split("\n")
    assert "c 1:3 rwm" in listed and "c 136:* rwm" in listed and "a *:* rwm" not in listed
    assert probe(scratch["v1"], True, scratch["nodes"], DEFAULT_CHECKS) == ["ok", "ok", "EPERM", "ok", "EPERM", "EPERM"]


def test_program_shape_and_bad_rules() -> None:
    from capsa_isolation_linux import device_access as da

    code = da.program(da.rules(PODMAN_RULES))
    assert len(code) % 8 == 0 and len(code) // 8 < 100
    # "deny all" first in the spec is last in the program, and nothing follows it (the verifier
    # refuses unreachable instructions)
    assert code[-16:] == bytes.fromhex("b700000000000000" "9500000000000000")
    assert da.v1_lines(da.rules([{"allow": True, "type": "a", "major": 7, "access": "rw"}])) == \
        [("devices.allow", "c 7:* rw"), ("devices.allow", "b 7:* rw")]
    for bad in ({"type": "x"}, {"access": "rwx"}, {"major": "1"}, {"minor": True}, {"access": 7}):
        with pytest.raises(IsolationError):
            da.rules([{"allow": True, **bad}])


def _devices_spec(script: str) -> dict:
    from test_isolation_runtime import DEFAULT_CAPS, sh

    if not os.path.exists("/dev/loop-control"):
        pytest.skip("no /dev/loop-control on this host")
    caps = DEFAULT_CAPS + ["CAP_MKNOD"]
    spec = sh(script, capabilities={"bounding": caps, "effective": caps, "permitted": caps})
    spec["linux"]["resources"]["devices"] = list(PODMAN_RULES)
    spec["mounts"].append({"destination": "/loopctl", "type": "bind", "source": "/dev/loop-control",
                           "options": ["bind", "rprivate"]})
    return spec


CONTAINER_SCRIPT = ("mknod /dev/lc c 10 237 && echo mknod-ok || echo mknod-denied; "
                    "mknod /dev/n c 1 3 && echo x > /dev/n && echo null-node-ok; "
                    "( : < /loopctl ) && echo open-ok || echo open-denied; "
                    "echo x > /dev/null && head -c 3 /dev/zero | wc -c; "
                    "( : < /dev/tty ) 2>&1 | grep -q 'not permitted' && echo tty-denied || echo tty-allowed")


def test_container_devices_denied_and_defaults_work(runtime) -> None:  # noqa: ANN001 - conftest fixture
    res = runtime.run(_devices_spec(CONTAINER_SCRIPT))
    assert res.code == 0, res.err
    assert res.out.split() == ["mknod-denied", "null-node-ok", "open-denied", "3", "tty-allowed"], res.out + res.err
    assert "Operation not permitted" in res.err


def test_container_device_rule_grants_access(runtime) -> None:  # noqa: ANN001 - conftest fixture
    spec = _devices_spec(CONTAINER_SCRIPT)
    spec["linux"]["resources"]["devices"].append(
        {"allow": True, "type": "c", "major": LOOP_CONTROL[0], "minor": LOOP_CONTROL[1], "access": "rwm"})
    res = runtime.run(spec)
    assert res.code == 0, res.err
    assert res.out.split() == ["mknod-ok", "null-node-ok", "open-ok", "3", "tty-allowed"], res.out + res.err


def _attached_programs(directory: str) -> int:
    """How many device programs BPF_PROG_QUERY finds attached to the cgroup2 ``directory``."""
    import ctypes
    import struct

    from capsa_isolation_linux import device_access as da

    ids = (ctypes.c_uint32 * 8)()
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        attr = ctypes.create_string_buffer(struct.pack("<IIIIQI4x", fd, da.BPF_CGROUP_DEVICE, 0, 0,
                                                       ctypes.addressof(ids), 8))
        da._bpf_buffer(16, attr)  # BPF_PROG_QUERY
    finally:
        os.close(fd)
    return struct.unpack_from("<I", attr.raw, 24)[0]


def test_created_container_has_both_kinds_of_device_control(runtime) -> None:  # noqa: ANN001
    """A created container's cgroup carries the rules on each hierarchy the host has."""
    from test_isolation_runtime import cgroup_dirs

    cid, _ = runtime.create(_devices_spec("true"))
    dirs = cgroup_dirs(cid)
    layout = cgroup_layout()
    checked = 0
    for directory in dirs:
        if layout.v2_mount and directory.startswith(layout.v2_mount + "/"):
            assert _attached_programs(directory) == 1
            checked += 1
        elif os.path.exists(os.path.join(directory, "devices.list")):
            assert Path(directory, "devices.list").read_text().splitlines()[0] == "c 1:3 rwm"
            checked += 1
    assert checked == bool(layout.v2_mount) + ("devices" in layout.v1_controllers)
    runtime.driver.delete(cid, force=True)


WITHOUT_MKNOD = '''
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from capsa.errors import IsolationError
from test_isolation_runtime import Runtime, sh
runtime = Runtime(Path(sys.argv[2]))
try:
    spec = sh("stat -c '%t:%T' /dev/null; echo x > /dev/null && echo null-ok")
    spec["mounts"] = [m for m in spec["mounts"] if m["destination"] not in ("/dev", "/dev/pts")]
    res = runtime.run(spec)  # no /dev tmpfs: the node is made in the rootfs's /dev, or bound there
    print(res.code, res.out.split(), res.err.strip())
    spec["linux"]["devices"] = [dict(spec["linux"]["devices"][0], minor=5)]  # "/dev/null" as 1:5
    try:
        runtime.create(spec)
    except IsolationError as exc:
        print("refused:", exc)
finally:
    runtime.cleanup()
'''


def test_without_cap_mknod_a_device_is_bound_only_if_the_host_node_is_that_device(tmp_path: Path) -> None:
    """Without CAP_MKNOD the node is the host's, bound, and only when the host's node at that
    path is the device the spec names (never another device)."""
    import shutil
    import subprocess
    import sys

    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is not installed")
    (tmp_path / "rt").mkdir()
    tests = str(Path(__file__).parent)
    r = subprocess.run(["setpriv", "--bounding-set", "-mknod", sys.executable, "-c", WITHOUT_MKNOD, tests,
                        str(tmp_path / "rt")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "0 ['1:3', 'null-ok'] ", r.stdout
    assert lines[1].startswith("refused:") and "the host's /dev/null is another device" in lines[1], r.stdout


def _capsa_programs() -> set[int]:
    """Ids of the loaded BPF programs named as capsa's device programs (BPF_PROG_GET_NEXT_ID,
    BPF_PROG_GET_FD_BY_ID, BPF_OBJ_GET_INFO_BY_FD)."""
    import ctypes
    import struct

    from capsa_isolation_linux import device_access as da

    found, current = set(), 0
    while True:
        attr = ctypes.create_string_buffer(struct.pack("<II", current, 0), 16)
        try:
            da._bpf_buffer(11, attr)  # BPF_PROG_GET_NEXT_ID
        except OSError:
            return found  # ENOENT: no more
        current = struct.unpack_from("<I", attr.raw, 4)[0]
        try:
            fd = da._bpf(13, struct.pack("<IIII", current, 0, 0, 0))  # BPF_PROG_GET_FD_BY_ID
        except OSError:
            continue  # freed meanwhile
        try:
            info = ctypes.create_string_buffer(128)
            da._bpf_buffer(15, ctypes.create_string_buffer(struct.pack("<IIQ", fd, 128, ctypes.addressof(info)), 16))
            if info.raw[64:80].rstrip(b"\0") == b"capsa_devices":
                found.add(current)
        finally:
            os.close(fd)


def test_device_programs_go_with_their_cgroup(runtime) -> None:  # noqa: ANN001 - conftest fixture
    import time

    if not cgroup_layout().v2_mount:
        pytest.skip("no cgroup2 hierarchy")
    before = _capsa_programs()
    cid, _ = runtime.create(_devices_spec("true"))
    during = _capsa_programs() - before
    assert len(during) == 1
    runtime.driver.delete(cid, force=True)
    deadline = time.monotonic() + 5
    while _capsa_programs() & during and time.monotonic() < deadline:
        time.sleep(0.05)  # the kernel frees a detached program after an RCU grace period
    assert not _capsa_programs() & during
