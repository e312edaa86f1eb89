"""Whether this host can run containers with a given OCI runtime."""
from __future__ import annotations

import os

from capsa.errors import DriverNotSupported


def find_runtime(runtime: str) -> str:
    """The runtime's executable: ``runtime`` itself when it holds a slash, else looked up on PATH
    (and in /usr/sbin and /sbin, where Debian puts runc). Raises DriverNotSupported."""
    candidates = [runtime] if "/" in runtime else [
        os.path.join(d, runtime) for d in [*os.environ.get("PATH", "").split(os.pathsep), "/usr/sbin", "/sbin"] if d]
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return os.path.abspath(path)
    raise DriverNotSupported(f"OCI runtime {runtime!r} not found" + ("" if "/" in runtime else " on PATH"),
                             hint="install crun or runc (apt-get install crun runc, or scripts/setup.sh), or set "
                                  "[isolation.options.oci] runtime (or --runtime) to its path")


def unsupported_reason(name: str) -> tuple[str, str] | None:
    """(reason, hint) when ``name`` (crun, runc) cannot run containers here, else None.

    crun refuses a hybrid cgroup host whose cgroup2 hierarchy still holds controllers (as
    hugetlb does on a fresh host where systemd mounted only the others as v1 hierarchies);
    scripts/setup.sh mounts each of them as a v1 hierarchy of its own, as podman-setup does."""
    if not name.startswith("crun"):
        return None
    from capsa.hostinfo import cgroup_layout

    layout = cgroup_layout()
    if layout.mode == "hybrid" and layout.v2_controllers:
        return (f"crun cannot run containers on this hybrid cgroup host: cgroup2 at {layout.v2_mount} holds "
                f"controllers ({', '.join(layout.v2_controllers)})",
                "mount them as cgroup v1 hierarchies (scripts/setup.sh does), or use runc (--runtime runc)")
    return None
