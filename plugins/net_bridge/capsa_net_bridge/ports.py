"""Published ports: one nftables table per container, ``ip capsa_p_<id>``.

``publish`` writes the table in one ``nft`` transaction (created or replaced: idempotent):

- ``prerouting`` (nat, dstnat): traffic from elsewhere to a published host port (any local
  address, or ``HOST_IP`` only) is DNATed to the container's address and port;
- ``output`` (nat, dstnat): the same for traffic the host itself sends, 127.0.0.1 included;
- ``postrouting`` (nat, srcnat): what comes from 127.0.0.0/8 and goes to the container is
  masqueraded (the bridge's address as source), so the reply finds its way back; so is what a
  container of the same subnet sent to a published port (hairpin: it came back to the bridge).

Loopback traffic may only be routed to the bridge with ``route_localnet`` on the bridge
(podman's netavark does the same). ``unpublish`` deletes the table: exactly this container's
rules, with or without its namespace, any number of times.
"""
from __future__ import annotations

from capsa_net_bridge.firewall import drop_table, write_table

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from capsa.drivers.network import PortMapping

PREFIX = "capsa_p_"


def table_name(container_id: str) -> str:
    return PREFIX + container_id[:24]


def route_localnet(bridge: str) -> None:
    """net.ipv4.conf.<bridge>.route_localnet = 1 (127.0.0.1 may be DNATed to the bridge)."""
    path = f"/proc/sys/net/ipv4/conf/{bridge}/route_localnet"
    with open(path) as f:
        if f.read().strip() == "1":
            return
    with open(path, "w") as f:
        f.write("1\n")


def publish(container_id: str, bridge: str, address: str, ports: Iterable[PortMapping], subnet: str = "") -> None:
    """(Re)write the table of ``container_id`` whose address on ``bridge`` (``subnet``) is
    ``address``."""
    rules = []
    for p in ports:
        match = f"ip daddr {p.host_ip}" if p.host_ip else "fib daddr type local"
        rules.append(f"{match} {p.protocol} dport {int(p.host_port)} dnat to {address}:{int(p.container_port)}")
    body = "\n    ".join(rules)
    hairpin = f'ct status dnat ip saddr {subnet} ip daddr {address} oifname "{bridge}" masquerade' if subnet else ""
    route_localnet(bridge)
    write_table(table_name(container_id), f"""  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    {body}
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    {body}
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 127.0.0.0/8 ip daddr {address} oifname "{bridge}" masquerade
    {hairpin}
  }}
""")


def check_free(ports: Iterable[PortMapping]) -> None:
    """Raise NetworkError for a host port that a program of the host has bound (tried by
    binding it, tcp or udp as published)."""
    from capsa.drivers.network import try_bind
    from capsa.errors import NetworkError

    for p in ports:
        try:
            try_bind(p.host_ip, int(p.host_port), p.protocol)
        except OSError as exc:
            raise NetworkError(f"cannot listen on the {p.protocol.upper()} port: {p.host_ip or '0.0.0.0'}:{p.host_port}: "
                               f"{(exc.strerror or str(exc)).lower()}", hint="free the port, or choose another (-p)") from None


def unpublish(container_id: str) -> None:
    drop_table(table_name(container_id))
