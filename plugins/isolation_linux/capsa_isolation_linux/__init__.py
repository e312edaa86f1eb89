"""The ``linux`` isolation driver: namespaces, cgroups (v1 and v2), capabilities and seccomp."""
from __future__ import annotations

from typing import Any

from capsa.drivers.base import Option, refuse_unimplemented
from capsa.drivers.isolation import IsolationDriver
from capsa.errors import DriverNotSupported
from capsa.hostinfo import cgroup_layout, missing_namespaces


@refuse_unimplemented("running containers lands with the isolation driver (issue 4)")
class LinuxDriver(IsolationDriver):
    OPTIONS = {
        "cgroup_parent": Option(str, "", "cgroup (relative to capsa's own) under which containers' cgroups are made"),
    }

    def check_host(self) -> None:
        missing = missing_namespaces()
        if missing:
            raise DriverNotSupported(
                f"the kernel lacks namespaces: {', '.join(missing)}",
                hint="run capsa on a kernel built with CONFIG_NAMESPACES and those namespace kinds",
            )

    def status(self) -> dict[str, Any]:
        out = super().status()
        layout = cgroup_layout()
        out["detail"] = f"namespaces available; cgroups {layout.version} ({layout.mode})"
        return out
