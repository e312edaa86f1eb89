"""The ``bridge`` network driver: a veth pair per container on a Linux bridge, with NAT.

``add``: the network's bridge (created once, idempotently, with the gateway's address, up; a
subnet the host already routes through another interface is refused), IPv4 forwarding on, the
network's nftables table (:mod:`.firewall`), an address from the IPAM book (:mod:`.ipam`,
file-locked), and a veth pair: the host end ``cv<hash>`` (derived from the network's name and
the container's id, so ``delete`` finds it without the namespace) on the bridge, the container
end made directly in the container's namespace as ``eth0``, up with its address, ``lo`` up, the
default route via the gateway. ``delete`` removes the host end (its peer goes with it) and frees
the address; ``tidy`` removes the network's bridge and table once its last container is gone
(netavark does the same); ``gc`` does both for every container not live; ``remove_network`` removes a
network's bridge and table. Published ports (``Attachment.ports``) get an nft table of the
container's own (:mod:`.ports`), which ``delete`` and ``gc`` remove. State lives under ``<runroot>/network/bridge`` (gone with a reboot,
as the bridge and every container are).
"""
from __future__ import annotations

import ipaddress
import os
from typing import Any

from capsa.drivers.base import Option
from capsa.drivers.network import AttachResult, NetworkDriver
from capsa.errors import ConfigError, DriverNotSupported, NetworkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from capsa.drivers.network import Attachment

DEFAULT_NETWORK = "capsa"


def _gone(veth: str, deadline: float = 0.0) -> bool:
    """Whether host interface ``veth`` no longer exists ("" : unknown, so gone), waiting until
    ``deadline`` (time.monotonic) for the kernel to finish tearing down a namespace that just
    emptied (it does so asynchronously)."""
    import time

    if not veth:
        return True
    while os.path.exists(f"/sys/class/net/{veth}"):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def veth_name(network: str, container_id: str) -> str:
    """The host end of ``container_id``'s veth on ``network`` (15 characters at most)."""
    import hashlib

    return "cv" + hashlib.sha256(f"{network}/{container_id}".encode()).hexdigest()[:13]


class BridgeDriver(NetworkDriver):
    OPTIONS = {
        "bridge": Option(str, "capsa0", "name of the Linux bridge containers attach to"),
        "subnet": Option(str, "10.90.0.0/16", "IPv4 subnet containers get addresses from"),
        "mtu": Option(int, 1500, "MTU of the bridge and the veth pairs"),
    }

    def parse_options(self, given: Any) -> dict[str, Any]:
        opts = super().parse_options(given)
        try:
            ipaddress.IPv4Network(opts["subnet"])
        except ValueError as exc:
            raise ConfigError(f"bridge driver: invalid subnet {opts['subnet']!r}: {exc}", hint="write it as 10.90.0.0/16") from None
        import re

        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", opts["bridge"]) or opts["bridge"] in (".", ".."):
            raise ConfigError(f"bridge driver: invalid bridge name {opts['bridge']!r}",
                              hint="1-15 letters, digits, '_', '.' or '-' (Linux's limit for interface names)")
        return opts

    def check_host(self) -> None:
        import importlib.util

        if importlib.util.find_spec("pyroute2") is None:
            raise DriverNotSupported("pyroute2 is not installed", hint="pip install pyroute2")

    @classmethod
    def warm_up(cls) -> None:
        """pyroute2's rtnetlink (~60 ms to import), libnftables and what add uses, while the
        monitor idles."""
        import fcntl  # noqa: F401
        import hashlib  # noqa: F401
        import json  # noqa: F401

        from capsa_net_bridge.firewall import _libnftables
        from capsa_net_bridge.links import host_route

        host_route().close()  # (its first one loads more of pyroute2 and asyncio's event loop: ~8 ms)
        _libnftables()

    # -- the network -------------------------------------------------------------------------

    def network(self, given: dict[str, Any] | None) -> dict[str, Any]:
        """The network ``given`` (an attachment's ``network`` data) completed, else the
        driver's default one."""
        given = dict(given or {})
        net = {"name": DEFAULT_NETWORK, "id": DEFAULT_NETWORK, "driver": self.name, "bridge": self.options["bridge"],
               "subnet": self.options["subnet"], "gateway": "", "internal": False, "labels": {}, "options": {}}
        net.update({k: v for k, v in given.items() if v not in (None, "")})
        subnet = ipaddress.IPv4Network(net["subnet"], strict=False)
        net["subnet"] = str(subnet)
        if not net["gateway"]:
            net["gateway"] = str(subnet.network_address + 1)
        return net

    def ipam(self) -> Any:
        from capsa_net_bridge.ipam import Ipam

        return Ipam(self.context.run_home_dir)

    def bridges(self) -> Any:
        from capsa_net_bridge.bridges import Bridges

        return Bridges(self.context.run_home_dir)

    def published(self) -> Any:
        from capsa_net_bridge.published import Published

        return Published(self.context.run_home_dir)

    # -- the contract --------------------------------------------------------------------------

    def add(self, attachment: Attachment) -> AttachResult:
        from capsa_net_bridge import links

        if attachment.netns is None:
            raise NetworkError("the bridge network driver needs the container's own network namespace",
                               hint="the container's bundle must ask for a new network namespace")
        net = self.network(attachment.network)
        subnet = ipaddress.IPv4Network(net["subnet"])
        veth = veth_name(net["name"], attachment.container_id)
        mtu = int(net["options"].get("mtu") or self.options["mtu"])
        ipr = links.host_route()
        try:
            # the veth is made under the lock too: gc (which takes it) never finds an address
            # held without its veth but for a container that is gone (see gc)
            with self.ipam().locked() as book:
                bridge_index = self.bridges().prepare(ipr, net, subnet.prefixlen, mtu)
                address = book.allocate(net["name"], net["subnet"], net["gateway"], attachment.container_id, veth,
                                        attachment.static_ip)
                try:
                    links.add_veth(ipr, veth, attachment.interface, attachment.netns, bridge_index, mtu)
                except Exception:
                    if links.index(ipr, net["bridge"]) == bridge_index:
                        raise
                    # the bridge went meanwhile (another capsa, with a runroot of its own, found
                    # it unused): make it again, once
                    bridge_index = self.bridges().prepare(ipr, net, subnet.prefixlen, mtu)
                    links.add_veth(ipr, veth, attachment.interface, attachment.netns, bridge_index, mtu)
        finally:
            ipr.close()
        ns = links.netns_route(attachment.netns)
        try:
            # only eth0 gets the default route: a network connected later (eth1...) adds its subnet
            gateway = "" if net["internal"] or attachment.interface != "eth0" else net["gateway"]
            iface = links.configure_inside(ns, attachment.interface, address, subnet.prefixlen, gateway)
        finally:
            ns.close()
        iface.update(host_veth=veth, bridge=net["bridge"], network=net["name"])
        routes = [{"dst": "0.0.0.0/0", "gateway": gateway}] if gateway else []
        if attachment.ports:
            with self.ipam().locked():
                self.published().publish(attachment, net["bridge"], address, net["subnet"], veth)
        return AttachResult(interfaces=[iface], ips=[f"{address}/{subnet.prefixlen}"], routes=routes, gateway=gateway,
                            ports=list(attachment.ports))

    def delete(self, attachment: Attachment) -> None:
        """Remove the container's veth, ports table and address (the network's bridge and
        table go with :meth:`tidy`)."""
        from capsa_net_bridge import links

        net = self.network(attachment.network)
        with self.ipam().locked():
            self.published().unpublish(attachment.container_id, net["bridge"])
        ipr = links.host_route()
        try:
            links.delete_link(ipr, veth_name(net["name"], attachment.container_id))
        finally:
            ipr.close()
        with self.ipam().locked() as book:
            book.release(net["name"], [attachment.container_id])

    def tidy(self) -> None:
        """Dismantle every bridge of ours that no container of ours (or anyone else's veth) is
        on, as netavark does: nothing of capsa's stays on the host after the last container.
        (Apart from ``delete``: a container's exit is reported before its bridge goes, which
        takes the kernel tens of milliseconds.)"""
        from capsa_net_bridge import links

        if not os.path.isdir(self.context.run_home_dir):  # (nothing was ever made here)
            return
        bridges = self.bridges()
        with self.ipam().locked() as book:
            unused = [(network, bridge) for network, bridge, _ in bridges.ours() if not book.book.get(network)]
            if not unused:
                return
            ipr = links.host_route()
            try:
                for network, bridge in unused:
                    bridges.retire_if_unused(ipr, book, network, bridge)
            finally:
                ipr.close()

    def check(self, attachment: Attachment) -> None:
        from capsa_net_bridge import links

        net = self.network(attachment.network)
        veth = veth_name(net["name"], attachment.container_id)
        held = [a for n, a, h in self.ipam().entries() if n == net["name"] and h.get("id") == attachment.container_id]
        if not held:
            raise NetworkError(f"container {attachment.container_name or attachment.container_id} holds no address "
                               f"on network {net['name']}", hint="restart the container")
        ipr = links.host_route()
        try:
            idx = links.index(ipr, veth)
            bridge = links.index(ipr, net["bridge"])
            if not idx or not bridge or _master(ipr, idx) != bridge:
                raise NetworkError(f"the veth {veth} of container {attachment.container_name or attachment.container_id} "
                                   f"is not on bridge {net['bridge']}", hint="restart the container")
        finally:
            ipr.close()
        from capsa_net_bridge import firewall

        if not firewall.present(net["bridge"]):
            raise NetworkError(f"the firewall table {firewall.table_name(net['bridge'])} of bridge {net['bridge']} is gone "
                               f"(NAT and forwarding of network {net['name']})", hint="capsa system check --repair restores it")
        if self.published().missing_table(attachment.container_id):
            raise NetworkError(f"the published ports of container {attachment.container_name or attachment.container_id} "
                               f"are gone (their nftables table)", hint="capsa system check --repair restores them")
        if attachment.netns is not None:
            ns = links.netns_route(attachment.netns)
            try:
                idx = links.index(ns, attachment.interface)
                have = _addresses(ns, idx)
            finally:
                ns.close()
            if held[0] not in have:
                raise NetworkError(f"interface {attachment.interface} of container "
                                   f"{attachment.container_name or attachment.container_id} lacks address {held[0]}",
                                   hint="restart the container")

    def gc(self, live: Iterable[str]) -> None:
        """Release what containers not in ``live`` hold, but only once their veth is gone:
        a container's veth lives as long as its namespace, so one still there belongs to a
        container that runs after all (one that started after the caller took ``live``; its
        veth is made under the IPAM lock with its address). A namespace whose last process
        was just killed goes a moment later: waited for, briefly."""
        import time

        keep = set(live)
        deadline = time.monotonic() + 2.0
        ipam = self.ipam()
        if os.path.exists(ipam.path):
            # the candidates found, and their namespaces waited for, without the lock (which
            # every add, delete and tidy on the host takes); checked again under it
            candidates = {(network, holder.get("id", "")) for network, _, holder in ipam.entries()
                          if holder.get("id", "") not in keep and _gone(holder.get("veth", ""), deadline)}
            with ipam.locked() as book:
                self._collect(book, keep, candidates)
        self._gc_ports(keep, deadline)

    def _collect(self, book: Any, keep: set[str], candidates: set[tuple[str, str]]) -> None:
        """Under the IPAM lock, ``gc``'s work: the addresses (and veths) of ``candidates``
        ((network, container id)) still not in ``keep`` whose veth is still gone, then the
        bridges no address is held on."""
        from capsa_net_bridge import links

        freed = []
        for network, held in list(book.book.items()):
            ids = [h.get("id", "") for h in held.values()
                   if (network, h.get("id", "")) in candidates and _gone(h.get("veth", ""))]
            if ids:
                freed += book.release(network, ids)
        bridges = self.bridges()
        ours = bridges.ours()
        unused = [(network, bridge) for network, bridge, _ in ours if not book.book.get(network)]
        bridges.restore_tables([(bridge, marker) for network, bridge, marker in ours if book.book.get(network)])
        if not freed and not unused:
            return
        ipr = links.host_route()
        try:
            for _, _, holder in freed:
                links.delete_link(ipr, holder.get("veth", ""))
            for network, bridge in unused:
                bridges.retire_if_unused(ipr, book, network, bridge)
        finally:
            ipr.close()

    def _gc_ports(self, keep: set[str], deadline: float = 0.0) -> None:
        """Remove the ports tables (and markers) of containers not in ``keep`` whose veth is
        gone; write again those of containers in it whose table is gone."""
        published = self.published()
        gone = [cid for cid, marker in published.markers() if cid not in keep and _gone(marker.get("veth", ""), deadline)]
        with self.ipam().locked():
            for container_id in gone:
                published.unpublish(container_id)
            published.restore(keep)

    def remove_network(self, network: dict[str, Any]) -> None:
        """Remove a network's bridge, its firewall table and its addresses (idempotent; for
        ``network rm``, once no container uses it). The veths of containers still on it go
        with the bridge's removal only in part: the caller removes those containers first."""
        from capsa_net_bridge import links

        net = self.network(network)
        ipr = links.host_route()
        try:
            with self.ipam().locked() as book:
                for _, holder in book.drop_network(net["name"]):
                    links.delete_link(ipr, holder.get("veth", ""))
                self.bridges().dismantle(ipr, net["bridge"])
        finally:
            ipr.close()

    def status(self) -> dict[str, Any]:
        out = super().status()
        present = os.path.exists(f"/sys/class/net/{self.options['bridge']}")
        out["detail"] = (f"bridge {self.options['bridge']} ({'present' if present else 'made with the first container on it'}), "
                         f"subnet {self.options['subnet']}")
        return out


def _master(ipr: Any, index: int) -> int | None:
    """The bridge interface ``index`` is on (None when it went meanwhile: ENODEV, a container
    stopping while ``check`` looks at it)."""
    try:
        return ipr.get_links(index)[0].get_attr("IFLA_MASTER")  # type: ignore[no-any-return]
    except Exception as exc:  # noqa: BLE001 - pyroute2's NetlinkError
        if getattr(exc, "code", 0) != 19:
            raise
        return None


def _addresses(ns: Any, index: int) -> set[str]:
    """The IPv4 addresses of interface ``index`` (none when it is 0 or went meanwhile)."""
    if not index:
        return set()
    try:
        return {a.get_attr("IFA_ADDRESS") for a in ns.get_addr(index=index, family=2)}
    except Exception as exc:  # noqa: BLE001 - pyroute2's NetlinkError; ENODEV: gone meanwhile
        if getattr(exc, "code", 0) != 19:
            raise
        return set()
