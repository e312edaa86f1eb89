"""Seccomp profiles in the Docker/containers-common JSON format, and their one resolver.

A profile is ``{defaultAction, defaultErrnoRet, architectures | archMap, syscalls: [{names,
action, errnoRet, args, includes, excludes}]}``. :func:`to_oci` resolves it for one container
into OCI ``linux.seccomp``, as containers/common does: ``archMap`` keeps the native architecture
and its sub-architectures; a rule applies when the container holds every capability of
``includes.caps``, none of ``excludes.caps``, the machine's Go arch is in ``includes.arches`` (if
given) and not in ``excludes.arches``, and the kernel is at least ``includes.minKernel`` (below
``excludes.minKernel``); ``errno`` names become ``errnoRet`` numbers. OCI seccomp has no
conditions, so the bundle carries only resolved rules and any runtime can load it.
"""
from __future__ import annotations

import os
from collections.abc import Iterable

from capsa.errors import IsolationError
from capsa.security.caps import canonical

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
           "SCMP_ACT_TRACE", "SCMP_ACT_LOG", "SCMP_ACT_ALLOW")
OPS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
       "SCMP_CMP_MASKED_EQ")
# uname machine -> the native libseccomp architecture name
SCMP_ARCH = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64", "armv7l": "SCMP_ARCH_ARM",
             "i686": "SCMP_ARCH_X86", "ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X",
             "riscv64": "SCMP_ARCH_RISCV64", "mips64": "SCMP_ARCH_MIPS64"}
HINT = ("write a Docker seccomp profile: {defaultAction, defaultErrnoRet, architectures|archMap, "
        "syscalls: [{names, action, errnoRet, args: [{index, value, valueTwo, op}]}]}")


def default_profile() -> dict[str, Any]:
    """capsa's default profile (:mod:`capsa.security.seccomp_default`), as a Docker JSON dict."""
    from capsa.security.seccomp_default import PROFILE

    return PROFILE


def version_tuple(text: str) -> tuple[int, ...]:
    """The first three numbers in ``text`` (``5.10.0-28-amd64`` -> (5, 10, 0); ``4.8`` -> (4, 8))."""
    numbers: list[int] = []
    digits = ""
    for c in text + " ":
        if "0" <= c <= "9":
            digits += c
        elif digits:
            numbers.append(int(digits))
            digits = ""
    return tuple(numbers[:3])


def kernel_version() -> tuple[int, ...]:
    """The running kernel's version, as :func:`version_tuple` of its release."""
    return version_tuple(os.uname().release)


def applies(rule: dict[str, Any], caps: set[str], goarch: str, kernel: tuple[int, ...]) -> bool:
    """Whether ``rule``'s includes/excludes hold for ``caps`` (canonical names), ``goarch`` and
    ``kernel`` (see the module docstring)."""
    inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
    if not all(canonical(c) in caps for c in inc.get("caps") or []):
        return False
    if inc.get("arches") and goarch not in inc["arches"]:
        return False
    if inc.get("minKernel") and kernel < version_tuple(str(inc["minKernel"])):
        return False
    if any(canonical(c) in caps for c in exc.get("caps") or []):
        return False
    if exc.get("arches") and goarch in exc["arches"]:
        return False
    return not (exc.get("minKernel") and kernel >= version_tuple(str(exc["minKernel"])))


def _errno_of(number: Any, name: Any) -> int | None:
    if isinstance(number, int) and not isinstance(number, bool):
        return number
    if isinstance(name, str):
        import errno

        return getattr(errno, name, None)
    return None


def to_oci(profile: dict[str, Any], caps: Iterable[str], machine: str | None = None,
           kernel: tuple[int, ...] | None = None) -> dict[str, Any]:
    """OCI ``linux.seccomp`` of ``profile`` for a container holding ``caps`` on ``machine`` (default:
    this one) and ``kernel`` (default: the running one). Only rules that apply remain, without
    conditions; a rule's ``name`` becomes ``names``."""
    from capsa.hostinfo import GOARCH

    machine = machine or os.uname().machine
    native = SCMP_ARCH.get(machine, "SCMP_ARCH_" + machine.upper())
    goarch = GOARCH.get(machine, machine)
    held = {canonical(c) for c in caps}
    kernel = kernel if kernel is not None else kernel_version()
    out: dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    default_errno = _errno_of(profile.get("defaultErrnoRet"), profile.get("defaultErrno"))
    if default_errno is not None:
        out["defaultErrnoRet"] = default_errno
    arches: list[str] = []
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == native:
            arches += [entry["architecture"], *(entry.get("subArchitectures") or [])]
    if not profile.get("archMap"):
        arches = list(profile.get("architectures") or [])
    if arches:
        out["architectures"] = arches
    for key in ("flags", "listenerPath", "listenerMetadata"):
        if profile.get(key):
            out[key] = profile[key]
    syscalls = []
    for rule in profile.get("syscalls") or []:
        if not applies(rule, held, goarch, kernel):
            continue
        names = list(rule.get("names") or ([rule["name"]] if rule.get("name") else []))
        if not names:
            continue
        call: dict[str, Any] = {"names": names, "action": rule["action"]}
        number = _errno_of(rule.get("errnoRet"), rule.get("errno"))
        if number is not None:
            call["errnoRet"] = number
        if rule.get("args"):
            call["args"] = [{k: a[k] for k in ("index", "value", "valueTwo", "op") if a.get(k) is not None
                             and not (k == "valueTwo" and a[k] == 0)} for a in rule["args"]]
        syscalls.append(call)
    if syscalls:
        out["syscalls"] = syscalls
    return out


def _bad(where: str, problem: str) -> IsolationError:
    return IsolationError(f"invalid seccomp profile: {where}{problem}", HINT)


def _int(value: Any, where: str, top: int = 2**64 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise _bad(where, f"must be an integer from 0 to {top}, not {value!r}")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(where, "must be a list of strings")
    return value


def _check_action(value: Any, where: str) -> None:
    if value not in ACTIONS:
        raise _bad(where, f"unsupported action {value!r} (use one of {', '.join(sorted(ACTIONS))})")


def _is_version(text: str) -> bool:
    """``\\d+(\\.\\d+)*``: dot-separated numbers, as a profile's minKernel."""
    return all(part and all("0" <= c <= "9" for c in part) for part in text.split("."))


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
        _validate_call(call, i)
    return profile


def _validate_call(call: Any, i: int) -> None:
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
        if arg.get("op") not in OPS:
            raise _bad(at + ".op: ", f"unsupported comparison {arg.get('op')!r}")
    for key in ("includes", "excludes"):
        cond = call.get(key) or {}
        if not isinstance(cond, dict):
            raise _bad(f"{where}{key}: ", "must be an object")
        _strings(cond.get("caps") or [], f"{where}{key}.caps: ")
        _strings(cond.get("arches") or [], f"{where}{key}.arches: ")
        if cond.get("minKernel") is not None and not _is_version(str(cond["minKernel"])):
            raise _bad(f"{where}{key}.minKernel: ", f"must look like 4.8, not {cond['minKernel']!r}")


def load_profile(path: str) -> dict[str, Any]:
    """Read and validate a Docker JSON seccomp profile."""
    try:
        with open(path) as fh:
            text = fh.read()
    except OSError as exc:
        raise IsolationError(f"cannot read seccomp profile {path}: {exc.strerror}",
                             "give the path of a readable JSON file") from exc
    try:
        from json import loads

        data = loads(text)
    except ValueError as exc:
        raise IsolationError(f"seccomp profile {path} is not valid JSON: {exc}", HINT) from exc
    return validate(data)


def specialize(profile: dict[str, Any], caps: Iterable[str]) -> dict[str, Any]:
    """A copy of ``profile`` (Docker format) with includes/excludes resolved for ``caps`` on this
    host: rules that do not apply are dropped, the others lose their conditions."""
    from capsa.hostinfo import go_arch

    held, arch, kernel = {canonical(c) for c in caps}, go_arch(), kernel_version()
    calls = [{k: v for k, v in call.items() if k not in ("includes", "excludes")}
             for call in validate(profile).get("syscalls") or [] if applies(call, held, arch, kernel)]
    return {**profile, "syscalls": calls}
