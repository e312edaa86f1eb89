"""The ``host`` and ``none`` network drivers: no network of the container's own to build."""
from __future__ import annotations

from typing import Any

from capsa.drivers.base import refuse_unimplemented
from capsa.drivers.network import NetworkDriver


@refuse_unimplemented("host networking lands with the networking issue")
class HostDriver(NetworkDriver):
    """Containers share the host's network namespace."""

    def status(self) -> dict[str, Any]:
        out = super().status()
        out["detail"] = "containers share the host's network namespace"
        return out


@refuse_unimplemented("the none network driver lands with the container runtime (issue 4)")
class NoneDriver(NetworkDriver):
    """Containers get a network namespace of their own with only loopback."""

    def status(self) -> dict[str, Any]:
        out = super().status()
        out["detail"] = "a private network namespace with loopback only"
        return out
