"""Linux capability names and podman's add/drop resolution (containers/common rules).

Names are canonical ``CAP_*`` strings; :func:`normalize` accepts any case, with or without the
``CAP_`` prefix, and ``ALL``. :func:`resolve` follows containers/common ``MergeCapabilities``:
``ALL`` in ``add`` starts from every capability, ``ALL`` in ``drop`` keeps only what ``add``
lists, naming a capability in both is an error, and a drop always wins over the default set.
``privileged`` starts from every capability the kernel knows; add/drop still apply on top (as
docker >= 20.10 does for ``--privileged --cap-drop``).
"""
from __future__ import annotations

from collections.abc import Iterable

from capsa.errors import IsolationError

_NAMES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE",
)
CAPS: dict[str, int] = {f"CAP_{name}": number for number, name in enumerate(_NAMES)}
# podman 4.3's default_capabilities (containers.conf)
DEFAULT_CAPS: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
)
ALL = "ALL"
_LAST_CAP: list[int] = []


def canonical(name: str) -> str:
    """``net_admin`` / ``NET_ADMIN`` / ``cap_net_admin`` -> ``CAP_NET_ADMIN``, unchecked (``all`` -> ``CAP_ALL``)."""
    upper = name.strip().upper()
    return upper if upper.startswith("CAP_") else "CAP_" + upper


def normalize(name: str) -> str:
    """``net_admin``, ``NET_ADMIN`` or ``CAP_NET_ADMIN`` -> ``CAP_NET_ADMIN``; ``all`` -> ``ALL``.
    An unknown name raises IsolationError."""
    if name.strip().upper() == ALL:
        return ALL
    out = canonical(name)
    if out not in CAPS:
        raise IsolationError(f"unknown capability {name!r}",
                             "use a name from capabilities(7) such as NET_ADMIN or CAP_NET_ADMIN, or ALL")
    return out


def last_cap() -> int:
    """The highest capability number the running kernel knows (cached: call it before pivot_root)."""
    if not _LAST_CAP:
        try:
            with open("/proc/sys/kernel/cap_last_cap") as fh:
                _LAST_CAP.append(int(fh.read()))
        except (OSError, ValueError):
            _LAST_CAP.append(max(CAPS.values()))
    return _LAST_CAP[0]


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
            raise IsolationError("cannot both add and drop ALL capabilities",
                                 "give ALL to --cap-add or --cap-drop, not both")
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
        canon = normalize(name)
        if canon == ALL:
            raise IsolationError("ALL has no single capability bit", "resolve() ALL into names first")
        out |= 1 << CAPS[canon]
    return out


def names(bits: int) -> list[str]:
    """The capability names set in ``bits``."""
    return [name for name, number in CAPS.items() if bits >> number & 1]


def process_caps(add: Iterable[str], drop: Iterable[str], privileged: bool, uid: int) -> dict[str, list[str]]:
    """OCI ``process.capabilities``: bounding = the resolved set; effective/permitted too for uid
    0. A non-root user gets in effective, permitted, inheritable and ambient only the
    capabilities explicitly added (podman's rule), so ``-u 1000 --cap-add NET_ADMIN`` works
    without file capabilities."""
    add = list(add)
    resolved = sorted(resolve(add, drop, privileged))  # podman lists them by name
    out: dict[str, list[str]] = {"bounding": resolved}
    if uid == 0:
        out["effective"] = list(resolved)
        out["permitted"] = list(resolved)
        return out
    added = {normalize(c) for c in add}
    chosen = resolved if ALL in added else [c for c in resolved if c in added]
    if chosen:
        for key in ("effective", "permitted", "inheritable", "ambient"):
            out[key] = list(chosen)
    return out
