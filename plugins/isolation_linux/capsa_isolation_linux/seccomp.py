"""Seccomp filters compiled and loaded with libseccomp (ctypes), for the bundle's ``linux.seccomp``.

The profile itself is the core's: the default profile is data (capsa.security.seccomp_default),
and capsa.security.seccomp resolves its ``includes``/``excludes`` into the OCI section of the
bundle (validate, load_profile, specialize and default_profile are re-exported here). This
module turns a profile into a libseccomp filter: :func:`from_oci` reads the bundle's section,
:func:`install` loads it, :func:`export_bpf` returns the program install would load; the
driver caches it (seccomp_cache.py) so most containers install stored bytes without calling
into libseccomp. Given a Docker profile that still has conditions, :func:`install` resolves them
with the core's resolver against ``caps``; without ``caps`` it assumes none are held, so it fails
closed: it may run before capabilities are dropped, when the process's own sets say nothing
about the container's.
"""
from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterable
from functools import lru_cache

from capsa.errors import IsolationError
from capsa.hostinfo import go_arch
from capsa.linux import PR_SET_NO_NEW_PRIVS, libc
from capsa.security.caps import canonical
from capsa.security.seccomp import (HINT, applies, default_profile, kernel_version, load_profile,  # noqa: F401
                                    specialize, validate)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

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
# Bump whenever _build (or the core's applies) change how a profile becomes rules: it keys the compiled filter
# cache (seccomp_cache.py) along with this file's own bytes.
FILTER_CODE = 2
_NR_SCMP_ERROR = -1
_FLTATR_CTL_NNP = 3


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
    held = {canonical(c) for c in caps or ()}
    arch, kernel = go_arch(), kernel_version()
    default = _action(profile["defaultAction"], profile.get("defaultErrnoRet"))
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise IsolationError("cannot initialise the seccomp filter (seccomp_init failed)", HINT)
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
            if not applies(call, held, arch, kernel):
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
    if libc().prctl(ctypes.c_int(PR_SET_NO_NEW_PRIVS), ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        err = ctypes.get_errno()
        raise IsolationError(f"cannot set no_new_privs: {os.strerror(err)}", "this needs Linux >= 3.5")
