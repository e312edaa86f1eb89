"""The CNI-style conformance suite of capsa.testing.network, run for the built-in network
drivers on real namespaces (and, for bridge, a real bridge, veths and an nftables table of a
test-only name and subnet, removed afterwards)."""
from __future__ import annotations

from typing import Any

from capsa.testing.network import NetworkConformance
from nettest import bridge_name, free_subnet, leftovers


class TestNone(NetworkConformance):
    name = "none"
    holds_state = False


class TestHost(NetworkConformance):
    name = "host"
    own_namespace = False
    holds_state = False


class TestBridge(NetworkConformance):
    name = "bridge"
    options = {"bridge": bridge_name(), "subnet": free_subnet()}

    def cleanup(self, driver: Any) -> None:
        driver.gc([])
        driver.remove_network({})
        driver.remove_network({})  # idempotent
        left = leftovers(self.options["bridge"], self.options["subnet"])
        assert left == [], left
