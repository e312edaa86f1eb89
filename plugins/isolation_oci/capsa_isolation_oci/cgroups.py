"""Where the runtime makes a container's cgroup: ``linux.cgroupsPath`` under capsa's own cgroup.

crun and runc take one path for every hierarchy; an absolute one is used as is in each (a
relative one means the runtime's own cgroup to runc, but the root to crun). The driver passes
an absolute path: the deepest of the calling process's own cgroups (``/proc/self/cgroup``),
then the cgroup parent, then ``capsa-<id>``. On a host whose hierarchies place capsa at
different depths (hybrid cgroups, a memory cgroup of its own), the other hierarchies get the
same path, below their own (which is an ancestor of it); the directories the runtime makes on
the way there are recorded (``cgroup.json`` in the driver's bundle copy) and removed, when empty,
after the container's delete.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RECORD = "cgroup.json"


def hierarchies() -> dict[str, str]:
    """Each mounted cgroup hierarchy: its /proc/self/cgroup key (``cpu,cpuacct``, ``name=systemd``,
    ``""`` for cgroup2) -> its mount point (the first one)."""
    from capsa.fastpath.names import unescape_mount_path

    out: dict[str, str] = {}
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(fields) < 5 or len(rfields) < 3 or fields[3] != "/":
                continue
            if rfields[0] == "cgroup2":
                out.setdefault("", unescape_mount_path(fields[4]))
            elif rfields[0] == "cgroup":
                keys = [o for o in rfields[2].split(",") if o not in ("rw", "ro", "relatime", "nosuid", "nodev",
                        "noexec", "clone_children", "xattr", "noprefix", "cpuset_v2_mode") and "=" not in o
                        or o.startswith("name=")]
                out.setdefault(",".join(keys), unescape_mount_path(fields[4]))
    return out


def _own() -> dict[str, str]:
    out: dict[str, str] = {}
    with open("/proc/self/cgroup") as fh:
        for line in fh:
            _, key, path = line.rstrip("\n").split(":", 2)
            out[key] = path
    return out


class Placement:
    """A container's cgroup: ``path`` (cgroupsPath), the directory in each hierarchy (``dirs``)
    and the directories above it that did not exist before (``made``, deepest first)."""

    def __init__(self, path: str = "", dirs: list[str] | None = None, made: list[str] | None = None) -> None:
        self.path, self.dirs, self.made = path, list(dirs or []), list(made or [])

    def save(self, directory: str) -> None:
        from json import dumps

        with open(os.path.join(directory, RECORD), "w") as fh:
            fh.write(dumps({"path": self.path, "dirs": self.dirs, "made": self.made}))

    @classmethod
    def load(cls, directory: str) -> Placement:
        """The placement saved in ``directory``; an empty one when there is none (nothing to remove)."""
        from json import loads

        try:
            with open(os.path.join(directory, RECORD)) as fh:
                doc = loads(fh.read())
            return cls(str(doc["path"]), list(doc["dirs"]), list(doc["made"]))
        except (OSError, ValueError, KeyError, TypeError):
            return cls()

    def remove(self) -> None:
        """rmdir the container's directories (if the runtime left them) and the ones made above
        them, while empty: a directory still in use stays."""
        for path in [*self.dirs, *self.made]:
            try:
                os.rmdir(path)
            except OSError:
                pass

    def oom_killed(self) -> bool | None:
        """Whether the kernel's OOM killer killed a process of the cgroup (memory.events on v2,
        memory.oom_control on v1); None when neither can be read."""
        for d in self.dirs:
            for name in ("memory.events", "memory.oom_control"):
                try:
                    with open(os.path.join(d, name)) as fh:
                        for line in fh:
                            key, _, value = line.partition(" ")
                            if key == "oom_kill":
                                return int(value) > 0
                except (OSError, ValueError):
                    continue
        return None


def placement(name: str, parent: str = "") -> Placement:
    """Where to put cgroup ``name`` (under ``parent``, relative to our own cgroup); see the
    module docstring. Nothing is created here."""
    own = _own()
    mounts = hierarchies()
    paths = [own.get(key, "/") for key in mounts] or ["/"]
    base = max(paths, key=lambda p: len([c for c in p.split("/") if c]))
    path = "/" + "/".join(c for c in [*base.split("/"), *parent.split("/"), name] if c and c != "..")
    dirs = [mount.rstrip("/") + path for mount in mounts.values()]
    made: list[str] = []
    for target in dirs:
        above = os.path.dirname(target)
        chain = []
        while not os.path.isdir(above):
            chain.append(above)
            above = os.path.dirname(above)
        made += chain
    return Placement(path, dirs, made)
