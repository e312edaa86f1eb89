"""Facts about the host that ``capsa info`` and the drivers share: kernel, cgroups, namespaces."""
from __future__ import annotations

import os

from capsa.fastpath.names import unescape_mount_path
from capsa.fastpath.record import field, record

NAMESPACES = ("pid", "mnt", "uts", "ipc", "net", "cgroup")
GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x"}


def go_arch() -> str:
    """The machine's architecture in OCI (Go) spelling: amd64, arm64, ..."""
    machine = os.uname().machine
    return GOARCH.get(machine, machine)


def _mounts() -> list[tuple[str, str, str]]:
    """(mount point, fs type, super options) of every mount, from /proc/self/mountinfo."""
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(fields) >= 5 and len(rfields) >= 3:
                out.append((unescape_mount_path(fields[4]), rfields[0], rfields[2]))
    return out


@record(frozen=True)
class CgroupLayout:
    """How cgroups are mounted: ``mode`` is unified (v2 only), hybrid (v1 + v2) or legacy (v1)."""

    version: str
    mode: str
    v1_controllers: dict[str, str] = field(default_factory=dict)  # controller -> mount point
    v2_mount: str | None = None
    v2_controllers: tuple[str, ...] = ()


def cgroup_layout() -> CgroupLayout:
    """Read the cgroup mounts of this host (v1 hierarchies by controller, the cgroup2 mount)."""
    v1: dict[str, str] = {}
    v2_mount: str | None = None
    for point, fstype, opts in _mounts():
        if fstype == "cgroup2" and v2_mount is None:
            v2_mount = point
        elif fstype == "cgroup":
            for opt in opts.split(","):
                if "=" not in opt and opt not in ("rw", "ro", "relatime", "nosuid", "nodev", "noexec",
                                                  "clone_children", "xattr", "noprefix", "cpuset_v2_mode"):
                    v1[opt] = point
    controllers: tuple[str, ...] = ()
    if v2_mount:
        try:
            with open(os.path.join(v2_mount, "cgroup.controllers")) as fh:
                controllers = tuple(fh.read().split())
        except OSError:
            controllers = ()
    if v2_mount and not v1:
        return CgroupLayout("v2", "unified", {}, v2_mount, controllers)
    if v1 and v2_mount:
        return CgroupLayout("v1", "hybrid", v1, v2_mount, controllers)
    return CgroupLayout("v1", "legacy", v1, None, ())


def own_cgroups(pid: int | str = "self") -> dict[str, str]:
    """The process's cgroup path in each hierarchy: controller (or ``""`` for v2) -> path."""
    out: dict[str, str] = {}
    with open(f"/proc/{pid}/cgroup") as fh:
        for line in fh:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                out[controller] = path
    return out


def missing_namespaces() -> list[str]:
    """Namespace kinds this kernel does not offer (empty on a normal Linux host)."""
    return [ns for ns in NAMESPACES if not os.path.exists(f"/proc/self/ns/{ns}")]


def filesystem_supported(name: str) -> bool:
    """Whether the kernel lists filesystem ``name`` in /proc/filesystems."""
    try:
        with open("/proc/filesystems") as fh:
            return any(line.split()[-1] == name for line in fh if line.strip())
    except OSError:
        return False
