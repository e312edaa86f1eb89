"""Linux capabilities: names, podman's add/drop resolution, and applying the sets before exec.

Names are canonical ``CAP_*`` strings. :func:`resolve` follows podman (containers/common
``MergeCapabilities``): ``ALL`` in ``add`` starts from every capability, ``ALL`` in ``drop`` keeps
only what ``add`` lists, naming a capability in both is an error, and a drop always wins over the
default set. ``privileged`` starts from every capability the kernel knows; add/drop still apply
on top (as docker >= 20.10 does for ``--privileged --cap-drop``).

:func:`apply` cannot grant what the calling process lacks: capabilities outside its bounding set
(or above the kernel's ``cap_last_cap``) are left out, as they would be for podman in a
restricted parent.
"""
from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable
from functools import lru_cache

from capsa.errors import IsolationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_NAMES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE",
)
CAPS: dict[str, int] = {f"CAP_{name}": number for number, name in enumerate(_NAMES)}
DEFAULT_CAPS: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
)
ALL = "ALL"

PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def normalize(name: str) -> str:
    """``net_admin``, ``NET_ADMIN`` or ``CAP_NET_ADMIN`` -> ``CAP_NET_ADMIN``; ``all`` -> ``ALL``."""
    upper = name.strip().upper()
    if upper == ALL:
        return ALL
    canonical = upper if upper.startswith("CAP_") else f"CAP_{upper}"
    if canonical not in CAPS:
        raise IsolationError(f"unknown capability {name!r}",
                             "use a name from capabilities(7) such as NET_ADMIN or CAP_NET_ADMIN, or ALL")
    return canonical


@lru_cache(maxsize=1)
def last_cap() -> int:
    """The highest capability number the running kernel knows (cached: call it before pivot_root)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return max(CAPS.values())


def known_caps() -> list[str]:
    """Every capability name the running kernel knows, in number order."""
    top = last_cap()
    return [name for name, number in CAPS.items() if number <= top]


def _sorted(names: Iterable[str]) -> list[str]:
    return sorted(set(names), key=CAPS.__getitem__)


def resolve(add: Iterable[str] = (), drop: Iterable[str] = (), privileged: bool = False) -> list[str]:
    """The container's capability list (podman semantics, see the module docstring), in number order."""
    adds = [normalize(n) for n in add]
    drops = [normalize(n) for n in drop]
    base = known_caps() if privileged else list(DEFAULT_CAPS)
    if ALL in drops:
        if ALL in adds:
            raise IsolationError("cannot both add and drop ALL capabilities", "give ALL to --cap-add or --cap-drop, not both")
        return _sorted(adds)
    if ALL in adds:
        base, adds = known_caps(), []
    both = sorted(set(adds) & set(drops))
    if both:
        raise IsolationError(f"capability {both[0]} cannot be both added and dropped",
                             "remove it from --cap-add or from --cap-drop")
    return _sorted([c for c in base if c not in drops] + adds)


def mask(names: Iterable[str]) -> int:
    """The bit mask of capability names (any spelling normalize() accepts; not ALL)."""
    out = 0
    for name in names:
        canonical = normalize(name)
        if canonical == ALL:
            raise IsolationError("ALL has no single capability bit", "resolve() ALL into names first")
        out |= 1 << CAPS[canonical]
    return out


def names(bits: int) -> list[str]:
    """The capability names set in ``bits``."""
    return [name for name, number in CAPS.items() if bits >> number & 1]


def current(pid: int | str = "self") -> dict[str, int]:
    """CapInh/CapPrm/CapEff/CapBnd/CapAmb of a process, from /proc/PID/status, as ints."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
                out[key] = int(value.strip(), 16)
    return out


@lru_cache(maxsize=1)
def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


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
