"""Seccomp filters in the Docker JSON profile format, built and loaded with libseccomp (ctypes).

The default profile has the shape of podman's (containers-common) seccomp.json, written from
knowledge (no network):

* unknown syscalls get ENOSYS (``defaultErrnoRet: 38``), so programs fall back from syscalls
  newer than the profile (clone3 -> clone, io_uring -> epoll) instead of failing on EPERM;
* an allow list of what normal programs need, grouped below as data. clone and clone3 are
  allowed without restricting namespace flags, as podman's default does: creating namespaces
  still needs CAP_SYS_ADMIN, except user namespaces if the host allows them unprivileged;
* dangerous groups answer EPERM unless the container holds the capability that makes them
  meaningful, as docker/podman do with ``includes``/``excludes``: mount and the new mount
  API, pivot_root, setns/unshare, swapon/off, quotactl, bpf, perf_event_open, ... need
  CAP_SYS_ADMIN (bpf also CAP_BPF, perf_event_open also CAP_PERFMON); kernel modules need
  CAP_SYS_MODULE; reboot/kexec need CAP_SYS_BOOT; clock setting needs CAP_SYS_TIME (adjtimex
  too, since it can set the clock); acct CAP_SYS_PACCT; iopl/ioperm CAP_SYS_RAWIO; syslog
  CAP_SYSLOG; vhangup CAP_SYS_TTY_CONFIG; open_by_handle_at CAP_DAC_READ_SEARCH;
  kcmp/pidfd_getfd/process_madvise/userfaultfd CAP_SYS_PTRACE;
* always EPERM: the kernel keyring (add_key, keyctl, request_key: not namespaced) and obsolete
  calls (_sysctl, uselib, ustat, sysfs, nfsservctl, vm86, ...);
* ptrace and process_vm_readv/writev are allowed on kernels >= 4.8 (podman's rule: before 4.8
  ptrace could bypass seccomp);
* personality is allowed only for the harmless personas docker allows (PER_LINUX, UNAME26,
  PER_LINUX32, UNAME26|PER_LINUX32, query); other values fall to the default (ENOSYS);
* io_uring is left to the default (ENOSYS), as recent docker/podman do.

``includes``/``excludes`` (caps: all of / any of; arches in Go spelling; minKernel) are resolved
against the container's capabilities: by :func:`specialize` when the engine writes the OCI spec
(OCI seccomp has no conditions), or by :func:`install` given ``caps``. Without ``caps`` install
assumes none are held, so it fails closed: it may run before capabilities are dropped, when the
process's own sets say nothing about the container's.

:func:`export_bpf` returns the program :func:`install` would load; the driver caches it
(seccomp_cache.py) so most containers install stored bytes without calling into libseccomp.
"""
from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterable
from functools import lru_cache

from capsa.errors import IsolationError
from capsa.hostinfo import go_arch

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_FILES = (
    "access", "faccessat", "faccessat2", "chdir", "fchdir", "getcwd", "chmod", "fchmod", "fchmodat", "fchmodat2",
    "chown", "chown32", "fchown", "fchown32", "fchownat", "lchown", "lchown32", "umask",
    "open", "openat", "openat2", "creat", "close", "close_range", "dup", "dup2", "dup3", "fcntl", "fcntl64",
    "read", "readv", "pread64", "preadv", "preadv2", "write", "writev", "pwrite64", "pwritev", "pwritev2",
    "lseek", "_llseek", "sendfile", "sendfile64", "splice", "tee", "vmsplice", "copy_file_range", "readahead",
    "fadvise64", "fadvise64_64", "arm_fadvise64_64", "fallocate", "ftruncate", "ftruncate64", "truncate",
    "truncate64", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "sync_file_range2",
    "arm_sync_file_range", "flock", "ioctl", "pipe", "pipe2", "cachestat",
    "stat", "stat64", "lstat", "lstat64", "fstat", "fstat64", "fstatat64", "newfstatat", "statx",
    "statfs", "statfs64", "fstatfs", "fstatfs64", "getdents", "getdents64", "readlink", "readlinkat",
    "mkdir", "mkdirat", "mknod", "mknodat", "rmdir", "link", "linkat", "symlink", "symlinkat", "unlink",
    "unlinkat", "rename", "renameat", "renameat2", "utime", "utimes", "utimensat", "utimensat_time64", "futimesat",
    "getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr", "fsetxattr", "listxattr", "llistxattr",
    "flistxattr", "removexattr", "lremovexattr", "fremovexattr",
    "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "fanotify_mark",
)
_AIO = ("io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents", "io_pgetevents_time64")
_EVENTS = (
    "poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6", "pselect6_time64",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait", "epoll_wait_old", "epoll_pwait",
    "epoll_pwait2", "eventfd", "eventfd2", "signalfd", "signalfd4", "timerfd_create", "timerfd_gettime",
    "timerfd_gettime64", "timerfd_settime", "timerfd_settime64",
)
_MEMORY = (
    "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "remap_file_pages",
    "mlock", "mlock2", "mlockall", "munlock", "munlockall", "membarrier", "memfd_create", "memfd_secret",
    "pkey_alloc", "pkey_free", "pkey_mprotect", "get_mempolicy", "set_mempolicy", "mbind", "map_shadow_stack",
    "mseal",
)
_SIGNALS = (
    "kill", "tkill", "tgkill", "pidfd_open", "pidfd_send_signal", "rt_sigaction", "rt_sigpending",
    "rt_sigprocmask", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "sigaction", "signal", "sigpending", "sigprocmask", "sigreturn", "sigsuspend",
    "sigaltstack", "pause", "alarm", "restart_syscall",
)
_TIME = (
    "time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64",
    "clock_nanosleep", "clock_nanosleep_time64", "nanosleep", "getitimer", "setitimer", "times",
    "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
    "timer_settime64",
)
_SOCKETS = (
    "socket", "socketpair", "socketcall", "bind", "connect", "listen", "accept", "accept4", "shutdown",
    "getsockname", "getpeername", "getsockopt", "setsockopt", "send", "sendto", "sendmsg", "sendmmsg",
    "recv", "recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64",
)
_PROCESS = (
    "fork", "vfork", "clone", "clone3", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "waitpid",
    "getpid", "getppid", "gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid", "getpriority",
    "setpriority", "getrlimit", "setrlimit", "ugetrlimit", "prlimit64", "getrusage", "getrandom", "sysinfo",
    "uname", "prctl", "arch_prctl", "modify_ldt", "capget", "capset", "seccomp", "rseq", "getcpu",
    "set_tid_address", "get_robust_list", "set_robust_list", "get_thread_area", "set_thread_area", "set_tls",
    "futex", "futex_time64", "futex_waitv", "futex_wait", "futex_wake", "futex_requeue",
    "ioprio_get", "ioprio_set", "process_mrelease", "landlock_create_ruleset", "landlock_add_rule",
    "landlock_restrict_self", "breakpoint", "cacheflush", "riscv_flush_icache", "s390_pci_mmio_read",
    "s390_pci_mmio_write", "s390_runtime_instr",
)
_IDS = (
    "getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid", "getegid32", "getgroups",
    "getgroups32", "getresuid", "getresuid32", "getresgid", "getresgid32", "setuid", "setuid32", "setgid",
    "setgid32", "setreuid", "setreuid32", "setregid", "setregid32", "setresuid", "setresuid32", "setresgid",
    "setresgid32", "setfsuid", "setfsuid32", "setfsgid", "setfsgid32", "setgroups", "setgroups32",
)
_SCHED = (
    "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getattr", "sched_setattr", "sched_getparam",
    "sched_setparam", "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max",
    "sched_get_priority_min", "sched_rr_get_interval", "sched_rr_get_interval_time64",
)
_IPC = (
    "ipc", "msgget", "msgctl", "msgsnd", "msgrcv", "semget", "semctl", "semop", "semtimedop", "semtimedop_time64",
    "shmget", "shmctl", "shmat", "shmdt", "mq_open", "mq_unlink", "mq_notify", "mq_getsetattr", "mq_timedsend",
    "mq_timedsend_time64", "mq_timedreceive", "mq_timedreceive_time64",
)
ALLOWED: tuple[str, ...] = _FILES + _AIO + _EVENTS + _MEMORY + _SIGNALS + _TIME + _SOCKETS + _PROCESS + _IDS + _SCHED + _IPC
PTRACE_4_8 = ("ptrace", "process_vm_readv", "process_vm_writev")
PERSONAS = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
# (capabilities any of which allows the group, syscalls): EPERM without one of them.
GATED: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("CAP_SYS_ADMIN",), (
        "mount", "umount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig",
        "fspick", "mount_setattr", "setns", "unshare", "swapon", "swapoff", "quotactl", "quotactl_fd",
        "lookup_dcookie", "name_to_handle_at", "fanotify_init", "sethostname", "setdomainname")),
    (("CAP_SYS_ADMIN", "CAP_BPF"), ("bpf",)),
    (("CAP_SYS_ADMIN", "CAP_PERFMON"), ("perf_event_open",)),
    (("CAP_SYS_CHROOT",), ("chroot",)),
    (("CAP_SYS_MODULE",), ("init_module", "finit_module", "delete_module")),
    (("CAP_SYS_BOOT",), ("reboot", "kexec_load", "kexec_file_load")),
    (("CAP_SYS_TIME",), ("settimeofday", "stime", "clock_settime", "clock_settime64", "clock_adjtime",
                         "clock_adjtime64", "adjtimex")),
    (("CAP_SYS_PACCT",), ("acct",)),
    (("CAP_SYS_RAWIO",), ("iopl", "ioperm")),
    (("CAP_SYSLOG",), ("syslog",)),
    (("CAP_SYS_TTY_CONFIG",), ("vhangup",)),
    (("CAP_SYS_NICE",), ("migrate_pages", "move_pages")),
    (("CAP_SYS_PTRACE",), ("kcmp", "pidfd_getfd", "process_madvise", "userfaultfd")),
    (("CAP_DAC_READ_SEARCH",), ("open_by_handle_at",)),
)
DENIED = (
    "add_key", "keyctl", "request_key", "_sysctl", "create_module", "get_kernel_syms", "query_module",
    "nfsservctl", "uselib", "ustat", "sysfs", "vm86", "vm86old", "bdflush",
    "pciconfig_iobase", "pciconfig_read", "pciconfig_write",
)
ARCH_MAP = (
    ("SCMP_ARCH_X86_64", ("SCMP_ARCH_X86", "SCMP_ARCH_X32")),
    ("SCMP_ARCH_AARCH64", ("SCMP_ARCH_ARM",)),
    ("SCMP_ARCH_MIPS64", ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32")),
    ("SCMP_ARCH_MIPSEL64", ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32")),
    ("SCMP_ARCH_PPC64LE", ()),
    ("SCMP_ARCH_S390X", ("SCMP_ARCH_S390",)),
    ("SCMP_ARCH_RISCV64", ()),
)

ACT_KILL_THREAD = 0x00000000
ACT_KILL_PROCESS = 0x80000000
ACT_TRAP = 0x00030000
ACT_ERRNO = 0x00050000
ACT_TRACE = 0x7FF00000
ACT_LOG = 0x7FFC0000
ACT_ALLOW = 0x7FFF0000
_ACTIONS = {"SCMP_ACT_KILL": ACT_KILL_THREAD, "SCMP_ACT_KILL_THREAD": ACT_KILL_THREAD,
            "SCMP_ACT_KILL_PROCESS": ACT_KILL_PROCESS, "SCMP_ACT_TRAP": ACT_TRAP, "SCMP_ACT_ERRNO": ACT_ERRNO,
            "SCMP_ACT_TRACE": ACT_TRACE, "SCMP_ACT_LOG": ACT_LOG, "SCMP_ACT_ALLOW": ACT_ALLOW}
_OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
        "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
# Bump whenever _build/_applies change how a profile becomes rules: it keys the compiled filter
# cache (seccomp_cache.py) along with this file's own bytes.
FILTER_CODE = 1
_NR_SCMP_ERROR = -1
_FLTATR_CTL_NNP = 3
_HINT = ("write a Docker seccomp profile: {defaultAction, defaultErrnoRet, architectures|archMap, "
         "syscalls: [{names, action, errnoRet, args: [{index, value, valueTwo, op}]}]}")


def default_profile() -> dict[str, Any]:
    """capsa's default profile (podman-like, see the module docstring) as a Docker JSON dict."""
    allow, eperm = "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"
    calls: list[dict[str, Any]] = [
        {"names": list(ALLOWED), "action": allow},
        {"names": list(PTRACE_4_8), "action": allow, "includes": {"minKernel": "4.8"}},
        *({"names": ["personality"], "action": allow, "args": [{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]}
          for v in PERSONAS),
        {"names": list(DENIED), "action": eperm, "errnoRet": errno.EPERM},
    ]
    for caps, names in GATED:
        calls += [{"names": list(names), "action": allow, "includes": {"caps": [cap]}} for cap in caps]
        calls.append({"names": list(names), "action": eperm, "errnoRet": errno.EPERM, "excludes": {"caps": list(caps)}})
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.ENOSYS,
            "archMap": [{"architecture": a, "subArchitectures": list(s)} for a, s in ARCH_MAP], "syscalls": calls}


def _bad(where: str, problem: str) -> IsolationError:
    return IsolationError(f"invalid seccomp profile: {where}{problem}", _HINT)


def _int(value: Any, where: str, top: int = 2**64 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise _bad(where, f"must be an integer from 0 to {top}, not {value!r}")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(where, "must be a list of strings")
    return value


def _check_action(value: Any, where: str) -> None:
    if value not in _ACTIONS:
        raise _bad(where, f"unsupported action {value!r} (use one of {', '.join(sorted(_ACTIONS))})")


def validate(profile: Any) -> dict[str, Any]:
    """Check a profile's shape; returns it unchanged or raises IsolationError naming the field."""
    if not isinstance(profile, dict):
        raise _bad("", "the top level must be a JSON object")
    _check_action(profile.get("defaultAction"), "defaultAction: ")
    if profile.get("defaultErrnoRet") is not None:
        _int(profile["defaultErrnoRet"], "defaultErrnoRet: ", 4095)
    if profile.get("architectures") and profile.get("archMap"):
        raise _bad("", "give either architectures or archMap, not both")
    _strings(profile.get("architectures") or [], "architectures: ")
    for i, entry in enumerate(profile.get("archMap") or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("architecture"), str):
            raise _bad(f"archMap[{i}]: ", "must be an object with an architecture string")
        _strings(entry.get("subArchitectures") or [], f"archMap[{i}].subArchitectures: ")
    calls = profile.get("syscalls") or []
    if not isinstance(calls, list):
        raise _bad("syscalls: ", "must be a list")
    for i, call in enumerate(calls):
        where = f"syscalls[{i}]."
        if not isinstance(call, dict):
            raise _bad(f"syscalls[{i}]: ", "must be an object")
        if call.get("name") and call.get("names"):
            raise _bad(where[:-1] + ": ", "give either name or names, not both")
        names = [call["name"]] if call.get("name") else _strings(call.get("names"), where + "names: ")
        if not names or not all(isinstance(n, str) and n for n in names):
            raise _bad(where[:-1] + ": ", "needs a non-empty name or names")
        _check_action(call.get("action"), where + "action: ")
        if call.get("errnoRet") is not None:
            _int(call["errnoRet"], where + "errnoRet: ", 4095)
        args = call.get("args") or []
        if not isinstance(args, list):
            raise _bad(where + "args: ", "must be a list")
        for j, arg in enumerate(args):
            at = f"{where}args[{j}]"
            if not isinstance(arg, dict):
                raise _bad(at + ": ", "must be an object")
            _int(arg.get("index"), at + ".index: ", 5)
            _int(arg.get("value"), at + ".value: ")
            _int(arg.get("valueTwo", 0), at + ".valueTwo: ")
            if arg.get("op") not in _OPS:
                raise _bad(at + ".op: ", f"unsupported comparison {arg.get('op')!r}")
        for key in ("includes", "excludes"):
            cond = call.get(key) or {}
            if not isinstance(cond, dict):
                raise _bad(f"{where}{key}: ", "must be an object")
            _strings(cond.get("caps") or [], f"{where}{key}.caps: ")
            _strings(cond.get("arches") or [], f"{where}{key}.arches: ")
            if cond.get("minKernel") is not None and not _is_version(str(cond["minKernel"])):
                raise _bad(f"{where}{key}.minKernel: ", f"must look like 4.8, not {cond['minKernel']!r}")
    return profile


def from_oci(oci: dict[str, Any]) -> dict[str, Any]:
    """An OCI ``linux.seccomp`` object as a validated Docker JSON profile (KeyError, TypeError or
    AttributeError when a required field is missing or mistyped)."""
    out: dict[str, Any] = {"defaultAction": oci["defaultAction"]}
    if oci.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = oci["defaultErrnoRet"]
    if oci.get("architectures"):
        out["architectures"] = list(oci["architectures"])
    calls = []
    for call in oci.get("syscalls") or []:
        entry: dict[str, Any] = {"names": list(call["names"]), "action": call["action"]}
        if call.get("errnoRet") is not None:
            entry["errnoRet"] = call["errnoRet"]
        if call.get("args"):
            entry["args"] = [{"index": a["index"], "value": a.get("value", 0), "valueTwo": a.get("valueTwo", 0),
                              "op": a["op"]} for a in call["args"]]
        calls.append(entry)
    out["syscalls"] = calls
    return validate(out)


def load_profile(path: str) -> dict[str, Any]:
    """Read and validate a Docker JSON seccomp profile."""
    try:
        with open(path) as fh:
            text = fh.read()
    except OSError as exc:
        raise IsolationError(f"cannot read seccomp profile {path}: {exc.strerror}",
                             "give the path of a readable JSON file") from exc
    try:
        from capsa.fastpath.jsonio import loads

        data = loads(text)
    except ValueError as exc:
        raise IsolationError(f"seccomp profile {path} is not valid JSON: {exc}", _HINT) from exc
    return validate(data)


@lru_cache(maxsize=1)
def _lib() -> Any:
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError as exc:
        raise IsolationError("libseccomp is not installed (libseccomp.so.2 not found)",
                             "apt-get install libseccomp2") from exc
    vp, u32, i, cp = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_char_p
    for fn, res, args in (("seccomp_init", vp, [u32]), ("seccomp_release", None, [vp]),
                          ("seccomp_load", i, [vp]), ("seccomp_arch_add", i, [vp, u32]),
                          ("seccomp_arch_native", u32, []), ("seccomp_arch_resolve_name", u32, [cp]),
                          ("seccomp_syscall_resolve_name", i, [cp]), ("seccomp_attr_set", i, [vp, i, u32]),
                          ("seccomp_rule_add_array", i, [vp, u32, i, ctypes.c_uint, vp]),
                          ("seccomp_export_bpf", i, [vp, i]), ("seccomp_version", vp, [])):
        getattr(lib, fn).restype = res
        getattr(lib, fn).argtypes = args
    return lib


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def _action(name: str, ret: int | None) -> int:
    action = _ACTIONS[name]
    if action in (ACT_ERRNO, ACT_TRACE):
        action |= (errno.EPERM if ret is None and action == ACT_ERRNO else ret or 0) & 0xFFFF
    return action


def _arch_token(name: str) -> int:
    """libseccomp's token for a Docker arch name (SCMP_ARCH_X86_64 -> x86_64); 0 if unknown."""
    short = name.removeprefix("SCMP_ARCH_").lower()
    return int(_lib().seccomp_arch_resolve_name(short.encode()))


def _version(text: str) -> tuple[int, ...]:
    """The first three numbers in ``text`` (``5.10.0-28-amd64`` -> (5, 10, 0))."""
    numbers: list[int] = []
    digits = ""
    for c in text + " ":
        if "0" <= c <= "9":
            digits += c
        elif digits:
            numbers.append(int(digits))
            digits = ""
    return tuple(numbers[:3])


def _is_version(text: str) -> bool:
    """``\\d+(\\.\\d+)*``: dot-separated numbers, as a profile's minKernel."""
    return all(part and all("0" <= c <= "9" for c in part) for part in text.split("."))


def _canon_cap(name: str) -> str:
    upper = name.upper()
    return upper if upper.startswith("CAP_") else "CAP_" + upper


def _applies(call: dict[str, Any], caps: set[str], kernel: tuple[int, ...]) -> bool:
    inc, exc = call.get("includes") or {}, call.get("excludes") or {}
    if not all(_canon_cap(c) in caps for c in inc.get("caps") or []):
        return False
    if inc.get("arches") and go_arch() not in inc["arches"]:
        return False
    if inc.get("minKernel") and kernel < _version(str(inc["minKernel"])):
        return False
    if any(_canon_cap(c) in caps for c in exc.get("caps") or []):
        return False
    if exc.get("arches") and go_arch() in exc["arches"]:
        return False
    return not (exc.get("minKernel") and kernel >= _version(str(exc["minKernel"])))


def specialize(profile: dict[str, Any], caps: Iterable[str]) -> dict[str, Any]:
    """A copy of ``profile`` with includes/excludes resolved for ``caps`` on this host: rules that
    do not apply are dropped, the others lose their conditions."""
    held = {_canon_cap(c) for c in caps}
    kernel = _version(os.uname().release)
    calls = [{k: v for k, v in call.items() if k not in ("includes", "excludes")}
             for call in validate(profile).get("syscalls") or [] if _applies(call, held, kernel)]
    return {**profile, "syscalls": calls}


def _check(rc: int, what: str) -> None:
    if rc < 0:
        raise IsolationError(f"cannot {what}: {os.strerror(-rc)}",
                             "load needs no_new_privs (set_no_new_privs()) or CAP_SYS_ADMIN; check the profile")


def install(profile: dict[str, Any], caps: Iterable[str] | None = None) -> None:
    """Build ``profile``'s filter and load it into the calling process (and its future children).

    ``caps`` decides the includes/excludes rules (None: no capabilities, see the module docstring).
    The caller must have set no_new_privs or hold CAP_SYS_ADMIN; libseccomp is told not to set it.
    Needs no file access beyond libseccomp (load it with ``_lib()`` before pivot_root)."""
    ctx = _build(profile, caps)
    lib = _lib()
    try:
        _check(lib.seccomp_load(ctx), "load the seccomp filter")
    finally:
        lib.seccomp_release(ctx)


def export_bpf(profile: dict[str, Any], caps: Iterable[str] | None = None) -> bytes:
    """The raw BPF program (``struct sock_filter[]``) :func:`install` would load for ``profile``
    and ``caps``, byte for byte (libseccomp generates it the same way for both); loads nothing."""
    ctx = _build(profile, caps)
    lib = _lib()
    try:
        fd = os.memfd_create("capsa-seccomp", os.MFD_CLOEXEC)
        try:
            _check(lib.seccomp_export_bpf(ctx, fd), "export the seccomp filter")
            size = os.lseek(fd, 0, os.SEEK_END)
            return os.pread(fd, size, 0)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)


@lru_cache(maxsize=1)
def libseccomp_version() -> str:
    """libseccomp's runtime version, such as ``2.5.4``."""
    class Version(ctypes.Structure):
        _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]

    got = _lib().seccomp_version()
    if not got:
        return "unknown"
    v = ctypes.cast(got, ctypes.POINTER(Version)).contents
    return f"{v.major}.{v.minor}.{v.micro}"


def _build(profile: dict[str, Any], caps: Iterable[str] | None) -> Any:
    """A libseccomp filter context for ``profile``; the caller releases it."""
    validate(profile)
    lib = _lib()
    held = {_canon_cap(c) for c in caps or ()}
    kernel = _version(os.uname().release)
    default = _action(profile["defaultAction"], profile.get("defaultErrnoRet"))
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise IsolationError("cannot initialise the seccomp filter (seccomp_init failed)", _HINT)
    try:
        _check(lib.seccomp_attr_set(ctx, _FLTATR_CTL_NNP, 0), "configure the seccomp filter")
        native = int(lib.seccomp_arch_native())
        arches = list(profile.get("architectures") or [])
        for entry in profile.get("archMap") or []:
            if _arch_token(entry["architecture"]) == native:
                arches += [entry["architecture"], *(entry.get("subArchitectures") or [])]
        for arch in arches:
            token = _arch_token(arch)
            if token and token != native:
                lib.seccomp_arch_add(ctx, token)  # arches libseccomp cannot mix with the native one are skipped
        for call in profile.get("syscalls") or []:
            if not _applies(call, held, kernel):
                continue
            action = _action(call["action"], call.get("errnoRet"))
            if action == default:
                continue  # libseccomp refuses rules that repeat the default action
            args = call.get("args") or []
            indexes = [a["index"] for a in args]
            # Several conditions on one argument cannot share a rule: each becomes its own (OR), as runc does.
            groups = [[a] for a in args] if len(set(indexes)) < len(indexes) else [args]
            for name in [call["name"]] if call.get("name") else call["names"]:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr == _NR_SCMP_ERROR:
                    continue  # unknown to this libseccomp/arch, skipped as docker does
                for group in groups:
                    cmps = (_ArgCmp * max(len(group), 1))(*(
                        _ArgCmp(a["index"], _OPS[a["op"]], a["value"], a.get("valueTwo", 0)) for a in group))
                    _check(lib.seccomp_rule_add_array(ctx, action, nr, len(group), cmps if group else None),
                           f"add the seccomp rule for {name}")
    except BaseException:
        lib.seccomp_release(ctx)
        raise
    return ctx


def set_no_new_privs() -> None:
    """prctl(PR_SET_NO_NEW_PRIVS, 1): exec can no longer grant privileges (setuid bits, file caps)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(ctypes.c_int(38), ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        err = ctypes.get_errno()
        raise IsolationError(f"cannot set no_new_privs: {os.strerror(err)}", "this needs Linux >= 3.5")
