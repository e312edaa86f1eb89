"""Device access of a container's cgroup: ``linux.resources.devices`` enforced by the kernel.

Each rule is ``{"allow": bool, "type": "a"|"c"|"b", "major": int|None, "minor": int|None,
"access": "rwm"}``; a missing or ``-1`` major/minor is a wildcard, type ``a`` is both kinds.
Rules apply in order and the last one that matches a request decides; no match denies (the
spec capsa writes starts with "deny all"). Requests are ``r`` (open for reading), ``w`` (open
for writing) and ``m`` (mknod): an allow rule must grant every access asked for, a deny rule
refuses a request that asks for any of its accesses.

That deny is stricter than runc's device emulator, where a deny rule matches only a request
whose access is a subset of the rule's: after ``allow c 1:3 rwm``, ``deny c 1:3 w`` refuses an
``O_RDWR`` open of /dev/null here (``rw`` asks for ``w``), while runc's program lets it through
(``rw`` is not within ``w``) and refuses only ``O_WRONLY``. capsa keeps the stricter rule on
purpose: a spec that denies writing a device gets no write access to it by any open mode. The
kernel's v1 list agrees (the deny takes ``w`` out of the allowed ``rwm``, and ``rw`` is not
within what is left).

* cgroup v1 (a ``devices`` hierarchy): the rules are written to ``devices.deny`` and
  ``devices.allow`` in order, as runc does (type ``a`` with a major or minor is written as a
  ``c`` and a ``b`` rule: in v1 a bare ``a`` resets the whole list).
* cgroup v2 (and the cgroup2 tree of a hybrid host): the kernel asks a BPF_PROG_TYPE_CGROUP_DEVICE
  program attached to the cgroup, as crun and runc do. :func:`program` assembles it by hand from
  the rules (a dozen instructions per rule, no library), :func:`attach` loads it with bpf(2) and
  attaches it (BPF_F_ALLOW_MULTI, so programs of the cgroups above still apply). The program
  lives as long as the cgroup: the descriptor is closed once attached.

Where both exist (hybrid hosts) both apply: the kernel checks the program, then the v1 list
(there the program is an extra: a kernel that cannot load it still has the v1 list).
"""
from __future__ import annotations

import os
import struct

from capsa.errors import IsolationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_SYS_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "loongarch64": 280, "ppc64le": 361, "ppc64": 361,
            "s390x": 351, "i686": 357, "armv7l": 386}
BPF_PROG_LOAD, BPF_PROG_ATTACH = 5, 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6  # attach type
BPF_F_ALLOW_MULTI = 2
# struct bpf_cgroup_dev_ctx: u32 access_type ((access << 16) | type), u32 major, u32 minor
DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4
_TYPES = {"b": DEV_BLOCK, "c": DEV_CHAR}
_ACCESS = {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}

# eBPF opcodes (linux/bpf_common.h, linux/bpf.h)
_LDXW = 0x61  # dst = *(u32 *)(src + off)
_AND32_K, _RSH32_K, _MOV32_X = 0x54, 0x74, 0xbc
_MOV64_K = 0xb7
_JNE_K, _JNE_X, _JEQ_K = 0x55, 0x5d, 0x15
_EXIT = 0x95


class Rule:
    """One device rule, checked: kind ``a``/``c``/``b``, major/minor (-1: any), access bits."""

    __slots__ = ("allow", "kind", "major", "minor", "access")

    def __init__(self, entry: dict[str, Any]) -> None:
        self.allow = bool(entry.get("allow"))
        self.kind = entry.get("type") or "a"
        if self.kind not in ("a", "b", "c"):
            raise IsolationError(f"device rule {entry}: unknown type {self.kind!r}",
                                 hint="linux.resources.devices types are a, b or c")
        self.major, self.minor = _number(entry, "major"), _number(entry, "minor")
        access = entry.get("access") or "rwm"
        if not isinstance(access, str) or not access or set(access) - set(_ACCESS):
            raise IsolationError(f"device rule {entry}: bad access {access!r}",
                                 hint="access is made of r, w and m")
        self.access = sum({_ACCESS[c] for c in access})

    def access_text(self) -> str:
        return "".join(c for c in "rwm" if self.access & _ACCESS[c])


def _number(entry: dict[str, Any], key: str) -> int:
    value = entry.get(key)
    if value is None or value == -1:
        return -1
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 31:
        raise IsolationError(f"device rule {entry}: bad {key} {value!r}", hint="give a device number or -1")
    return value


def rules(entries: list[dict[str, Any]]) -> list[Rule]:
    """The spec's rules, checked (IsolationError on a malformed one)."""
    return [Rule(e) for e in entries]


# --- cgroup v1 -------------------------------------------------------------------------------

def v1_lines(checked: list[Rule]) -> list[tuple[str, str]]:
    """(file, line) writes that put ``checked`` into a v1 devices cgroup, in order."""
    out = []
    for rule in checked:
        name = "devices.allow" if rule.allow else "devices.deny"
        if rule.kind == "a" and rule.major == rule.minor == -1 and rule.access == 7:
            out.append((name, "a"))
            continue
        numbers = f"{'*' if rule.major < 0 else rule.major}:{'*' if rule.minor < 0 else rule.minor}"
        for kind in ("c", "b") if rule.kind == "a" else (rule.kind,):
            out.append((name, f"{kind} {numbers} {rule.access_text()}"))
    return out


def apply_v1(directory: str, checked: list[Rule]) -> None:
    """Write the rules to the v1 devices cgroup ``directory``."""
    for name, line in v1_lines(checked):
        try:
            fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            raise IsolationError(f"cannot apply device rule {line!r} ({name}): {os.strerror(exc.errno or 0)}",
                                 hint="check linux.resources.devices in config.json") from None


# --- cgroup v2: the eBPF program -------------------------------------------------------------

def _insn(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", op, (src << 4) | dst, off, imm)


def _rule_code(rule: Rule) -> list[tuple[int, int, int, int, int]]:
    """One rule as (op, dst, src, off, imm): a jump offset of -1 means "to the next rule" (set
    by :func:`program`). Registers: r2 device type, r3 requested access, r4 major, r5 minor."""
    code: list[tuple[int, int, int, int, int]] = []
    if rule.kind != "a":
        code.append((_JNE_K, 2, 0, -1, _TYPES[rule.kind]))
    if rule.allow:
        if rule.access != 7:  # every requested bit must be granted: (r3 & access) == r3
            code += [(_MOV32_X, 1, 3, 0, 0), (_AND32_K, 1, 0, 0, rule.access), (_JNE_X, 1, 3, -1, 0)]
    elif rule.access != 7:  # a deny matches a request asking for any of its accesses
        code += [(_MOV32_X, 1, 3, 0, 0), (_AND32_K, 1, 0, 0, rule.access), (_JEQ_K, 1, 0, -1, 0)]
    if rule.major >= 0:
        code.append((_JNE_K, 4, 0, -1, rule.major))
    if rule.minor >= 0:
        code.append((_JNE_K, 5, 0, -1, rule.minor))
    code += [(_MOV64_K, 0, 0, 0, 1 if rule.allow else 0), (_EXIT, 0, 0, 0, 0)]
    return code


def program(checked: list[Rule]) -> bytes:
    """The device program for ``checked``: the last matching rule decides, no match denies."""
    out = [
        _insn(_LDXW, 2, 1, 0), _insn(_AND32_K, 2, imm=0xFFFF),  # r2 = type
        _insn(_LDXW, 3, 1, 0), _insn(_RSH32_K, 3, imm=16),  # r3 = access
        _insn(_LDXW, 4, 1, 4), _insn(_LDXW, 5, 1, 8),  # r4 = major, r5 = minor
    ]
    for rule in reversed(checked):
        code = _rule_code(rule)
        for i, (op, dst, src, off, imm) in enumerate(code):
            if off == -1 and op != _MOV64_K:  # to the first instruction after this rule
                off = len(code) - i - 1
            out.append(_insn(op, dst, src, off, imm))
        if len(code) == 2:  # it matches every request: what follows is unreachable (the verifier refuses that)
            return b"".join(out)
    out += [_insn(_MOV64_K, 0, imm=0), _insn(_EXIT)]
    return b"".join(out)


def _bpf(cmd: int, attr: bytes) -> int:
    """bpf(2) with the attribute bytes ``attr``; its result (OSError on failure)."""
    import ctypes

    return _bpf_buffer(cmd, ctypes.create_string_buffer(attr, len(attr)))


def _bpf_buffer(cmd: int, buf: Any) -> int:
    """bpf(2) on a ctypes buffer (the kernel may write answers into it)."""
    import ctypes

    from .namespaces import libc

    nr = _SYS_BPF.get(os.uname().machine)
    if nr is None:
        raise OSError(38, f"bpf: unknown syscall number on {os.uname().machine}")
    rc = libc().syscall(ctypes.c_long(nr), ctypes.c_int(cmd), buf, ctypes.c_uint(len(buf)))
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return rc


def load(code: bytes) -> int:
    """BPF_PROG_LOAD of a cgroup device program; its descriptor (close it once attached)."""
    import ctypes

    insns = ctypes.create_string_buffer(code, len(code))
    license = ctypes.create_string_buffer(b"GPL")  # (the program calls no helper: any license loads)
    attr = struct.pack("<IIQQIIQII16sII", BPF_PROG_TYPE_CGROUP_DEVICE, len(code) // 8, ctypes.addressof(insns),
                       ctypes.addressof(license), 0, 0, 0, 0, 0, b"capsa_devices", 0, BPF_CGROUP_DEVICE)
    return _bpf(BPF_PROG_LOAD, attr)


def attach(directory: str, checked: list[Rule]) -> None:
    """Load the program for ``checked`` and attach it to the cgroup2 ``directory``."""
    try:
        prog = load(program(checked))
    except OSError as exc:
        raise IsolationError(f"cannot load the device access program: {exc.strerror}",
                             hint="capsa needs CAP_SYS_ADMIN (root) and a kernel with "
                                  "CONFIG_CGROUP_BPF for cgroup v2 device control") from None
    try:
        target = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _bpf(BPF_PROG_ATTACH, struct.pack("<IIIII", target, prog, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, 0))
        finally:
            os.close(target)
    except OSError as exc:
        raise IsolationError(f"cannot attach the device access program to {directory}: {exc.strerror}",
                             hint="capsa needs write access to its own cgroup2 directory") from None
    finally:
        os.close(prog)


def apply(cgroup: Any, checked: list[Rule]) -> None:
    """Enforce the rules on ``cgroup`` (a cgroups.Cgroup, created): the v1 devices controller
    where the host has one, the eBPF program on its cgroup2 directory where there is one."""
    if not checked:
        return
    where = cgroup.controller_path("devices")
    v1 = where is not None and where[1] == 1
    if v1:
        apply_v1(where[0], checked)
    v2 = cgroup.paths().get(cgroup.layout.v2_mount) if cgroup.layout.v2_mount else None
    if v2 is not None:
        try:
            attach(v2, checked)
        except IsolationError:
            if not v1:  # on a hybrid host the v1 controller enforces the rules already
                raise
