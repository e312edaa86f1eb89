"""The ``bridge`` network driver: a veth pair per container on a Linux bridge, with NAT."""
from __future__ import annotations

import importlib.util
import ipaddress
import os
from typing import Any

from capsa.drivers.base import Option, refuse_unimplemented
from capsa.drivers.network import NetworkDriver
from capsa.errors import ConfigError, DriverNotSupported


@refuse_unimplemented("bridge networking lands with the networking issue; use --network none or host")
class BridgeDriver(NetworkDriver):
    OPTIONS = {
        "bridge": Option(str, "capsa0", "name of the Linux bridge containers attach to"),
        "subnet": Option(str, "10.90.0.0/16", "IPv4 subnet containers get addresses from"),
        "mtu": Option(int, 1500, "MTU of the bridge and the veth pairs"),
    }

    def parse_options(self, given: Any) -> dict[str, Any]:
        opts = super().parse_options(given)
        try:
            ipaddress.ip_network(opts["subnet"])
        except ValueError as exc:
            raise ConfigError(f"bridge driver: invalid subnet {opts['subnet']!r}: {exc}", hint="write it as 10.90.0.0/16") from None
        if not 1 <= len(opts["bridge"]) <= 15:
            raise ConfigError(f"bridge driver: bridge name {opts['bridge']!r} must be 1-15 characters", hint="Linux limits interface names to 15 characters")
        return opts

    def check_host(self) -> None:
        if importlib.util.find_spec("pyroute2") is None:
            raise DriverNotSupported("pyroute2 is not installed", hint="pip install pyroute2")

    def status(self) -> dict[str, Any]:
        out = super().status()
        present = os.path.exists(f"/sys/class/net/{self.options['bridge']}")
        out["detail"] = f"bridge {self.options['bridge']} ({'present' if present else 'not created yet'}), subnet {self.options['subnet']}"
        return out
