"""The linux isolation driver as an OCI runtime: real containers from hand-written bundles.

Each bundle is a busybox-static rootfs plus a config.json validated against the OCI runtime
schema. The test process plays capsa's container monitor: ``create`` makes it a child subreaper
so the container's PID 1 becomes its child, and it waits for that child. The ``runtime`` fixture
deletes (with force) every container, reaps every container process and restores the subreaper
flag, even when a test fails; each test then checks nothing of its containers is left (no
cgroup directory, no state directory, no process, no mount).
"""
from __future__ import annotations

import copy
import json
import os
import re
import secrets
import select
import shutil
import signal
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from capsa.drivers.base import DriverContext
from capsa.errors import IsolationError
from capsa.hostinfo import cgroup_layout, own_cgroups

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path("/bin/busybox").is_file(),
                                reason="needs root and Debian's busybox-static")

MiB = 1024 * 1024
DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE",
                "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"]
MASKED = ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi",
          "/proc/timer_list", "/proc/timer_stats", "/sys/firmware", "/sys/devices/virtual/powercap",
          "/proc/interrupts"]
READONLY = ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
APPLETS = ["sh", "cat", "ls", "id", "hostname", "mount", "ps", "sleep", "touch", "mknod", "ping", "echo", "true",
           "dd", "head", "wc", "kill", "ip", "readlink", "grep", "stat", "tty", "test", "mkdir", "cut", "env"]
NOT_FOUND = 127
CANNOT_INVOKE = 126


def make_rootfs(path: Path) -> Path:
    """A busybox-static root filesystem with `busybox --install -s` style symlinks."""
    for name in ("bin", "etc", "proc", "sys", "dev", "mnt", "root", "tmp"):
        (path / name).mkdir(parents=True, exist_ok=True)
    (path / "tmp").chmod(0o1777)
    shutil.copy2("/bin/busybox", path / "bin/busybox")
    for applet in APPLETS:
        os.symlink("busybox", path / "bin" / applet)
    (path / "bin/notexec").write_text("#!/bin/sh\necho never\n")
    (path / "bin/notexec").chmod(0o644)
    (path / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (path / "etc/group").write_text("root:x:0:\n")
    return path


def default_spec(args: list[str], **process: Any) -> dict[str, Any]:
    """A minimal valid OCI 1.0.2 spec with podman-like defaults (DESIGN.md §5)."""
    def m(dest: str, kind: str, source: str, options: list[str]) -> dict[str, Any]:
        return {"destination": dest, "type": kind, "source": source, "options": options}

    devices = [{"path": p, "type": "c", "major": ma, "minor": mi, "fileMode": 0o666, "uid": 0, "gid": 0}
               for p, ma, mi in (("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
                                 ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0))]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": list(DEFAULT_CAPS), "effective": list(DEFAULT_CAPS),
                             "permitted": list(DEFAULT_CAPS)},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": False,
            **process,
        },
        "root": {"path": "rootfs", "readonly": False},
        "hostname": "capsa-test",
        "mounts": [
            m("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
            m("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            m("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                                               "gid=5"]),
            m("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            m("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
            m("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
            m("/sys/fs/cgroup", "cgroup", "cgroup", ["rprivate", "nosuid", "noexec", "nodev", "relatime", "ro"]),
        ],
        "annotations": {"io.capsa.test": "1"},
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "resources": {"pids": {"limit": 1024}},
            "devices": devices,
            "sysctl": {"net.ipv4.ping_group_range": "0 0"},
            "maskedPaths": list(MASKED),
            "readonlyPaths": list(READONLY),
        },
    }


def validate(spec: dict[str, Any]) -> None:
    try:
        from oci_runtime_schema import assert_runtime_valid
    except ImportError:  # the shared validator is not there: check what the runtime relies on
        assert spec["ociVersion"].startswith("1.0") and spec["root"]["path"] and spec["process"]["cwd"]
        assert all(m["destination"].startswith("/") for m in spec["mounts"])
        return
    assert_runtime_valid(spec)


@dataclass
class Result:
    code: int
    out: str
    err: str


class Runtime:
    """The driver plus bookkeeping so that nothing a test makes outlives it."""

    def __init__(self, tmp: Path) -> None:
        from capsa_isolation_linux import LinuxDriver
        from capsa_isolation_linux.namespaces import is_child_subreaper

        self.tmp = tmp
        self.driver = LinuxDriver(DriverContext("isolation", "linux", tmp / "root", tmp / "run"))
        self.rootfs = make_rootfs(tmp / "rootfs")
        self.ids: list[str] = []
        self.pids: list[int] = []
        self.was_subreaper = is_child_subreaper()

    def bundle(self, spec: dict[str, Any]) -> Path:
        validate(spec)
        bundle = self.tmp / f"bundle-{secrets.token_hex(3)}"
        bundle.mkdir()
        os.symlink(self.rootfs, bundle / "rootfs")
        (bundle / "config.json").write_text(json.dumps(spec))
        return bundle

    def new_id(self) -> str:
        cid = f"t{secrets.token_hex(5)}"
        self.ids.append(cid)
        return cid

    def create(self, spec: dict[str, Any], stdio: tuple[int, int, int] | None = None) -> tuple[str, int]:
        cid = self.new_id()
        if stdio is None:
            null = os.open(os.devnull, os.O_RDWR)
            try:
                state = self.driver.create(cid, self.bundle(spec), (null, null, null))
            finally:
                os.close(null)
        else:
            state = self.driver.create(cid, self.bundle(spec), stdio)
        assert state.status == "created" and state.pid
        self.pids.append(state.pid)
        return cid, state.pid

    def wait(self, pid: int, timeout: float = 30) -> int:
        """Wait for a container's PID 1 (our child, as we are a subreaper); its raw status."""
        pidfd = os.pidfd_open(pid)
        try:
            if not select.select([pidfd], [], [], timeout)[0]:
                os.kill(pid, signal.SIGKILL)
                pytest.fail(f"container process {pid} did not exit within {timeout}s")
        finally:
            os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        self.pids.remove(pid)
        return status

    def run(self, spec: dict[str, Any], timeout: float = 30) -> Result:
        """create + start + wait + delete; the exit code and what the container wrote."""
        out_path, err_path = self.tmp / f"out-{secrets.token_hex(3)}", self.tmp / f"err-{secrets.token_hex(3)}"
        with open(os.devnull, "rb") as stdin, open(out_path, "wb") as out, open(err_path, "wb") as err:
            cid, pid = self.create(spec, (stdin.fileno(), out.fileno(), err.fileno()))
        self.driver.start(cid)
        status = self.wait(pid, timeout)
        assert self.driver.state(cid).status == "stopped"
        self.driver.delete(cid)
        return Result(os.waitstatus_to_exitcode(status), out_path.read_text(), err_path.read_text())

    def cleanup(self) -> None:
        from capsa_isolation_linux.namespaces import set_child_subreaper

        try:
            for cid in self.ids:
                try:
                    self.driver.delete(cid, force=True)
                except IsolationError:
                    pass
            for pid in self.pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
        finally:
            set_child_subreaper(self.was_subreaper)

    def assert_nothing_left(self) -> None:
        for cid in self.ids:
            assert not cgroup_dirs(cid), f"cgroup of {cid} left behind"
            assert not (self.tmp / "run" / "isolation" / "linux" / cid).exists()
        for pid in self.pids:
            assert not Path(f"/proc/{pid}").exists()
        with open("/proc/self/mountinfo") as fh:
            assert str(self.rootfs) not in fh.read()


def cgroup_dirs(cid: str) -> list[str]:
    """Every directory named capsa-<cid> below /sys/fs/cgroup (any hierarchy)."""
    found = []
    for top, dirs, _ in os.walk("/sys/fs/cgroup"):
        if f"capsa-{cid}" in dirs:
            found.append(os.path.join(top, f"capsa-{cid}"))
    return found


def status_fields(text: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines()) if v}


def sh(script: str, **process: Any) -> dict[str, Any]:
    return default_spec(["sh", "-c", script], **process)


# -- exit codes and exec ------------------------------------------------------------------------

def test_exit_codes(runtime: Runtime) -> None:
    assert runtime.run(default_spec(["true"])).code == 0
    assert runtime.run(sh("exit 3")).code == 3
    # As crun's: a command that cannot be found or run fails the create, with podman's words
    # and the code run exits with (the container is never started).
    with pytest.raises(IsolationError) as missing:
        runtime.run(default_spec(["no-such-command"]))
    assert missing.value.exit_code == NOT_FOUND
    assert str(missing.value) == ("executable file `no-such-command` not found in $PATH: No such file or directory: "
                                  "OCI runtime attempted to invoke a command that was not found")
    with pytest.raises(IsolationError) as missing:
        runtime.run(default_spec(["/bin/no-such-file"]))
    assert missing.value.exit_code == NOT_FOUND
    with pytest.raises(IsolationError) as notexec:
        runtime.run(default_spec(["/bin/notexec"]))
    assert notexec.value.exit_code == CANNOT_INVOKE and "Permission denied" in str(notexec.value)


def test_args_env_cwd_and_stdio(runtime: Runtime) -> None:
    spec = sh('echo "$FOO" "$0" "$1"; pwd; echo oops >&2', env=["PATH=/bin", "FOO=bar baz"], cwd="/etc")
    spec["process"]["args"] += ["zero", "one"]
    res = runtime.run(spec)
    assert res.code == 0
    assert res.out.splitlines() == ["bar baz zero one", "/etc"]
    assert res.err == "oops\n"


# -- identity, capabilities, seccomp ------------------------------------------------------------

def test_default_capabilities_and_no_seccomp(runtime: Runtime) -> None:
    res = runtime.run(default_spec(["cat", "/proc/self/status"]))
    fields = status_fields(res.out)
    assert fields["CapEff"] == "00000000800405fb"
    assert fields["CapPrm"] == fields["CapBnd"] == "00000000800405fb"
    assert fields["NoNewPrivs"] == "0" and fields["Seccomp"] == "0"


def test_no_new_privileges_and_seccomp_profile(runtime: Runtime) -> None:
    spec = sh("cat /proc/self/status; mkdir /tmp/denied && echo made", noNewPrivileges=True)
    spec["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    res = runtime.run(spec)
    fields = status_fields(res.out)
    assert fields["NoNewPrivs"] == "1" and fields["Seccomp"] == "2"
    assert "made" not in res.out and "Operation not permitted" in res.err
    assert not (runtime.rootfs / "tmp/denied").exists()


def test_default_seccomp_profile_without_nnp(runtime: Runtime) -> None:
    """capsa's default profile (as the spec generator converts it) loads without no_new_privs
    (the container process still holds CAP_SYS_ADMIN then) and gates mount/unshare on CAP_SYS_ADMIN."""
    from capsa.security.seccomp import to_oci
    from capsa_isolation_linux import seccomp

    spec = sh("grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; mount -t tmpfs x /mnt || echo no-mount")
    spec["linux"]["seccomp"] = to_oci(seccomp.default_profile(), DEFAULT_CAPS)
    res = runtime.run(spec)
    assert res.code == 0, res.err
    fields = status_fields(res.out)
    assert fields["Seccomp"] == "2" and fields["NoNewPrivs"] == "0"
    assert "no-mount" in res.out


def _seccomp_files(runtime: Runtime) -> list[Path]:
    return sorted((runtime.tmp / "run" / "isolation" / "linux").glob("seccomp-*.bpf"))


def test_seccomp_filter_cache(runtime: Runtime) -> None:
    """The first container compiles the default profile and stores the program in run_home; the
    next ones load the stored bytes (the file is not rewritten); a damaged file is ignored and
    replaced, and the filter still denies what it must."""
    from capsa.security.seccomp import to_oci
    from capsa_isolation_linux import seccomp, seccomp_cache

    spec = sh("grep '^Seccomp:' /proc/self/status; mount -t tmpfs x /mnt || echo no-mount; "
              "unshare -m true || echo no-unshare; echo done")
    spec["linux"]["seccomp"] = to_oci(seccomp.default_profile(), DEFAULT_CAPS)

    def check(res: Result) -> None:
        assert res.code == 0, res.err
        assert res.out.split() == ["Seccomp:", "2", "no-mount", "no-unshare", "done"], res.out

    assert not _seccomp_files(runtime)
    check(runtime.run(spec))
    [path] = _seccomp_files(runtime)
    stored, before = path.read_bytes(), path.stat()
    check(runtime.run(spec))
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # a hit: not rewritten
    profile = seccomp.from_oci(spec["linux"]["seccomp"])
    assert seccomp_cache.program(profile, DEFAULT_CAPS, str(path.parent)).cached
    flipped = bytearray(stored)
    flipped[8] ^= 0xFF
    for broken in (stored[:13], bytes(flipped)):
        path.write_bytes(broken)
        check(runtime.run(spec))
        assert path.read_bytes() == stored  # recompiled and stored again
    assert runtime.driver.gc(set()) == [] and path.exists()  # the cache is not a container's state
    # no_new_privs: the filter is loaded last, from the cache too
    nnp = sh("grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; mkdir /tmp/denied && echo made",
             noNewPrivileges=True)
    nnp["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                                             "errnoRet": 1}]}
    for _ in range(2):
        res = runtime.run(nnp)
        assert status_fields(res.out) == {"Seccomp": "2", "NoNewPrivs": "1"} and "made" not in res.out
        assert "Operation not permitted" in res.err
    assert len(_seccomp_files(runtime)) == 2


def test_user_groups_and_capabilities(runtime: Runtime) -> None:
    spec = sh("id; grep -E '^(CapEff|CapAmb|Groups):' /proc/self/status; touch /root/x || echo denied",
              user={"uid": 1000, "gid": 1001, "additionalGids": [10, 20]})
    spec["process"]["capabilities"].update(inheritable=["CAP_KILL"], ambient=["CAP_KILL"])
    res = runtime.run(spec)
    assert res.code == 0, res.err
    ident = res.out.splitlines()[0]
    assert ident.startswith("uid=1000 gid=1001 groups=")
    assert {g.split("(")[0] for g in ident.split("groups=")[1].split(",")} == {"10", "20", "1001"}
    fields = status_fields(res.out)
    assert fields["CapEff"] == fields["CapAmb"] == f"{1 << 5:016x}"  # only the ambient CAP_KILL survives
    assert sorted(fields["Groups"].split()) == ["10", "1001", "20"]
    assert "denied" in res.out  # /root is root's: the user cannot write there


# -- namespaces and the filesystem view ----------------------------------------------------------

def test_pid1_hostname_and_pivot_root(runtime: Runtime) -> None:
    script = ("echo $$; hostname; readlink /proc/self/root; ls /; echo ---; cat /proc/1/mountinfo; echo ---; "
              f"ls /proc | grep -E '^[0-9]+$'; echo ---; kill -9 {os.getpid()} || echo cannot-see-host")
    res = runtime.run(sh(script))
    assert res.code == 0, res.err
    head, mountinfo, procs, tail = res.out.split("---\n")
    lines = head.splitlines()
    assert lines[:3] == ["1", "capsa-test", "/"]
    assert sorted(lines[3:]) == sorted(p.name for p in runtime.rootfs.iterdir())
    points = [line.split()[4] for line in mountinfo.splitlines()]
    assert points[0] == "/"
    assert "/proc" in points and "/sys/fs/cgroup" in points and "/dev/pts" in points
    host = str(runtime.tmp)
    assert not [p for p in points if p.startswith(host) or p.startswith("/work") or ".capsa-oldroot" in p]
    assert len(points) < 60  # the host's mounts are gone with the old root
    assert all(int(pid) < 50 for pid in procs.split())  # only this pid namespace's processes
    assert "cannot-see-host" in tail


def test_masked_and_readonly_paths_and_no_privileged_ops(runtime: Runtime) -> None:
    # /proc/kcore is the classic example, but kernels without CONFIG_PROC_KCORE lack it: check
    # every masked file and directory this kernel has (they must read empty / list nothing).
    files = [p for p in MASKED if os.path.isfile(p)]
    dirs = [p for p in MASKED if os.path.isdir(p)]
    assert files and dirs
    script = "\n".join([
        *(f"echo {p}=$(cat {p} | wc -c)" for p in files),
        *(f"echo {p}=$(ls -A {p} | wc -l)" for p in dirs),
        "echo 1 > /proc/sys/kernel/domainname && echo procsys-writable",
        "touch /sys/kernel/x 2>/dev/null || echo sys-ro",
        "mount -t tmpfs x /mnt 2>/dev/null || echo no-mount",
        "mknod /tmp/x c 1 1 2>/dev/null || echo no-mknod",
        "cat /proc/sys/net/ipv4/ping_group_range",
        "echo ok > /tmp/written && cat /tmp/written",
    ])
    res = runtime.run(sh(script))
    assert res.code == 0, res.err
    out = res.out.splitlines()
    assert all(f"{p}=0" in out for p in files + dirs), res.out
    assert "procsys-writable" not in out and "Read-only file system" in res.err
    assert {"sys-ro", "no-mount", "no-mknod", "ok"} <= set(out)
    assert "0\t0" in out
    assert not (runtime.rootfs / "tmp/x").exists()


def test_readonly_root(runtime: Runtime) -> None:
    spec = sh("touch /etc/x || echo ro-root; echo hi > /tmp/y && cat /tmp/y")
    spec["root"]["readonly"] = True
    spec["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                           "options": ["rw", "nosuid", "nodev", "mode=1777"]})
    res = runtime.run(spec)
    assert res.code == 0 and res.out.splitlines() == ["ro-root", "hi"]
    assert not (runtime.rootfs / "etc/x").exists() and not (runtime.rootfs / "tmp/y").exists()


def test_tmpfs_copy_up_on_a_readonly_root(runtime: Runtime) -> None:
    run = runtime.rootfs / "run"
    (run / "sub").mkdir(parents=True)
    (run / "sub/data").write_text("hello\n")
    os.chown(run / "sub/data", 7, 8)
    os.chmod(run / "sub/data", 0o640)
    os.symlink("sub/data", run / "link")
    spec = sh("cat /run/link; stat -c '%u:%g %a' /run/sub/data; echo new > /run/new && cat /run/new; "
              "touch /etc/x || echo ro-root")
    spec["root"]["readonly"] = True
    spec["mounts"].append({"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                           "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]})
    res = runtime.run(spec)
    assert res.code == 0, res.err
    assert res.out.splitlines() == ["hello", "7:8 640", "new", "ro-root"]
    assert sorted(p.name for p in run.iterdir()) == ["link", "sub"]  # the image's /run is untouched


def test_devices_and_dev_links(runtime: Runtime) -> None:
    spec = sh("stat -c '%n %F %t:%T %a %u:%g' /dev/null /dev/mydev; for l in ptmx fd stdin; do readlink /dev/$l; done; "
              "head -c 5 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; ls /dev/pts; "
              "head -c 1 /dev/full >/dev/null 2>&1 || echo full-denied")
    spec["linux"]["devices"] += [
        {"path": "/dev/mydev", "type": "c", "major": 1, "minor": 5, "fileMode": 0o620, "uid": 5, "gid": 6},
    ]
    # the device cgroup (v1): deny all, then allow what podman allows except /dev/full (1:7)
    spec["linux"]["resources"]["devices"] = [{"allow": False, "access": "rwm"}] + [
        {"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"}
        for major, minor in ((1, 3), (1, 5), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2))] + [
        {"allow": True, "type": "c", "major": 136, "access": "rwm"}]
    res = runtime.run(spec)
    assert res.code == 0, res.err
    out = res.out.splitlines()
    if "devices" in cgroup_layout().v1_controllers:
        assert out[-1] == "full-denied"
    assert out[0] == "/dev/null character special file 1:3 666 0:0"
    assert out[1] == "/dev/mydev character special file 1:5 620 5:6"
    assert out[2:5] == ["pts/ptmx", "/proc/self/fd", "/proc/self/fd/0"]
    assert out[5].strip() == "5" and out[6] == "null-ok" and "ptmx" in out[7:]


def test_bind_mounts_read_only_and_symlink_escape(runtime: Runtime) -> None:
    shared = runtime.tmp / "shared"
    shared.mkdir()
    (shared / "data").write_text("from host\n")
    os.symlink("/../../../../../../outside", runtime.rootfs / "evil")
    spec = sh("cat /data/data; touch /data/new || echo ro-bind; cat /rw/data; touch /rw/new && echo rw-ok; "
              "touch /evil/inside && echo evil-ok")
    spec["mounts"] += [
        {"destination": "/data", "type": "bind", "source": str(shared), "options": ["rbind", "ro", "rprivate"]},
        {"destination": "/rw", "type": "bind", "source": str(shared), "options": ["bind", "rw"]},
        {"destination": "/evil", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
    ]
    res = runtime.run(spec)
    assert res.code == 0, res.err
    assert res.out.splitlines() == ["from host", "ro-bind", "from host", "rw-ok", "evil-ok"]
    assert (shared / "new").exists()
    assert not Path("/outside").exists()  # the symlink resolved inside the rootfs
    assert (runtime.rootfs / "outside").is_dir()
    shutil.rmtree(runtime.rootfs / "outside")
    os.unlink(runtime.rootfs / "evil")


def test_network_namespace_has_only_loopback_up(runtime: Runtime) -> None:
    # busybox's ping needs a raw socket (it does not fall back to ICMP datagram sockets, which
    # ping_group_range allows): give it CAP_NET_RAW to prove lo carries traffic.
    caps = DEFAULT_CAPS + ["CAP_NET_RAW"]
    spec = sh("ls /sys/class/net; cat /sys/class/net/lo/flags; ip link; ping -c 1 -W 2 127.0.0.1",
              capabilities={"bounding": caps, "effective": caps, "permitted": caps})
    res = runtime.run(spec)
    assert res.code == 0, res.out + res.err
    lines = res.out.splitlines()
    assert lines[0] == "lo"
    assert int(lines[1], 16) & 0x1  # IFF_UP
    links = [line for line in lines if ": <" in line]
    assert len(links) == 1 and "lo:" in links[0] and "UP" in links[0]
    assert "1 packets received" in res.out


def test_terminal(runtime: Runtime) -> None:
    master, slave = os.openpty()
    try:
        spec = sh("test -t 0 && test -t 1 && echo is-a-tty; stat -c %F /dev/console", terminal=True)
        cid, pid = runtime.create(spec, (slave, slave, slave))
        os.close(slave)
        slave = -1
        runtime.driver.start(cid)
        code = os.waitstatus_to_exitcode(runtime.wait(pid))
        out = b""
        while select.select([master], [], [], 0.5)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        runtime.driver.delete(cid)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert code == 0
    assert b"is-a-tty" in out and b"character special file" in out


# -- cgroups --------------------------------------------------------------------------------------

def test_cgroup_membership_and_limits(runtime: Runtime) -> None:
    spec = sh("cat /proc/self/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; "
              "cat /sys/fs/cgroup/pids/pids.max; touch /sys/fs/cgroup/memory/x || echo cg-ro; sleep 30")
    spec["linux"]["resources"] = {"memory": {"limit": 64 * MiB}, "pids": {"limit": 1024},
                                  "cpu": {"shares": 512, "quota": 50000, "period": 100000}}
    layout = cgroup_layout()
    if layout.version != "v1" or "memory" not in layout.v1_controllers or "pids" not in layout.v1_controllers:
        pytest.skip("checks the v1 memory and pids hierarchies")
    out_path = runtime.tmp / "cg-out"
    with open(out_path, "wb") as out, open(os.devnull, "rb") as null:
        cid, pid = runtime.create(spec, (null.fileno(), out.fileno(), out.fileno()))
    # Between create and start the process may still be joining its cgroup (see launcher.py);
    # start returns once it is in it.
    runtime.driver.start(cid)
    own = own_cgroups()
    mine = own_cgroups(pid)
    for controller in ("memory", "pids", "cpu"):
        assert mine[controller] == f"{own[controller].rstrip('/')}/capsa-{cid}"
    directory = {c: layout.v1_controllers[c] + mine[c] for c in ("memory", "pids", "cpu")}
    assert Path(directory["memory"], "memory.limit_in_bytes").read_text().strip() == str(64 * MiB)
    assert Path(directory["pids"], "pids.max").read_text().strip() == "1024"
    assert Path(directory["cpu"], "cpu.shares").read_text().strip() == "512"
    assert Path(directory["cpu"], "cpu.cfs_quota_us").read_text().strip() == "50000"
    assert str(pid) in Path(directory["memory"], "cgroup.procs").read_text().split()
    deadline = time.monotonic() + 10
    while "cg-ro" not in out_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    inside = out_path.read_text().splitlines()
    assert "4:memory:/" in inside and f"{64 * MiB}" in inside and "1024" in inside and "cg-ro" in inside
    cgroup_lines = [line for line in inside if re.match(r"\d+:[^:]*:", line)]
    assert len(cgroup_lines) == len(Path("/proc/self/cgroup").read_text().splitlines())
    assert all(line.endswith(":/") for line in cgroup_lines), cgroup_lines  # the namespace's root
    assert runtime.driver.state(cid).status == "running"
    with pytest.raises(IsolationError, match="running"):
        runtime.driver.delete(cid)
    runtime.driver.delete(cid, force=True)
    assert not cgroup_dirs(cid) and not any(Path(d).exists() for d in directory.values())
    runtime.wait(pid)
    with pytest.raises(IsolationError):
        runtime.driver.state(cid)


def test_oom_kill(runtime: Runtime) -> None:
    from capsa_isolation_linux.cgroups import Cgroup

    spec = default_spec(["dd", "if=/dev/zero", "bs=200M", "count=1", "of=/dev/null"])
    spec["linux"]["resources"] = {"memory": {"limit": 32 * MiB}, "pids": {"limit": 1024}}
    cid, pid = runtime.create(spec)
    runtime.driver.start(cid)
    status = runtime.wait(pid)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert Cgroup(f"capsa-{cid}", "").oom_killed()
    runtime.driver.delete(cid)
    assert not cgroup_dirs(cid)


# -- lifecycle --------------------------------------------------------------------------------------

def test_state_transitions_and_signals(runtime: Runtime) -> None:
    drv = runtime.driver
    out_path = runtime.tmp / "sig-out"
    spec = sh("trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done")
    with open(out_path, "wb") as out, open(os.devnull, "rb") as null:
        cid, pid = runtime.create(spec, (null.fileno(), out.fileno(), out.fileno()))
    st = drv.state(cid)
    assert (st.status, st.pid, st.annotations["io.capsa.test"]) == ("created", pid, "1")
    state_dir = runtime.tmp / "run" / "isolation" / "linux" / cid
    saved = json.loads((state_dir / "state.json").read_text())
    assert saved["status"] == "created" and saved["pid"] == pid
    assert stat.S_ISFIFO(os.stat(state_dir / "exec.fifo").st_mode)
    try:
        from oci_runtime_schema import assert_runtime_valid
    except ImportError:
        pass
    else:
        assert_runtime_valid(saved, "state-schema.json")
    drv.start(cid)
    assert drv.state(cid).status == "running"
    with pytest.raises(IsolationError, match="not created"):
        drv.start(cid)
    deadline = time.monotonic() + 10
    while "ready" not in out_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    drv.kill(cid, signal.SIGTERM)
    status = runtime.wait(pid)
    assert os.waitstatus_to_exitcode(status) == 42 and "got-term" in out_path.read_text()
    st = drv.state(cid)
    assert st.status == "stopped" and st.pid is None
    with pytest.raises(IsolationError, match="stopped"):
        drv.kill(cid, signal.SIGKILL)
    with pytest.raises(IsolationError, match="stopped"):
        drv.start(cid)
    drv.delete(cid)
    drv.delete(cid)  # idempotent
    assert not state_dir.exists() and not cgroup_dirs(cid)
    with pytest.raises(IsolationError, match="no container"):
        drv.state(cid)
    drv.delete("never-created")


def test_kill_and_delete_a_created_container(runtime: Runtime) -> None:
    drv = runtime.driver
    cid, pid = runtime.create(default_spec(["true"]))
    drv.kill(cid, signal.SIGKILL)
    status = runtime.wait(pid)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert drv.state(cid).status == "stopped"
    drv.delete(cid)
    cid2, pid2 = runtime.create(default_spec(["true"]))
    drv.delete(cid2)  # created, not running: no force needed; the process is killed
    assert os.WIFSIGNALED(runtime.wait(pid2))
    assert not cgroup_dirs(cid2)


def test_duplicate_and_invalid_ids(runtime: Runtime) -> None:
    cid, pid = runtime.create(default_spec(["true"]))
    with pytest.raises(IsolationError, match="already exists"):
        runtime.driver.create(cid, runtime.bundle(default_spec(["true"])))
    assert runtime.driver.state(cid).status == "created"  # the failed create touched nothing
    with pytest.raises(IsolationError, match="invalid container id"):
        runtime.driver.create("../escape", runtime.bundle(default_spec(["true"])))
    runtime.driver.delete(cid)
    runtime.wait(pid)


# -- failures leave nothing -------------------------------------------------------------------------

def _hard_nofile_plus_one() -> int:
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        pytest.skip("RLIMIT_NOFILE has no hard limit here")
    return hard + 1


@pytest.mark.parametrize("breakage", ["bad-rootfs", "rlimit-above-hard", "missing-mount-source", "bad-sysctl",
                                      "bad-cwd", "user-namespace"])
def test_failed_create_leaves_nothing(runtime: Runtime, breakage: str) -> None:
    spec = default_spec(["true"])
    if breakage == "bad-rootfs":
        spec["root"]["path"] = "/nonexistent/rootfs"
    elif breakage == "rlimit-above-hard":
        hard = _hard_nofile_plus_one()
        spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": hard, "soft": hard}]
    elif breakage == "missing-mount-source":
        spec["mounts"].append({"destination": "/data", "type": "bind", "source": "/nonexistent/src",
                               "options": ["rbind"]})
    elif breakage == "bad-sysctl":
        spec["linux"]["sysctl"]["net.ipv4.no_such_sysctl"] = "1"
    elif breakage == "bad-cwd":
        spec["process"]["cwd"] = "/no/such/dir"
    else:
        spec["linux"]["namespaces"].append({"type": "user"})
    bundle = runtime.bundle(spec)
    cid = runtime.new_id()
    with pytest.raises(IsolationError) as info:
        runtime.driver.create(cid, bundle)
    assert {"bad-rootfs": "rootfs", "rlimit-above-hard": "hard limit", "missing-mount-source": "/nonexistent/src",
            "bad-sysctl": "no_such_sysctl", "bad-cwd": "/no/such/dir",
            "user-namespace": "user namespaces"}[breakage] in str(info.value)
    assert not cgroup_dirs(cid)
    assert not (runtime.tmp / "run" / "isolation" / "linux" / cid).exists()
    from capsa_isolation_linux.namespaces import is_child_subreaper

    assert is_child_subreaper() == runtime.was_subreaper  # create's side effect is undone too
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child (nor zombie) of ours is left
    with open("/proc/self/mountinfo") as fh:
        assert str(runtime.rootfs) not in fh.read()
    assert not (runtime.rootfs / "data").exists() or breakage == "missing-mount-source"


def test_rlimits_are_applied(runtime: Runtime) -> None:
    spec = sh("ulimit -n; ulimit -Hn")
    spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]
    res = runtime.run(spec)
    assert res.out.split() == ["256", "512"]


def test_spec_from_copy_is_not_mutated(runtime: Runtime) -> None:
    spec = default_spec(["true"])
    before = copy.deepcopy(spec)
    runtime.run(spec)
    assert spec == before


def test_fast_enough(runtime: Runtime) -> None:
    """create + start + wait of `true`: tens of milliseconds, not hundreds."""
    spec = default_spec(["true"])
    runtime.run(spec)  # warm up imports
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        cid, pid = runtime.create(spec)
        runtime.driver.start(cid)
        assert os.waitstatus_to_exitcode(runtime.wait(pid)) == 0
        best = min(best, time.perf_counter() - start)
        runtime.driver.delete(cid)
    assert best < 0.25, f"create+start+wait took {best * 1000:.0f} ms"
