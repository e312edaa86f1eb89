"""The OCI runtime spec capsa derives from a container's record (capsa.container.spec), the
generated /etc files (capsa.container.etcfiles) and user resolution (capsa.container.userinfo).

Every spec built here is validated against the runtime-spec JSON schema. The podman values
asserted were observed with podman 4.3.1 + crun on this kind of host (cgroup v1,
containers.conf default_ulimits at the hard limits) and are hard-coded: no test needs podman.
"""
from __future__ import annotations

import json
import resource
from pathlib import Path

import pytest

from capsa.container.etcfiles import GeneratedFiles, write_files
from capsa.container.model import ContainerConfig, MountSpec
from capsa.container.spec import build_spec
from capsa.security.seccomp import to_oci as seccomp_to_oci
from capsa.container.userinfo import resolve_in_root, resolve_user
from capsa.errors import CapsaError, UsageError
from conftest import conformance_dir
from oci_runtime_schema import assert_runtime_valid, runtime_errors

CID = "0123456789abcdef" * 4
BUSYBOX = {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"]}
# DESIGN.md section 5
PODMAN_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE",
               "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"]
MASKED = ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi",
          "/proc/timer_list", "/proc/timer_stats", "/sys/firmware", "/sys/devices/virtual/powercap",
          "/proc/interrupts"]
READONLY = ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
SMALL_PROFILE = {  # a Docker-format profile
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
    "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
                 {"names": ["reboot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}


# -- fixtures -------------------------------------------------------------------------------------

@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
                                     "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    (root / "etc/group").write_text("root:x:0:\nwheel:x:10:root,alice\nalice:x:1000:\nstaff:x:50:alice\n"
                                    "nogroup:x:65534:\n")
    return root


@pytest.fixture
def files(tmp_path: Path) -> GeneratedFiles:
    gen = tmp_path / "gen"
    gen.mkdir()
    for name in ("hosts", "hostname", "resolv.conf", ".containerenv"):
        (gen / name).write_text("")
    return GeneratedFiles(str(gen / "hosts"), str(gen / "hostname"), str(gen / "resolv.conf"),
                          str(gen / ".containerenv"))


def make_config(**kw: object) -> ContainerConfig:
    base: dict[str, object] = {"id": CID, "name": "web", "image_id": "f" * 64, "image_name": "localhost/busybox"}
    base.update(kw)
    return ContainerConfig(**base)  # type: ignore[arg-type]


@pytest.fixture
def build(rootfs: Path, files: GeneratedFiles):  # type: ignore[no-untyped-def]
    """build(image=..., init_path=..., **config fields) -> a schema-valid spec."""

    def run(image: dict | None = None, init_path: str | None = None, **kw: object) -> dict:
        spec = build_spec(make_config(**kw), BUSYBOX if image is None else image, str(rootfs), files,
                          init_path=init_path)
        assert_runtime_valid(json.loads(json.dumps(spec)))
        return spec

    return run


def hard(kind: int) -> int:
    value = resource.getrlimit(kind)[1]
    return 2**64 - 1 if value == resource.RLIM_INFINITY else value


# -- the validator itself -------------------------------------------------------------------------

def _corpus(kind: str) -> list[str]:
    folder = Path(__file__).resolve().parent.parent.parent / "shared/conformance/oci-runtime-schema/test/config" / kind
    return sorted(p.name for p in folder.glob("*.json")) or ["<absent>"]


@pytest.mark.parametrize("name", _corpus("good"))
def test_validator_accepts_the_schema_good_examples(name: str) -> None:
    folder = conformance_dir("oci-runtime-schema") / "test/config/good"
    assert_runtime_valid(json.loads((folder / name).read_text()))


@pytest.mark.parametrize("name", _corpus("bad"))
def test_validator_rejects_the_schema_bad_examples(name: str) -> None:
    folder = conformance_dir("oci-runtime-schema") / "test/config/bad"
    try:
        doc = json.loads((folder / name).read_text())
    except json.JSONDecodeError:
        return  # invalid-json.json: not even JSON
    assert runtime_errors(doc)


def test_validator_catches_a_broken_capsa_spec(build) -> None:  # type: ignore[no-untyped-def]
    spec = build()
    spec["linux"]["namespaces"].append({"type": "nosuchns"})
    spec["process"]["user"]["uid"] = -1
    assert len(runtime_errors(spec)) >= 2


# -- defaults -------------------------------------------------------------------------------------

def test_default_spec(build, rootfs: Path, files: GeneratedFiles) -> None:  # type: ignore[no-untyped-def]
    spec = build()
    assert spec["ociVersion"] == "1.0.2"
    proc = spec["process"]
    assert proc["args"] == ["/bin/sh"]
    assert proc["terminal"] is False and proc["cwd"] == "/"
    assert proc["env"] == ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm", "container=capsa", "HOME=/root",
                           "HOSTNAME=0123456789ab"]
    assert proc["user"] == {"uid": 0, "gid": 0, "umask": 0o022, "additionalGids": [10]}  # root is in wheel
    caps = proc["capabilities"]
    assert caps["bounding"] == caps["effective"] == caps["permitted"] == PODMAN_CAPS
    assert "inheritable" not in caps and "ambient" not in caps
    assert proc["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "hard": hard(resource.RLIMIT_NOFILE), "soft": hard(resource.RLIMIT_NOFILE)},
        {"type": "RLIMIT_NPROC", "hard": hard(resource.RLIMIT_NPROC), "soft": hard(resource.RLIMIT_NPROC)}]
    assert proc["noNewPrivileges"] is False and "oomScoreAdj" not in proc
    assert spec["root"] == {"path": str(rootfs), "readonly": False}
    assert spec["hostname"] == "0123456789ab"
    assert [(m["destination"], m["type"]) for m in spec["mounts"]] == [
        ("/proc", "proc"), ("/dev", "tmpfs"), ("/dev/pts", "devpts"), ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"), ("/sys", "sysfs"), ("/sys/fs/cgroup", "cgroup"), ("/etc/hosts", "bind"),
        ("/etc/hostname", "bind"), ("/etc/resolv.conf", "bind"), ("/run/.containerenv", "bind")]
    generated = {m["destination"]: m for m in spec["mounts"][7:]}
    assert generated["/etc/hosts"] == {"destination": "/etc/hosts", "type": "bind", "source": files.hosts,
                                       "options": ["rbind", "rprivate"]}
    assert generated["/run/.containerenv"]["source"] == files.containerenv
    linux = spec["linux"]
    assert linux["namespaces"] == [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")]
    assert linux["maskedPaths"] == MASKED and linux["readonlyPaths"] == READONLY
    assert linux["sysctl"] == {"net.ipv4.ping_group_range": "0 0"}
    assert linux["cgroupsPath"] == ""
    assert linux["resources"]["pids"] == {"limit": 1024}
    assert "memory" not in linux["resources"] and "cpu" not in linux["resources"]
    rules = linux["resources"]["devices"]
    assert rules[0] == {"allow": False, "access": "rwm"}
    allowed = {(r["major"], r.get("minor")) for r in rules[1:]}
    assert allowed == {(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2), (136, None)}
    assert all(r["allow"] and r["type"] == "c" and r["access"] == "rwm" for r in rules[1:])
    assert [(d["path"], d["major"], d["minor"]) for d in linux["devices"]] == [
        ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7), ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0)]
    assert all(d["type"] == "c" and d["fileMode"] == 0o666 and d["uid"] == d["gid"] == 0 for d in linux["devices"])
    from capsa.security import seccomp

    assert linux["seccomp"] == seccomp_to_oci(seccomp.default_profile(), PODMAN_CAPS)
    assert linux["seccomp"]["defaultAction"]
    assert spec["annotations"] == {"io.capsa.cgroup-parent": "", "io.capsa.container-name": "web"}


def test_key_defaults_match_what_podman_generates(build) -> None:  # type: ignore[no-untyped-def]
    """Values copied from podman 4.3.1's config.json (`podman create` + `podman init`)."""
    spec = build(init=True, init_path="/bin/sh", read_only=True, mounts=[
        MountSpec("bind", "/data", "/tmp"), MountSpec("bind", "/data2", "/tmp", ["ro"]),
        MountSpec("tmpfs", "/t2", "tmpfs", ["size=1m", "mode=700"])])
    by_dest = {m["destination"]: m for m in spec["mounts"]}
    podman = {
        "/proc": ("proc", "proc", ["nosuid", "noexec", "nodev"]),
        "/dev": ("tmpfs", "tmpfs", ["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"]),
        "/sys": ("sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
        "/dev/pts": ("devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        "/dev/mqueue": ("mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        "/sys/fs/cgroup": ("cgroup", "cgroup", ["rprivate", "nosuid", "noexec", "nodev", "relatime", "ro"]),
        "/run": ("tmpfs", "tmpfs", ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]),
        "/tmp": ("tmpfs", "tmpfs", ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]),
        "/var/tmp": ("tmpfs", "tmpfs", ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]),
        "/data": ("bind", "/tmp", ["rw", "rprivate", "rbind"]),
        "/data2": ("bind", "/tmp", ["ro", "rprivate", "rbind"]),
        "/t2": ("tmpfs", "tmpfs", ["size=1m", "mode=700", "rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]),
    }
    for dest, (kind, source, options) in podman.items():
        assert (by_dest[dest]["type"], by_dest[dest]["source"], by_dest[dest]["options"]) == (kind, source, options)
    # podman: /run/podman-init with ["bind", "ro", "rprivate"] and args ["/run/podman-init", "--", "sh"]
    assert by_dest["/run/capsa-init"]["options"] == ["bind", "ro", "rprivate"]
    assert spec["process"]["args"][:2] == ["/run/capsa-init", "--"]
    # podman --read-only: the generated /etc files become ro,nosuid,noexec,nodev
    assert by_dest["/etc/hosts"]["options"][-4:] == ["ro", "nosuid", "noexec", "nodev"]
    assert spec["process"]["user"]["umask"] == 18
    assert spec["linux"]["sysctl"] == {"net.ipv4.ping_group_range": "0 0"}


# -- process --------------------------------------------------------------------------------------

def test_tty(build) -> None:  # type: ignore[no-untyped-def]
    spec = build(tty=True)
    assert spec["process"]["terminal"] is True
    assert "TERM=xterm" in spec["process"]["env"]


def test_env_merge_later_wins_by_key(build) -> None:  # type: ignore[no-untyped-def]
    image = {"Env": ["PATH=/img/bin:/bin", "A=image", "B=image"], "Cmd": ["sh"]}
    spec = build(image=image, env=["B=flag", "C=flag", "TERM=dumb", "ALONE", "EMPTY="], hostname="box")
    assert spec["process"]["env"] == ["PATH=/img/bin:/bin", "TERM=dumb", "container=capsa", "A=image", "B=flag",
                                      "C=flag", "EMPTY=", "HOME=/root", "HOSTNAME=box"]
    assert spec["hostname"] == "box"


def test_default_path_when_the_image_has_none(build) -> None:  # type: ignore[no-untyped-def]
    env = build(image={"Cmd": ["sh"]}, env=["HOME=/custom"])["process"]["env"]
    assert env[0] == "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert "HOME=/custom" in env and "HOME=/root" not in env


@pytest.mark.parametrize("image, entrypoint, cmd, expected", [
    ({"Entrypoint": ["/ep"], "Cmd": ["a"]}, None, None, ["/ep", "a"]),
    ({"Entrypoint": ["/ep"], "Cmd": ["a"]}, None, ["b", "c"], ["/ep", "b", "c"]),
    ({"Entrypoint": ["/ep"], "Cmd": ["a"]}, ["/new"], None, ["/new"]),  # the image Cmd is dropped
    ({"Entrypoint": ["/ep"], "Cmd": ["a"]}, ["/new", "-x"], ["b"], ["/new", "-x", "b"]),
    ({"Entrypoint": ["/ep"], "Cmd": ["a"]}, [""], ["b"], ["b"]),  # --entrypoint "" resets it
    ({"Entrypoint": ["/ep"], "Cmd": ["a"]}, [], None, ["a"]),  # an empty list: podman uses the image Cmd
    ({"Cmd": ["sh", "-c", "x"]}, None, None, ["sh", "-c", "x"]),
    ({"Cmd": ["sh"]}, None, [], ["sh"]),
    ({}, None, ["echo", "hi"], ["echo", "hi"]),
    ({"config": {"Cmd": ["wrapped"]}, "architecture": "amd64"}, None, None, ["wrapped"]),  # a whole image config
])
def test_entrypoint_and_cmd(build, image, entrypoint, cmd, expected) -> None:  # type: ignore[no-untyped-def]
    assert build(image=image, entrypoint=entrypoint, cmd=cmd)["process"]["args"] == expected


@pytest.mark.parametrize("image, entrypoint", [({}, None), ({"Cmd": ["a"]}, [""]), ({"Entrypoint": []}, None)])
def test_no_command(rootfs: Path, files: GeneratedFiles, image: dict, entrypoint: list | None) -> None:
    with pytest.raises(UsageError, match="no command specified") as err:
        build_spec(make_config(entrypoint=entrypoint), image, str(rootfs), files)
    assert err.value.hint and err.value.exit_code == 125


def test_init(build) -> None:  # type: ignore[no-untyped-def]
    spec = build(init=True, init_path="/bin/sh", cmd=["sleep", "1"])
    assert spec["process"]["args"] == ["/run/capsa-init", "--", "sleep", "1"]
    mount = next(m for m in spec["mounts"] if m["destination"] == "/run/capsa-init")
    assert mount == {"destination": "/run/capsa-init", "type": "bind", "source": "/bin/sh",
                     "options": ["bind", "ro", "rprivate"]}


@pytest.mark.parametrize("init_path", [None, "/nonexistent/catatonit"])
def test_init_without_catatonit(rootfs: Path, files: GeneratedFiles, init_path: str | None) -> None:
    with pytest.raises(UsageError) as err:
        build_spec(make_config(init=True), BUSYBOX, str(rootfs), files, init_path=init_path)
    assert "catatonit" in err.value.hint


def test_workdir(build, rootfs: Path, files: GeneratedFiles) -> None:  # type: ignore[no-untyped-def]
    (rootfs / "srv/app").mkdir(parents=True, exist_ok=True)
    (rootfs / "x").mkdir(exist_ok=True)
    assert build(workdir="/srv/app/")["process"]["cwd"] == "/srv/app"
    assert build(image={"Cmd": ["sh"], "WorkingDir": "/home"})["process"]["cwd"] == "/home"
    assert build(image={"Cmd": ["sh"], "WorkingDir": "/home"}, workdir="/x")["process"]["cwd"] == "/x"
    with pytest.raises(UsageError, match="not an absolute path"):
        build_spec(make_config(workdir="rel"), BUSYBOX, str(rootfs), files)


# -- users ----------------------------------------------------------------------------------------

# (uid, gid, additionalGids, HOME) as podman 4.3 resolved them against the same passwd/group files
@pytest.mark.parametrize("user, expected", [
    ("", (0, 0, [10], "/root")),
    ("alice", (1000, 1000, [1000, 10, 50], "/home/alice")),
    ("alice:staff", (1000, 50, [50], "/home/alice")),
    ("1000", (1000, 1000, [1000, 10, 50], "/home/alice")),
    ("root", (0, 0, [0, 10], "/root")),
    ("0:50", (0, 50, [50], "/root")),
    ("alice:0", (1000, 0, [0], "/home/alice")),
    ("2000", (2000, 0, [0], "/")),  # (no passwd entry: HOME=/)
    ("2000:3000", (2000, 3000, [3000], "/")),
    ("nobody", (65534, 65534, [65534], "/nonexistent")),
])
def test_user_forms(build, user: str, expected: tuple) -> None:  # type: ignore[no-untyped-def]
    proc = build(user=user)["process"]
    uid, gid, extra, home = expected
    assert (proc["user"]["uid"], proc["user"]["gid"], proc["user"].get("additionalGids")) == (uid, gid, extra)
    homes = [e for e in proc["env"] if e.startswith("HOME=")]
    assert homes == ([f"HOME={home}"] if home else [])


def test_image_user_used_unless_overridden(build) -> None:  # type: ignore[no-untyped-def]
    image = {"Cmd": ["sh"], "User": "alice"}
    assert build(image=image)["process"]["user"]["uid"] == 1000
    assert build(image=image, user="0")["process"]["user"]["uid"] == 0


def test_unknown_user_and_group(rootfs: Path, files: GeneratedFiles) -> None:
    with pytest.raises(UsageError) as err:
        build_spec(make_config(user="mallory"), BUSYBOX, str(rootfs), files)
    assert str(err.value) == "unable to find user mallory: no matching entries in passwd file"
    assert err.value.exit_code == 125
    with pytest.raises(UsageError, match="unable to find group nogrp: no matching entries in group file"):
        build_spec(make_config(user="alice:nogrp"), BUSYBOX, str(rootfs), files)


def test_non_root_user_gets_only_added_capabilities(build) -> None:  # type: ignore[no-untyped-def]
    caps = build(user="alice")["process"]["capabilities"]
    assert caps == {"bounding": PODMAN_CAPS}  # podman: no effective/permitted caps for a non-root user
    caps = build(user="alice", cap_add=["net_bind_service"])["process"]["capabilities"]
    for key in ("effective", "permitted", "inheritable", "ambient"):
        assert caps[key] == ["CAP_NET_BIND_SERVICE"]


def test_passwd_symlink_out_of_the_rootfs_is_not_followed(tmp_path: Path, files: GeneratedFiles) -> None:
    outside = tmp_path / "host-passwd"
    outside.write_text("evil:x:4242:4242::/evil:/bin/sh\n")
    (tmp_path / "host-group").write_text("evilgrp:x:4343:evil\n")
    for target in (str(outside), "../../../../../../../../" + str(outside).lstrip("/")):
        root = tmp_path / f"rootfs-{len(target)}"
        (root / "etc").mkdir(parents=True)
        (root / "etc/passwd").symlink_to(target)
        (root / "etc/group").symlink_to(str(tmp_path / "host-group"))
        with pytest.raises(UsageError, match="unable to find user evil"):
            build_spec(make_config(user="evil"), BUSYBOX, str(root), files)
        spec = build_spec(make_config(user="4242"), BUSYBOX, str(root), files)
        assert spec["process"]["user"] == {"uid": 4242, "gid": 0, "umask": 18, "additionalGids": [0]}
        assert_runtime_valid(spec)


def test_symlinks_resolve_inside_the_rootfs(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "etc/real").mkdir(parents=True)
    (root / "etc/real/passwd").write_text("bob:x:7:8::/home/bob:/bin/sh\n")
    (root / "etc/passwd").symlink_to("/etc/real/passwd")  # absolute: means the rootfs's /etc/real
    (root / "etc/group").symlink_to("group")  # a loop
    assert resolve_in_root(str(root), "/etc/passwd") == str(root / "etc/real/passwd")
    assert resolve_in_root(str(root), "/../../etc/./x/../passwd") == str(root / "etc/real/passwd")
    user = resolve_user(str(root), "bob")
    assert (user.uid, user.gid, user.additional_gids, user.home) == (7, 8, [8], "/home/bob")
    (root / "etc/passwd").unlink()
    (root / "etc/passwd").mkdir()  # not a regular file: treated as empty
    assert resolve_user(str(root), "").uid == 0


# -- rlimits --------------------------------------------------------------------------------------

def test_ulimits(build) -> None:  # type: ignore[no-untyped-def]
    core_hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    ulimits = ["nofile=1024:2048", "nproc=512"]
    if core_hard == resource.RLIM_INFINITY:
        ulimits.append("core=-1")
    rlimits = build(ulimits=ulimits)["process"]["rlimits"]
    assert rlimits[:2] == [{"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1024},
                           {"type": "RLIMIT_NPROC", "hard": 512, "soft": 512}]
    if core_hard == resource.RLIM_INFINITY:  # podman writes -1 as 2^64-1
        assert rlimits[2] == {"type": "RLIMIT_CORE", "hard": 2**64 - 1, "soft": 2**64 - 1}
    assert build(ulimits=["RLIMIT_STACK=1024"])["process"]["rlimits"][-1] == {
        "type": "RLIMIT_STACK", "hard": 1024, "soft": 1024}


def test_ulimit_errors(rootfs: Path, files: GeneratedFiles) -> None:
    above = hard(resource.RLIMIT_NOFILE) + 1
    bad = [f"nofile={above}", f"nofile=10:{above}", "nofile=20:10", "nosuch=1", "nofile", "nofile=abc"]
    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] != resource.RLIM_INFINITY:
        bad += ["nofile=unlimited", "nofile=-1"]
    for item in bad:
        with pytest.raises(UsageError) as err:
            build_spec(make_config(ulimits=[item]), BUSYBOX, str(rootfs), files)
        assert err.value.exit_code == 125 and err.value.hint, item
    with pytest.raises(UsageError, match="hard limit"):
        build_spec(make_config(ulimits=[f"nofile={above}"]), BUSYBOX, str(rootfs), files)


# -- resources ------------------------------------------------------------------------------------

def test_resources(build) -> None:  # type: ignore[no-untyped-def]
    res = build(memory=64 << 20, memory_swap=128 << 20, cpus=1.0, cpu_shares=512, pids_limit=100)["linux"]["resources"]
    assert res["memory"] == {"limit": 64 << 20, "swap": 128 << 20}
    assert res["cpu"] == {"quota": 100000, "period": 100000, "shares": 512}
    assert res["pids"] == {"limit": 100}
    # podman: -m alone gives as much swap again; --memory-swap -1 leaves swap out
    assert build(memory=64 << 20)["linux"]["resources"]["memory"] == {"limit": 64 << 20, "swap": 128 << 20}
    assert build(memory=64 << 20, memory_swap=-1)["linux"]["resources"]["memory"] == {"limit": 64 << 20}
    assert build(cpus=0.5)["linux"]["resources"]["cpu"] == {"quota": 50000, "period": 100000}


@pytest.mark.parametrize("limit", [0, -1, None])
def test_unlimited_pids(build, limit: int | None) -> None:  # type: ignore[no-untyped-def]
    assert "pids" not in build(pids_limit=limit)["linux"]["resources"]


@pytest.mark.parametrize("fields, message", [
    ({"memory_swap": 64 << 20}, "memory limit"),
    ({"memory": 64 << 20, "memory_swap": 32 << 20}, "at least --memory"),
    ({"memory": -5}, "invalid memory"),
    ({"cpus": 100000.0}, "range of CPUs"),
    ({"cpus": 0.001}, "range of CPUs"),
])
def test_resource_errors(rootfs: Path, files: GeneratedFiles, fields: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        build_spec(make_config(**fields), BUSYBOX, str(rootfs), files)


# -- security -------------------------------------------------------------------------------------

def test_cap_add_and_drop(build) -> None:  # type: ignore[no-untyped-def]
    caps = build(cap_add=["NET_ADMIN", "sys_time"], cap_drop=["chown"])["process"]["capabilities"]
    expected = sorted(set(PODMAN_CAPS) - {"CAP_CHOWN"} | {"CAP_NET_ADMIN", "CAP_SYS_TIME"})
    assert caps["bounding"] == caps["effective"] == caps["permitted"] == expected


def test_unknown_capability_is_an_error(rootfs: Path, files: GeneratedFiles) -> None:
    with pytest.raises(CapsaError) as err:
        build_spec(make_config(cap_add=["NOT_A_CAP"]), BUSYBOX, str(rootfs), files)
    assert err.value.exit_code == 125


def test_privileged(build) -> None:  # type: ignore[no-untyped-def]
    from capsa.security import caps as capsmod

    spec = build(privileged=True)
    caps = spec["process"]["capabilities"]
    assert caps["bounding"] == caps["effective"] == sorted(capsmod.known_caps())
    linux = spec["linux"]
    assert "maskedPaths" not in linux and "readonlyPaths" not in linux and "seccomp" not in linux
    assert linux["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert any(d["path"] == "/dev/null" for d in linux["devices"])
    by_dest = {m["destination"]: m for m in spec["mounts"]}
    assert by_dest["/sys"]["options"][-1] == "rw" and by_dest["/sys/fs/cgroup"]["options"][-1] == "rw"


def test_no_new_privileges(build) -> None:  # type: ignore[no-untyped-def]
    assert build(no_new_privileges=True)["process"]["noNewPrivileges"] is True


def test_seccomp_unconfined_and_custom(build, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert "seccomp" not in build(seccomp_profile="unconfined")["linux"]
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "EPERM", "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                     {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errno": "EACCES"},
                     {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}]}))
    assert build(seccomp_profile=str(profile))["linux"]["seccomp"] == {
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                     {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                     {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}


def test_seccomp_conversion_filters_like_podman() -> None:
    """An excerpt of containers-common's seccomp.json; podman's conversion of the whole file was
    compared field by field with this converter's (equal) when this test was written."""
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "archMap": SMALL_PROFILE["archMap"],
        "syscalls": [
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
            {"names": ["breakpoint"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm", "arm64"]}},
            {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}},
            {"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": {"caps": ["sys_chroot"]}},
            {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["bpf"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["future"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
            {"names": ["old"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "3.0"}},
        ]}
    out = seccomp_to_oci(profile, PODMAN_CAPS, machine="x86_64")
    assert out["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert out["defaultErrnoRet"] == 38
    assert out["syscalls"] == [
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["chroot"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["bpf"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        {"names": ["old"], "action": "SCMP_ACT_ALLOW"}]
    arm = seccomp_to_oci(profile, [*PODMAN_CAPS, "CAP_SYS_ADMIN"], machine="aarch64")
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert [s["names"][0] for s in arm["syscalls"]] == ["breakpoint", "chroot", "bpf", "old"]
    assert arm["syscalls"][2]["action"] == "SCMP_ACT_ALLOW"


# -- mounts ---------------------------------------------------------------------------------------

def test_user_mounts_in_order(build, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    vol = tmp_path / "volumes/v1/_data"
    vol.mkdir(parents=True)
    spec = build(mounts=[
        MountSpec("bind", "/data/", str(tmp_path), ["ro", "z"]),
        MountSpec("volume", "/vol", str(vol)),
        MountSpec("tmpfs", "/scratch", "tmpfs", ["size=1m", "exec"]),
        MountSpec("bind", "/shared", str(tmp_path), ["rshared", "bind", "noexec"]),
    ])
    assert spec["mounts"][-4:] == [
        {"destination": "/data", "type": "bind", "source": str(tmp_path), "options": ["ro", "rprivate", "rbind"]},
        {"destination": "/vol", "type": "bind", "source": str(vol),
         "options": ["rw", "rprivate", "nosuid", "nodev", "rbind"]},
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
         "options": ["size=1m", "exec", "rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]},
        {"destination": "/shared", "type": "bind", "source": str(tmp_path),
         "options": ["rshared", "bind", "noexec", "rw"]},
    ]


def test_user_mount_replaces_a_generated_one(build, tmp_path: Path, files: GeneratedFiles) -> None:  # type: ignore[no-untyped-def]
    hosts = tmp_path / "myhosts"
    hosts.write_text("127.0.0.1 localhost\n")
    spec = build(mounts=[MountSpec("bind", "/etc/hosts", str(hosts), ["ro"]), MountSpec("tmpfs", "/dev/shm")])
    at = [m for m in spec["mounts"] if m["destination"] == "/etc/hosts"]
    assert at == [{"destination": "/etc/hosts", "type": "bind", "source": str(hosts),
                   "options": ["ro", "rprivate", "rbind"]}]
    assert [m["type"] for m in spec["mounts"] if m["destination"] == "/dev/shm"] == ["tmpfs"]
    assert spec["mounts"][-1]["destination"] == "/dev/shm"


@pytest.mark.parametrize("mount, message", [
    (MountSpec("bind", "/data", "/nonexistent/dir"), "/nonexistent/dir: no such file or directory"),
    (MountSpec("volume", "/data", "/nonexistent/vol/_data"), "no such file or directory"),
    (MountSpec("bind", "data", "/tmp"), "not an absolute path"),
    (MountSpec("volume", "/data", "myvol"), "not an absolute host path"),
    (MountSpec("nfs", "/data", "/tmp"), "unknown mount type"),
])
def test_mount_errors(rootfs: Path, files: GeneratedFiles, mount: MountSpec, message: str) -> None:
    with pytest.raises(UsageError, match=message) as err:
        build_spec(make_config(mounts=[mount]), BUSYBOX, str(rootfs), files)
    assert err.value.exit_code == 125 and err.value.hint


def test_duplicate_mount_destination(rootfs: Path, files: GeneratedFiles) -> None:
    mounts = [MountSpec("tmpfs", "/x"), MountSpec("bind", "/x/", "/tmp")]
    with pytest.raises(UsageError, match="duplicate mount destination /x"):
        build_spec(make_config(mounts=mounts), BUSYBOX, str(rootfs), files)


def test_read_only(build) -> None:  # type: ignore[no-untyped-def]
    spec = build(read_only=True, mounts=[MountSpec("tmpfs", "/tmp", "tmpfs", ["size=8m"])])
    assert spec["root"]["readonly"] is True
    tmpfs = [(m["destination"], m["options"]) for m in spec["mounts"] if m["type"] == "tmpfs"]
    assert ("/run", ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]) in tmpfs
    assert ("/var/tmp", ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]) in tmpfs
    assert [o for d, o in tmpfs if d == "/tmp"] == [["size=8m", "rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]]
    dests = [m["destination"] for m in spec["mounts"]]
    assert dests.index("/run") < dests.index("/run/.containerenv")
    off = build(read_only=True, extra={"read_only_tmpfs": False})
    assert not {"/run", "/tmp", "/var/tmp"} & {m["destination"] for m in off["mounts"]}


def test_network_host_and_none(build, files: GeneratedFiles) -> None:  # type: ignore[no-untyped-def]
    host = build(network="host")["linux"]
    assert {"type": "network"} not in host["namespaces"] and "sysctl" not in host
    none = build(network="none")["linux"]
    assert {"type": "network"} in none["namespaces"]
    assert none["sysctl"] == {"net.ipv4.ping_group_range": "0 0"}


def test_no_resolv_conf_mount_when_none_generated(build, files: GeneratedFiles) -> None:  # type: ignore[no-untyped-def]
    files.resolv_conf = ""
    assert "/etc/resolv.conf" not in {m["destination"] for m in build()["mounts"]}


def test_annotations(build) -> None:  # type: ignore[no-untyped-def]
    spec = build(annotations={"org.example/a": "1", "io.capsa.container-name": "spoof"}, cgroup_parent="/mine")
    assert spec["annotations"] == {"org.example/a": "1", "io.capsa.container-name": "web",
                                   "io.capsa.cgroup-parent": "/mine"}


# -- generated files ------------------------------------------------------------------------------

@pytest.fixture
def host_files(tmp_path: Path) -> tuple[str, str]:
    hosts = tmp_path / "host-hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.0.1 vm\n# comment\n")
    resolv = tmp_path / "host-resolv"
    resolv.write_text("search example.com\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions edns0\n")
    return str(hosts), str(resolv)


def test_write_files_network_none(tmp_path: Path, host_files: tuple[str, str]) -> None:
    config = make_config(network="none")
    gen = write_files(tmp_path / "files", config, "localhost/busybox:latest", host_hosts=host_files[0],
                      host_resolv=host_files[1])
    # podman 4.3, --network none: the host's hosts file, then "127.0.0.1 <hostname> <name>"; no resolv.conf
    assert Path(gen.hosts).read_text() == "127.0.0.1 localhost\n127.0.0.1 vm\n# comment\n127.0.0.1\t0123456789ab web\n"
    assert Path(gen.hostname).read_text() == "0123456789ab\n"
    assert gen.resolv_conf == "" and not (tmp_path / "files/resolv.conf").exists()
    assert Path(gen.containerenv).read_text() == ""  # (podman's: empty unless --privileged)
    assert sorted(p.name for p in (tmp_path / "files").iterdir()) == [".containerenv", "hostname", "hosts"]
    config.privileged = True
    gen = write_files(tmp_path / "files", config, "localhost/busybox:latest", host_hosts=host_files[0],
                      host_resolv=host_files[1])
    assert Path(gen.containerenv).read_text() == (
        'engine="capsa-0.1.0"\nname="web"\nid="' + CID + '"\nimage="localhost/busybox:latest"\n'
        f'imageid="{"f" * 64}"\nrootless=0\n')


def test_write_files_network_host_and_bridge(tmp_path: Path, host_files: tuple[str, str]) -> None:
    host = write_files(tmp_path / "h", make_config(network="host", hostname="box"), "img",
                       host_hosts=host_files[0], host_resolv=host_files[1])
    assert Path(host.hosts).read_text() == "127.0.0.1 localhost\n127.0.0.1 vm\n# comment\n"
    assert Path(host.resolv_conf).read_text() == Path(host_files[1]).read_text()
    assert Path(host.hostname).read_text() == "box\n"
    bridge = write_files(tmp_path / "b", make_config(network="bridge"), "img", ip="10.90.0.5",
                         host_hosts=str(tmp_path / "missing"), host_resolv=host_files[1])
    assert Path(bridge.hosts).read_text() == "127.0.0.1\tlocalhost\n::1\tlocalhost\n10.90.0.5\t0123456789ab web\n"
    assert Path(bridge.resolv_conf).read_text() == "search example.com\nnameserver 10.0.0.2\noptions edns0\n"
    only_local = tmp_path / "local-resolv"
    only_local.write_text("nameserver 127.0.0.53\n")
    again = write_files(tmp_path / "b", make_config(network="bridge"), "img", host_resolv=str(only_local))
    assert Path(again.resolv_conf).read_text() == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    assert not [p for p in (tmp_path / "b").iterdir() if p.name.endswith(".tmp")]


def test_spec_from_written_files_is_valid(tmp_path: Path, rootfs: Path) -> None:
    config = make_config(network="bridge", tty=True, user="alice", memory=32 << 20, init=False)
    files = write_files(tmp_path / "files", config, "img")
    spec = build_spec(config, BUSYBOX, str(rootfs), files)
    assert_runtime_valid(spec)
    assert {m["source"] for m in spec["mounts"] if m["destination"].startswith(("/etc/", "/run/"))} == {
        files.hosts, files.hostname, files.resolv_conf, files.containerenv}
