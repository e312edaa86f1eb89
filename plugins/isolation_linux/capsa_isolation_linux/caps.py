"""Applying capability sets to the calling process before exec (capget/capset/prctl, ctypes).

Names, podman's add/drop resolution and masks live in the core (:mod:`capsa.security.caps`,
re-exported here). :func:`apply` cannot grant what the calling process lacks: capabilities
outside its bounding set (or above the kernel's ``cap_last_cap``) are left out, as they would be
for podman in a restricted parent.
"""
from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable

from capsa.errors import IsolationError
from capsa.linux import PR_SET_KEEPCAPS, libc as _libc
from capsa.security.caps import (ALL, CAPS, DEFAULT_CAPS, known_caps, last_cap, mask, names,  # noqa: F401
                                 normalize, resolve)

PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def current(pid: int | str = "self") -> dict[str, int]:
    """CapInh/CapPrm/CapEff/CapBnd/CapAmb of a process, from /proc/PID/status, as ints."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
                out[key] = int(value.strip(), 16)
    return out


def _prctl(option: int, arg2: int = 0, arg3: int = 0, what: str = "") -> None:
    rc = _libc().prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(0),
                       ctypes.c_ulong(0))
    if rc != 0:
        err = ctypes.get_errno()
        raise IsolationError(f"cannot {what}: {os.strerror(err)}",
                             "capabilities are applied by root (with CAP_SETPCAP) before exec")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _capget() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of this thread, by capget(2): no /proc needed."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if _libc().capget(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise IsolationError(f"cannot read capabilities (capget): {os.strerror(err)}", "this needs Linux >= 2.6.26")
    return tuple(getattr(data[0], f) | getattr(data[1], f) << 32  # type: ignore[return-value]
                 for f in ("effective", "permitted", "inheritable"))


def _bounding() -> int:
    return sum(1 << n for n in range(last_cap() + 1) if _libc().prctl(PR_CAPBSET_READ, n, 0, 0, 0) == 1)


def _capset(effective: int, permitted: int, inheritable: int) -> None:
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    if _libc().capset(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise IsolationError(f"cannot set capabilities (capset): {os.strerror(err)}",
                             "the process can only keep capabilities it holds in its permitted set")


def apply(bounding: Iterable[str], effective: Iterable[str], permitted: Iterable[str],
          inheritable: Iterable[str], ambient: Iterable[str]) -> None:
    """Set this process's capability sets; call right before exec (after setuid with keepcaps).

    Drops every capability not in ``bounding`` from the bounding set, capset()s the effective,
    permitted and inheritable sets, raises the ``ambient`` ones and clears PR_SET_KEEPCAPS.
    Capabilities this process cannot hold (not in its bounding set) are left out."""
    have_eff, have_prm, have_inh = _capget()  # not /proc: after pivot_root it may not be mounted
    limit = _bounding()
    bnd, eff, prm, inh, amb = (mask(s) & limit for s in (bounding, effective, permitted, inheritable, ambient))
    if have_eff != have_prm:
        # setuid() with keepcaps emptied the effective set; CAP_SETPCAP must be effective to drop.
        _capset(have_prm, have_prm, have_inh)
    for number in range(last_cap() + 1):
        if not bnd >> number & 1 and limit >> number & 1:
            _prctl(PR_CAPBSET_DROP, number, what=f"drop capability {number} from the bounding set")
    # One capset: the kernel checks pP' <= pP, pI' <= pI | pP (CAP_SETPCAP held) and pE' <= pP'
    # against the sets from before the call, so narrowing and setting happen together.
    _capset(eff, prm, inh)
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, what="clear the ambient capabilities")
    for name in names(amb):
        _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAPS[name], what=f"raise ambient {name}")
    _prctl(PR_SET_KEEPCAPS, 0, what="clear PR_SET_KEEPCAPS")


def has_effective(number: int) -> bool:
    """Whether the calling process has capability ``number`` in its effective set."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> number & 1)
    return False
