"""Capabilities and seccomp of the linux isolation driver, applied for real in forked children.

Each child reports through a pipe as JSON and leaves with os._exit, so nothing it changes about
itself (capabilities, filters, no_new_privs) reaches the pytest process.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from capsa.errors import IsolationError
from capsa_isolation_linux import caps, seccomp, seccomp_cache

# syscall numbers for the calls Python does not wrap
SYSCALLS = {
    "x86_64": {"getpid": 39, "unshare": 272, "mount": 165, "kexec_load": 246, "init_module": 175, "personality": 135},
    "aarch64": {"getpid": 172, "unshare": 97, "mount": 40, "kexec_load": 104, "init_module": 105, "personality": 92},
}
NR = SYSCALLS.get(platform.machine(), {})
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
needs_nr = pytest.mark.skipif(not NR, reason=f"no syscall table for {platform.machine()} in this test")


def in_child(body: Callable[[], Any]) -> Any:
    """Run ``body`` in a forked child; its JSON-able return value, or {"error": ...} if it raised."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            try:
                out: Any = {"ok": body()}
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                out = {"error": f"{type(exc).__name__}: {exc}"}
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    try:
        chunks = []
        while chunk := os.read(r, 65536):
            chunks.append(chunk)
    finally:
        os.close(r)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    return json.loads(b"".join(chunks) or b"null")


def raw(name: str, *args: int) -> list[Any]:
    """[return value, errno name or None] of syscall ``name`` through libc's syscall()."""
    libc = ctypes.CDLL(None, use_errno=True)
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(NR[name]), *(ctypes.c_long(a) for a in args))
    return [rc, errno.errorcode.get(ctypes.get_errno()) if rc == -1 else None]


def raw_nr(number: int) -> list[Any]:
    libc = ctypes.CDLL(None, use_errno=True)
    rc = libc.syscall(ctypes.c_long(number))
    return [rc, errno.errorcode.get(ctypes.get_errno()) if rc == -1 else None]


# -- capabilities ---------------------------------------------------------------------------------
def test_cap_table() -> None:
    assert len(caps.CAPS) == 41
    assert caps.CAPS["CAP_CHOWN"] == 0 and caps.CAPS["CAP_CHECKPOINT_RESTORE"] == 40
    assert caps.mask(caps.DEFAULT_CAPS) == 0x800405FB
    assert caps.names(0x800405FB) == caps.resolve([], [])


@pytest.mark.parametrize("spelling", ["net_admin", "NET_ADMIN", "CAP_NET_ADMIN", "cap_net_admin", " Net_Admin "])
def test_normalize(spelling: str) -> None:
    assert caps.normalize(spelling) == "CAP_NET_ADMIN"


def test_unknown_capability() -> None:
    with pytest.raises(IsolationError) as info:
        caps.normalize("CAP_FLY")
    assert "unknown capability" in info.value.message and info.value.hint
    with pytest.raises(IsolationError):
        caps.resolve(["fly"], [])


def test_resolve_table() -> None:
    default = caps.resolve([], [])
    known = caps.known_caps()
    assert default == sorted(caps.DEFAULT_CAPS, key=caps.CAPS.__getitem__)
    assert caps.resolve(["net_admin"], []) == sorted(default + ["CAP_NET_ADMIN"], key=caps.CAPS.__getitem__)
    assert "CAP_CHOWN" not in caps.resolve([], ["chown"])
    assert caps.resolve(["CAP_CHOWN"], []) == default  # adding a default is a no-op
    assert caps.resolve([], ["net_raw"]) == default  # dropping a cap not held is a no-op
    assert caps.resolve(["ALL"], ["SYS_ADMIN"]) == [c for c in known if c != "CAP_SYS_ADMIN"]
    assert caps.resolve(["all"], []) == known
    assert caps.resolve(["NET_RAW", "KILL"], ["ALL"]) == ["CAP_KILL", "CAP_NET_RAW"]
    assert caps.resolve([], ["all"]) == []
    assert caps.resolve([], [], privileged=True) == known
    assert len(known) == caps.last_cap() + 1
    assert "CAP_SYS_ADMIN" not in caps.resolve([], ["sys_admin"], privileged=True)
    for add, drop in ((["ALL"], ["ALL"]), (["CHOWN"], ["cap_chown"])):
        with pytest.raises(IsolationError):
            caps.resolve(add, drop)


def test_current_parses_status() -> None:
    now = caps.current()
    assert set(now) == {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}
    assert all(isinstance(v, int) for v in now.values())


@needs_root
def test_apply_default_caps() -> None:
    def body() -> dict[str, int]:
        d = list(caps.DEFAULT_CAPS)
        caps.apply(d, d, d, [], [])
        return caps.current()

    out = in_child(body)
    assert "ok" in out, out
    got = out["ok"]
    assert got["CapEff"] == 0x800405FB and got["CapPrm"] == 0x800405FB and got["CapBnd"] == 0x800405FB
    assert got["CapInh"] == 0 and got["CapAmb"] == 0


@needs_root
def test_apply_after_setuid_keeps_ambient_across_exec() -> None:
    """The runtime's order: keepcaps, setuid, apply, exec; ambient caps survive exec as non-root."""
    def body() -> str:
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.prctl(caps.PR_SET_KEEPCAPS, 1, 0, 0, 0) == 0
        os.setgid(65534)
        os.setuid(65534)
        one = ["CAP_NET_BIND_SERVICE"]
        caps.apply(list(caps.DEFAULT_CAPS), one, one, one, one)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.dup2(w, 1)
            os.execv("/bin/cat", ["cat", "/proc/self/status"])
        os.close(w)
        text = b""
        while chunk := os.read(r, 65536):
            text += chunk
        os.waitpid(pid, 0)
        return text.decode()

    out = in_child(body)
    assert "ok" in out, out
    fields = dict(line.split(":\t", 1) for line in out["ok"].splitlines() if line.startswith("Cap"))
    assert int(fields["CapEff"], 16) == 1 << 10
    assert int(fields["CapAmb"], 16) == 1 << 10
    assert int(fields["CapBnd"], 16) == 0x800405FB


@needs_root
@needs_nr
def test_apply_and_install_need_no_files_after_pivot(tmp_path: Path) -> None:
    """The driver imports these modules and loads libseccomp before pivot_root; after it,
    /proc and the modules' files may be out of reach."""
    empty = tmp_path / "newroot"
    empty.mkdir()

    def body() -> list[Any]:
        caps.last_cap()
        seccomp._lib()
        profile = seccomp.default_profile()  # the monitor has the profile before it forks
        os.chroot(empty)
        os.chdir("/")
        d = list(caps.DEFAULT_CAPS)
        caps.apply(d, d, d, [], [])
        seccomp.set_no_new_privs()
        seccomp.install(profile, caps=d)
        return [list(caps._capget()), raw("unshare", 0)]

    out = in_child(body)
    assert "ok" in out, out
    assert out["ok"] == [[0x800405FB, 0x800405FB, 0], [-1, "EPERM"]]


# -- seccomp ----------------------------------------------------------------------------------------
@pytest.fixture(params=["libseccomp", "cached"])
def loader(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str | None:
    """How a filter is loaded: built and loaded by libseccomp (seccomp.install), or exported,
    stored in a cache directory, read back from it and loaded as raw BPF (the driver's path);
    the value is the cache directory for the latter."""
    return None if request.param == "libseccomp" else str(tmp_path_factory.mktemp("seccomp-cache"))


def _filtered(profile: dict[str, Any], checks: Callable[[], Any],
              cap_list: list[str] | None = list(caps.DEFAULT_CAPS), cache: str | None = None) -> Any:
    prog = None
    if cache is not None:
        assert not seccomp_cache.program(profile, cap_list, cache).cached  # compiled and stored
        prog = seccomp_cache.program(profile, cap_list, cache)
        assert prog.cached  # the bytes loaded below come from the cache file

    def body() -> Any:
        seccomp.set_no_new_privs()
        if prog is None:
            seccomp.install(profile, caps=cap_list)
        else:
            assert prog.load() == 0
        return checks()

    out = in_child(body)
    assert "ok" in out, out
    return out["ok"]


@needs_root
@needs_nr
def test_default_profile(tmp_path: Path, loader: str | None) -> None:
    def checks() -> dict[str, Any]:
        os.mkdir(tmp_path / "made")
        with open("/proc/self/status") as fh:
            nnp = [line.split()[1] for line in fh if line.startswith("NoNewPrivs")]
        return {
            "getpid": raw("getpid")[0] == os.getpid(), "nnp": nnp,
            "unshare": raw("unshare", 0), "mount": raw("mount", 0, 0, 0, 0, 0),
            "kexec_load": raw("kexec_load", 0, 0, 0, 0), "init_module": raw("init_module", 0, 0, 0),
            "unknown": raw_nr(1000), "query_persona": raw("personality", 0xFFFFFFFF)[1],
            "bsd_persona": raw("personality", 6)[1],
        }

    out = _filtered(seccomp.default_profile(), checks, cache=loader)
    assert out["getpid"] and out["nnp"] == ["1"]
    for call in ("unshare", "mount", "kexec_load", "init_module"):
        assert out[call] == [-1, "EPERM"], call
    assert out["unknown"] == [-1, "ENOSYS"]
    assert out["query_persona"] is None and out["bsd_persona"] == "ENOSYS"
    assert (tmp_path / "made").is_dir()


@needs_root
@needs_nr
def test_default_profile_follows_capabilities(loader: str | None) -> None:
    out = _filtered(seccomp.default_profile(), lambda: raw("unshare", 0),
                    list(caps.DEFAULT_CAPS) + ["CAP_SYS_ADMIN"], loader)
    assert out == [0, None]


@needs_root
@needs_nr
def test_install_without_caps_fails_closed(loader: str | None) -> None:
    """This process still holds CAP_SYS_ADMIN, yet install() without caps must not allow mount."""
    assert _filtered(seccomp.default_profile(), lambda: raw("unshare", 0), None, loader) == [-1, "EPERM"]


def test_specialize() -> None:
    profile = seccomp.default_profile()
    plain = seccomp.specialize(profile, caps.DEFAULT_CAPS)
    assert all("includes" not in c and "excludes" not in c for c in plain["syscalls"])
    allowed = {n for c in plain["syscalls"] if c["action"] == "SCMP_ACT_ALLOW" for n in c["names"]}
    denied = {n for c in plain["syscalls"] if c["action"] == "SCMP_ACT_ERRNO" for n in c["names"]}
    assert {"chroot", "ptrace"} <= allowed and {"mount", "unshare", "bpf", "reboot"} <= denied
    admin = seccomp.specialize(profile, ["sys_admin"])
    allowed = {n for c in admin["syscalls"] if c["action"] == "SCMP_ACT_ALLOW" for n in c["names"]}
    assert {"mount", "unshare", "bpf", "perf_event_open"} <= allowed and "chroot" not in allowed
    assert seccomp.validate(plain) is plain


def test_default_profile_is_valid_docker_json(tmp_path: Path) -> None:
    path = tmp_path / "default.json"
    path.write_text(json.dumps(seccomp.default_profile()))
    profile = seccomp.load_profile(str(path))
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO" and profile["defaultErrnoRet"] == errno.ENOSYS
    allowed = {n for c in profile["syscalls"] if c["action"] == "SCMP_ACT_ALLOW" and not c.get("includes")
               for n in c["names"]}
    assert {"read", "write", "clone", "clone3", "execve", "socket", "getpid"} <= allowed
    assert not allowed & {"mount", "unshare", "setns", "keyctl", "bpf", "kexec_load", "reboot", "init_module"}


@needs_root
def test_custom_profile_denies_mkdir(tmp_path: Path, loader: str | None) -> None:
    path = tmp_path / "deny-mkdir.json"
    path.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_BOGUS"],
        "syscalls": [{"names": ["mkdir", "mkdirat", "no_such_syscall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
    }))

    def checks() -> Any:
        (tmp_path / "file").write_text("writes still work")
        try:
            os.mkdir(tmp_path / "denied")
        except OSError as exc:
            return errno.errorcode[exc.errno]
        return "created"

    assert _filtered(seccomp.load_profile(str(path)), checks, cache=loader) == "EACCES"
    assert not (tmp_path / "denied").exists() and (tmp_path / "file").exists()


@needs_root
@needs_nr
def test_argument_filters(loader: str | None) -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_NE"}]},
            # two conditions on one argument: OR, as separate rules
            {"name": "getpgid", "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]},
            # masked comparison: deny AF_INET (2) sockets only
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
             "args": [{"index": 0, "value": 0xFF, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]},
        ],
    }

    def checks() -> dict[str, Any]:
        import socket

        out: dict[str, Any] = {"p0": raw("personality", 0), "p8": raw("personality", 8)}
        for pid in (0, 1, 2):
            try:
                os.getpgid(pid)
                out[f"pgid{pid}"] = "ok"
            except OSError as exc:
                out[f"pgid{pid}"] = errno.errorcode[exc.errno]
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
        try:
            socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            out["inet"] = "ok"
        except OSError as exc:
            out["inet"] = errno.errorcode[exc.errno]
        return out

    out = _filtered(profile, checks, cache=loader)
    assert out["p0"] == [0, None] and out["p8"] == [-1, "EPERM"]
    assert out["pgid0"] == "ok" and out["pgid1"] == "EINVAL" and out["pgid2"] == "EINVAL"
    assert out["inet"] == "EAFNOSUPPORT"


@pytest.mark.parametrize("profile, words", [
    ([], "top level"),
    ({}, "defaultAction"),
    ({"defaultAction": "SCMP_ACT_EXPLODE"}, "defaultAction"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}, "defaultErrnoRet"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"], "archMap": [{"architecture": "x"}]},
     "not both"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {"names": ["read"]}}, "syscalls"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}, "syscalls[0]"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "read", "action": "SCMP_ACT_ERRNO"}]}, "names"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"]}]}, "action"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_LOG"}]},
     "not both"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                                        "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]},
     "index"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                                        "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_ABOUT"}]}]},
     "op"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                                                        "includes": {"minKernel": "four"}}]}, "minKernel"),
])
def test_malformed_profiles(tmp_path: Path, profile: Any, words: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(profile))
    with pytest.raises(IsolationError) as info:
        seccomp.load_profile(str(path))
    assert words in info.value.message and "\n" not in info.value.message and info.value.hint
    with pytest.raises(IsolationError):
        seccomp.install(profile)  # install validates too, before touching the process


def test_unreadable_profiles(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    for path in (tmp_path / "broken.json", tmp_path / "missing.json"):
        with pytest.raises(IsolationError) as info:
            seccomp.load_profile(str(path))
        assert "\n" not in info.value.message and info.value.hint


# -- the compiled filter cache (seccomp_cache) ------------------------------------------------------
def _loaded_filter(load: Callable[[], None]) -> bytes:
    """The program a child holds after ``load()``, read back with PTRACE_SECCOMP_GET_FILTER."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    pid = os.fork()
    if pid == 0:
        try:
            libc.ptrace(0, 0, None, None)  # PTRACE_TRACEME
            seccomp.set_no_new_privs()
            load()
            os.kill(os.getpid(), signal.SIGSTOP)
        finally:
            os._exit(0)
    try:
        _, status = os.waitpid(pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), status
        count = libc.ptrace(0x420C, pid, None, None)  # PTRACE_SECCOMP_GET_FILTER, filter 0
        if count < 0:
            pytest.skip(f"PTRACE_SECCOMP_GET_FILTER: {os.strerror(ctypes.get_errno())}")
        buf = ctypes.create_string_buffer(count * 8)
        assert libc.ptrace(0x420C, pid, None, buf) == count
        return buf.raw
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


@needs_root
def test_exported_program_is_what_install_loads(tmp_path: Path) -> None:
    """export_bpf gives, byte for byte, the program libseccomp's load puts in the kernel, and the
    cache's prctl load puts the same there."""
    profile = seccomp.default_profile()
    seccomp._lib()
    bpf = seccomp.export_bpf(profile, caps.DEFAULT_CAPS)
    assert seccomp_cache.valid_program(bpf) and bpf[-8:-6] == b"\x06\x00"  # ends in BPF_RET | BPF_K
    assert _loaded_filter(lambda: seccomp.install(profile, caps.DEFAULT_CAPS)) == bpf
    seccomp_cache.program(profile, caps.DEFAULT_CAPS, str(tmp_path))
    prog = seccomp_cache.program(profile, caps.DEFAULT_CAPS, str(tmp_path))
    assert prog.cached
    assert _loaded_filter(lambda: seccomp_cache.install(prog, {}, None)) == bpf
    assert seccomp.export_bpf(profile, list(caps.DEFAULT_CAPS) + ["CAP_SYS_ADMIN"]) != bpf


def test_cache_key() -> None:
    default = seccomp.default_profile()
    plain = seccomp.specialize(default, caps.DEFAULT_CAPS)  # what the engine writes: no conditions
    key = seccomp_cache.cache_key
    assert key(default, caps.DEFAULT_CAPS) == key(default, list(reversed(caps.DEFAULT_CAPS)))
    assert key(default, ["CAP_KILL"]) == key(default, None) == key(default, [])  # caps no rule names
    assert key(default, ["sys_admin"]) == key(default, ["CAP_SYS_ADMIN", "CAP_KILL"]) != key(default, None)
    assert key(plain, None) == key(plain, ["CAP_SYS_ADMIN"])  # no includes/excludes: caps do not matter
    assert key(plain, None) != key(default, None)
    assert key({**plain, "defaultErrnoRet": 1}, None) != key(plain, None)
    assert len(key(plain, None)) == 64


def test_cache_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = seccomp.default_profile()
    cache = str(tmp_path / "cache")
    first = seccomp_cache.program(profile, caps.DEFAULT_CAPS, cache)
    assert not first.cached
    path = Path(seccomp_cache.path_for(cache, seccomp_cache.cache_key(profile, caps.DEFAULT_CAPS)))
    stored = path.read_bytes()
    assert stored[:-32] == first.bpf and len(stored) == len(first.bpf) + 32
    assert path.stat().st_mode & 0o777 == 0o600
    hit = seccomp_cache.program(profile, caps.DEFAULT_CAPS, cache)
    assert hit.cached and hit.bpf == first.bpf
    flipped = bytearray(stored)
    flipped[100] ^= 0x01
    for broken in (b"", stored[:13], stored[:-32], stored[:-1], bytes(flipped),
                   b"\0" * (8 * (seccomp_cache.BPF_MAXINSNS + 1) + 32)):
        path.write_bytes(broken)
        again = seccomp_cache.program(profile, caps.DEFAULT_CAPS, cache)
        assert not again.cached and again.bpf == first.bpf, len(broken)
        assert path.read_bytes() == stored  # recompiled and rewritten
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left
    # an unusable cache directory only costs a compile
    (tmp_path / "file").write_text("")
    assert not seccomp_cache.program(profile, None, str(tmp_path / "file")).cached
    assert seccomp_cache.program(profile, None, None).bpf == seccomp.export_bpf(profile, None)
    # at most MAX_ENTRIES files: the oldest go
    monkeypatch.setattr(seccomp_cache, "MAX_ENTRIES", 2)
    os.utime(path, ns=(1, 1))
    for errno_ret in (1, 2, 3):
        seccomp_cache.program({**profile, "defaultErrnoRet": errno_ret}, None, cache)
    names = {p.name for p in path.parent.iterdir()}
    assert len(names) == 2 and path.name not in names


@needs_root
@needs_nr
def test_cached_program_needs_no_files_after_pivot(tmp_path: Path) -> None:
    """The driver reads the program before forking: the container process loads it after pivot_root with one prctl."""
    empty = tmp_path / "newroot"
    empty.mkdir()
    prog = seccomp_cache.program(seccomp.default_profile(), caps.DEFAULT_CAPS, str(tmp_path / "cache"))

    def body() -> list[Any]:
        os.chroot(empty)
        os.chdir("/")
        seccomp.set_no_new_privs()
        seccomp_cache.install(prog, {}, None)
        return [raw("unshare", 0), raw_nr(1000)]

    out = in_child(body)
    assert out == {"ok": [[-1, "EPERM"], [-1, "ENOSYS"]]}


@needs_root
def test_cached_program_load_errors_are_install_errors() -> None:
    """Without no_new_privs and CAP_SYS_ADMIN the kernel refuses the filter: the error has the
    shape of libseccomp's load error, with the kernel's errno (libseccomp 2.5 says ECANCELED)."""
    prog = seccomp_cache.program(seccomp.default_profile(), caps.DEFAULT_CAPS, None)

    def body() -> str:
        os.setgid(65534)
        os.setuid(65534)
        try:
            seccomp_cache.install(prog, seccomp.default_profile(), caps.DEFAULT_CAPS)
        except IsolationError as exc:
            msg = exc.message
        try:
            seccomp.install(seccomp.default_profile(), caps.DEFAULT_CAPS)
        except IsolationError as exc:
            return f"{msg} | {exc.message}"
        return "loaded"

    out = in_child(body)
    cached, compiled = out["ok"].split(" | ")
    assert cached == "cannot load the seccomp filter: Permission denied"
    assert compiled.startswith("cannot load the seccomp filter: ")
