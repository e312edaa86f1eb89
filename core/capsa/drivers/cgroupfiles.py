"""Reading and freezing a container's cgroup from its directories, for isolation drivers.

A container's cgroup is one directory per mounted hierarchy (``/sys/fs/cgroup/memory/...``,
``/sys/fs/cgroup/unified/...``, or the one cgroup2 directory on a unified host). Which of them
holds a controller depends on the host (hybrid hosts bind most controllers to v1 and leave
cgroup2 without any), so every function here takes all the directories and looks for the
controller's own files: a v1 hierarchy's first (a controller bound to v1 is authoritative
there), then cgroup2's. Nothing here creates or removes a cgroup.
"""
from __future__ import annotations

import os
import time

from capsa.drivers.isolation import ResourceUsage
from capsa.errors import IsolationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

UNLIMITED = 1 << 62  # v1 reports "no limit" as PAGE_COUNTER_MAX pages (~2**63): anything this big


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return None


def _v1_first(dirs: Iterable[str]) -> list[str]:
    """The directories that exist, v1 hierarchies before cgroup2 (which has cgroup.controllers)."""
    found = [d for d in dirs if os.path.isdir(d)]
    return sorted(found, key=lambda d: os.path.exists(os.path.join(d, "cgroup.controllers")))


def _first(dirs: list[str], *names: str) -> tuple[str, str] | None:
    """(file name, text) of the first of ``names`` found in any of ``dirs`` (names in order:
    a v1 ``cpu`` hierarchy has a ``cpu.stat`` of its own, without ``usage_usec``)."""
    for name in names:
        for d in dirs:
            text = _read(os.path.join(d, name))
            if text is not None and (name != "cpu.stat" or "usage_usec" in text):
                return name, text
    return None


def _keyed(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def members(dirs: Iterable[str]) -> list[int]:
    """The processes in these cgroup directories and every cgroup below them, sorted."""
    found: set[int] = set()
    for d in dirs:
        for dirpath, _, _ in os.walk(d):
            text = _read(os.path.join(dirpath, "cgroup.procs"))
            found.update(int(x) for x in (text or "").split() if x.isdigit())
    return sorted(found)


def freezer(dirs: Iterable[str]) -> tuple[str, int]:
    """(directory, version) of the container's freezer: the v1 freezer hierarchy's directory,
    else cgroup2's ``cgroup.freeze``. IsolationError when there is neither."""
    ordered = _v1_first(dirs)
    for d in ordered:
        if os.path.exists(os.path.join(d, "freezer.state")):
            return d, 1
    for d in ordered:
        if os.path.exists(os.path.join(d, "cgroup.freeze")):
            return d, 2
    raise IsolationError("cannot freeze the container: its cgroup has no freezer (v1 freezer.state or v2 "
                         "cgroup.freeze)", hint="mount the v1 freezer hierarchy, or use cgroup v2 on Linux >= 5.2")


def is_frozen(dirs: Iterable[str]) -> bool:
    """Whether the container's freezer holds it frozen (or freezing)."""
    try:
        d, version = freezer(dirs)
    except IsolationError:
        return False
    if version == 1:
        return (_read(os.path.join(d, "freezer.state")) or "THAWED").strip() != "THAWED"
    return _keyed(_read(os.path.join(d, "cgroup.events")) or "").get("frozen", 0) == 1


def set_frozen(dirs: Iterable[str], frozen: bool, timeout: float = 5.0) -> None:
    """Freeze or thaw, and return once the kernel reports it done. A freeze that does not
    complete in ``timeout`` (a task stuck in the D state) is undone and raises IsolationError."""
    d, version = freezer(dirs)
    want = "FROZEN" if frozen else "THAWED"
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            if version == 1:
                with open(os.path.join(d, "freezer.state"), "w") as fh:  # rewritten each round, as runc does
                    fh.write(want)
                done = (_read(os.path.join(d, "freezer.state")) or "").strip() == want
            else:
                with open(os.path.join(d, "cgroup.freeze"), "w") as fh:
                    fh.write("1" if frozen else "0")
                done = _keyed(_read(os.path.join(d, "cgroup.events")) or "").get("frozen", 0) == int(frozen)
        except OSError as exc:
            raise IsolationError(f"cannot {'freeze' if frozen else 'thaw'} cgroup {d}: {exc.strerror}") from None
        if done:
            return
        if time.monotonic() > deadline:
            if frozen:
                set_frozen([d], False, timeout)
            raise IsolationError(f"cgroup {d} did not {'freeze' if frozen else 'thaw'} within {timeout:g} s",
                                 hint="a process may be stuck in uninterruptible sleep (D state); retry")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _number(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


def usage(dirs: Iterable[str]) -> ResourceUsage:
    """The counters of the container's cgroup (see :class:`ResourceUsage`)."""
    ordered = _v1_first(dirs)
    out = ResourceUsage()
    found = _first(ordered, "cpuacct.usage", "cpu.stat")
    if found and found[0] == "cpuacct.usage":
        out.cpu_ns = _number(found[1])
        sys_ns = _first(ordered, "cpuacct.usage_sys")
        if sys_ns:
            out.cpu_system_ns = _number(sys_ns[1])
        else:
            stat = _keyed((_first(ordered, "cpuacct.stat") or ("", ""))[1])
            if "system" in stat:
                out.cpu_system_ns = stat["system"] * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    elif found:
        stat = _keyed(found[1])
        out.cpu_ns = stat["usage_usec"] * 1000 if "usage_usec" in stat else None
        out.cpu_system_ns = stat["system_usec"] * 1000 if "system_usec" in stat else None
    found = _first(ordered, "memory.usage_in_bytes", "memory.current")
    if found:
        out.memory_usage = _number(found[1])
        limit = _first(ordered, "memory.limit_in_bytes" if found[0] == "memory.usage_in_bytes" else "memory.max")
        value = _number(limit[1]) if limit else None
        out.memory_limit = value if value is not None and value < UNLIMITED else None
    found = _first(ordered, "pids.current")
    if found:
        out.pids = _number(found[1])
    found = _first(ordered, "blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_service_bytes", "io.stat")
    if found:
        out.block_read, out.block_write = _block_io(*found)
    return out


def _block_io(name: str, text: str) -> tuple[int, int]:
    """(read, written) bytes summed over the devices: v1 ``8:0 Read N`` lines, v2 ``8:0
    rbytes=N wbytes=N ...`` lines."""
    read = written = 0
    for line in text.splitlines():
        parts = line.split()
        if name == "io.stat":
            fields = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
            read += int(fields.get("rbytes", "0") or 0)
            written += int(fields.get("wbytes", "0") or 0)
        elif len(parts) == 3 and parts[2].isdigit():
            if parts[1].lower() == "read":
                read += int(parts[2])
            elif parts[1].lower() == "write":
                written += int(parts[2])
    return read, written
