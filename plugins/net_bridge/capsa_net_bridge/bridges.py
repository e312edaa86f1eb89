"""The bridges of the bridge driver: made with a network's first container, gone with its last.

A marker ``<state dir>/firewall-<bridge>`` (JSON: ``subnet``, ``network``, ``internal``,
``gateway``, ``prefixlen``, ``created``, ``address``), written atomically before the bridge is
made, says that the bridge's firewall table (:mod:`.firewall`) is in place, and whether capsa
made the bridge and gave it its gateway address; a bridge capsa makes also carries the alias
``made by capsa``, so a lost marker never turns it into a host bridge. A bridge capsa did not make (an existing host bridge named by ``network create
--interface-name`` or ``[network.options.bridge] bridge``) is never deleted: only what capsa
added to it goes (its table, the gateway address). Everything here runs under the IPAM lock
(:meth:`.ipam.Ipam.locked`), which also orders it against ``add`` and ``delete``.
"""
from __future__ import annotations

import os

from capsa.errors import NetworkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


ALIAS = "made by capsa"  # the alias (IFLA_IFALIAS) of every bridge capsa makes


def made_by_capsa(bridge: str) -> bool:
    """Whether ``bridge`` exists and carries capsa's alias (the kernel's own record of it)."""
    try:
        with open(f"/sys/class/net/{bridge}/ifalias", encoding="utf-8") as f:
            return f.read().strip() == ALIAS
    except OSError:
        return False


class Bridges:
    """The markers under ``state_dir`` and what they describe."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir

    def marker_path(self, bridge: str) -> str:
        return os.path.join(self.state_dir, f"firewall-{bridge}")

    def marker(self, bridge: str) -> dict[str, Any] | None:
        """The bridge's marker (None: none, or unreadable)."""
        from capsa_net_bridge import markers

        data = markers.read(self.marker_path(bridge))
        return data if data is not None and data.get("network") else None

    def prepare(self, ipr: Any, net: dict[str, Any], prefixlen: int, mtu: int) -> int:
        """The bridge of network ``net`` (completed: name, bridge, subnet, gateway, internal),
        with its address, up, forwarding on and its firewall table; returns its index. A
        subnet the host routes through another interface is refused (NetworkError) before a
        bridge is made for it. The marker is written (atomically) before anything is made, and
        a bridge capsa makes carries the alias :data:`ALIAS` too: what capsa made is known even
        when a marker is lost."""
        from capsa_net_bridge import firewall, links

        found = links.lookup(ipr, net["bridge"])
        exists = bool(found[0])
        if not exists:
            via = links.routed_elsewhere(ipr, net["subnet"], 0)
            if via:
                raise NetworkError(f"subnet {net['subnet']} of network {net['name']} is already routed on this host (by {via})",
                                   hint="choose another subnet ([network.options.bridge] subnet, or network create --subnet)")
        old = self.marker(net["bridge"])
        if not exists:  # intent first: a crash after it leaves a marker saying what may exist
            self._write_marker(net, prefixlen, created=True, address=True)
        created, added, index = links.ensure_bridge(ipr, net["bridge"], net["gateway"], prefixlen, mtu, alias=ALIAS,
                                                    found=found)
        if not exists and not created:  # (someone else made it in between: ours only if it says so)
            made = made_by_capsa(net["bridge"])
            self._write_marker(net, prefixlen, created=made, address=made or added)
        elif exists and old is None:  # a host bridge (or ours, with its marker lost: its alias tells)
            made = made_by_capsa(net["bridge"])
            self._write_marker(net, prefixlen, created=made, address=made or added)
        elif old is not None and added and not old.get("created") and not old.get("address"):
            self._write_marker(net, prefixlen, created=False, address=True)
        if not exists or old is None:
            firewall.enable_forwarding()
            firewall.ensure(net["bridge"], net["subnet"], bool(net["internal"]))
        return index

    def _write_marker(self, net: dict[str, Any], prefixlen: int, created: bool, address: bool) -> None:
        from capsa_net_bridge import markers

        markers.write(self.marker_path(net["bridge"]), {
            "subnet": net["subnet"], "network": net["name"], "internal": bool(net["internal"]), "gateway": net["gateway"],
            "prefixlen": prefixlen, "created": created, "address": address})

    def retire_if_unused(self, ipr: Any, book: Any, network: str, bridge: str) -> bool:
        """Dismantle ``bridge`` when no address of ``network`` is held (an ``add`` holds one from
        before it makes its veth until its ``delete``, so a start in progress keeps the bridge)
        and no interface at all is on it (another capsa, with a runroot of its own, may share
        it). True when it was."""
        if book.book.get(network):
            return False
        try:
            if os.listdir(f"/sys/class/net/{bridge}/brif"):
                return False
        except FileNotFoundError:
            pass
        self.dismantle(ipr, bridge)
        if network in book.book:
            del book.book[network]
            book.dirty = True
        return True

    def dismantle(self, ipr: Any, bridge: str) -> None:
        """Remove what capsa made for ``bridge``: its table and marker, and the bridge itself if
        capsa made it (else the gateway address capsa gave it). Idempotent."""
        from capsa_net_bridge import firewall, links

        marker = self.marker(bridge)
        if (marker or {}).get("created") or made_by_capsa(bridge):
            links.delete_link(ipr, bridge)
        elif marker is None:  # (nothing of ours on it: a host bridge a network names, never used)
            pass
        elif marker.get("address"):
            links.remove_address(ipr, bridge, str(marker["gateway"]), int(marker["prefixlen"]))
        firewall.remove(bridge)
        try:
            os.unlink(self.marker_path(bridge))
        except FileNotFoundError:
            pass

    def ours(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(network, bridge, marker) of every bridge with a marker."""
        from capsa_net_bridge import markers

        return [(str(m["network"]), bridge, m) for bridge, m in markers.each(self.state_dir, "firewall-") if m.get("network")]

    @staticmethod
    def restore_tables(in_use: list[tuple[str, dict[str, Any]]]) -> None:
        """Write again the table of each (bridge, marker) in use whose table is gone (a flushed
        ruleset, a firewall reload)."""
        from capsa_net_bridge import firewall

        for bridge, marker in in_use:
            if os.path.exists(f"/sys/class/net/{bridge}") and not firewall.present(bridge):
                firewall.ensure(bridge, str(marker["subnet"]), bool(marker.get("internal")))
