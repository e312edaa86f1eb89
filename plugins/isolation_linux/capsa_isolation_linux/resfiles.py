"""OCI ``linux.resources`` beyond memory/cpu/pids limits, as cgroup file writes.

:func:`writes` turns the spec's ``cpu.realtimePeriod``/``realtimeRuntime``/``cpus``/``mems``,
``memory.reservation``/``swappiness``/``disableOOMKiller``, ``blockIO`` and ``unified`` into
``(controller, v1 file, v2 file, v1 value, what, v2 value)``: the file (and value) for the
hierarchy authoritative for the controller (None: that version has no such file; asking for it
is an error, as with runc and crun). :meth:`capsa_isolation_linux.cgroups.Cgroup.create` writes them after the limits.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

Write = tuple  # (controller, v1 file | None, v2 file | None, v1 value, what, v2 value)


def writes(res: dict[str, Any]) -> tuple[Write, ...]:
    """The cgroup writes for ``res`` (the spec's ``linux.resources``), in order."""
    out: list[Write] = []
    cpu, mem, blkio = res.get("cpu") or {}, res.get("memory") or {}, res.get("blockIO") or {}
    if cpu.get("realtimePeriod") is not None:
        out.append(("cpu", "cpu.rt_period_us", None, str(cpu["realtimePeriod"]), "cpu real-time period"))
    if cpu.get("realtimeRuntime") is not None:
        out.append(("cpu", "cpu.rt_runtime_us", None, str(cpu["realtimeRuntime"]), "cpu real-time runtime"))
    for key in ("cpus", "mems"):
        if cpu.get(key):
            out.append(("cpuset", f"cpuset.{key}", f"cpuset.{key}", str(cpu[key]), f"cpuset {key}"))
    if mem.get("reservation") is not None:
        out.append(("memory", "memory.soft_limit_in_bytes", "memory.low", str(mem["reservation"]),
                    "memory reservation"))
    if mem.get("swappiness") is not None:
        out.append(("memory", "memory.swappiness", None, str(mem["swappiness"]), "memory swappiness"))
    if mem.get("disableOOMKiller"):
        out.append(("memory", "memory.oom_control", None, "1", "oom killer"))
    if blkio.get("weight") is not None:
        out.append(("blkio", "blkio.weight", "io.weight", str(blkio["weight"]), "blkio weight"))
    for dev in blkio.get("weightDevice") or []:
        out.append(("blkio", "blkio.weight_device", "io.weight", f"{dev['major']}:{dev['minor']} {dev['weight']}",
                    "blkio device weight"))
    for key, v1, v2 in (("throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps"),
                        ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps"),
                        ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops"),
                        ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops")):
        for dev in blkio.get(key) or []:
            out.append(("blkio", v1, "io.max", f"{dev['major']}:{dev['minor']} {dev['rate']}", f"blkio {v2} limit"))
    for fname, value in (res.get("unified") or {}).items():
        if "/" in fname or fname.startswith("."):
            from capsa.errors import IsolationError

            raise IsolationError(f"invalid cgroup file {fname!r} in linux.resources.unified")
        out.append(("unified", None, fname, str(value), f"cgroup file {fname}"))
    return tuple(_v2_io(out))


def _v2_io(out: list[Write]) -> list[Write]:
    """Add the v2 value: io.max takes ``MAJ:MIN rbps=N``, io.weight ``default N``."""
    fixed = []
    for controller, v1, v2, value, what in out:
        if v2 == "io.max":
            dev, _, rate = value.partition(" ")
            key = what.split()[1]
            fixed.append((controller, v1, v2, value, what, f"{dev} {key}={rate}"))
        elif v2 == "io.weight" and v1 == "blkio.weight_device":
            fixed.append((controller, v1, v2, value, what, value))
        elif v2 == "io.weight":
            fixed.append((controller, v1, v2, value, what, f"default {value}"))
        else:
            fixed.append((controller, v1, v2, value, what, value))
    return fixed
