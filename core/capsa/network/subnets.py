"""Subnet choice and checks for network definitions.

A network's subnet never overlaps podman's (10.88.0.0/16, 10.89.0.0/16: its default network
and the /24s it hands out) or docker's (172.17.0.0/16), another capsa network, nor anything
already routed on the host (the main table's routes and the addresses of its interfaces, read
with pyroute2, imported only when asked). Without ``--subnet``, ``network create`` takes the
first free /24 of :data:`POOL`.
"""
from __future__ import annotations

import ipaddress

from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    Net = ipaddress.IPv4Network

RESERVED: dict[str, str] = {"10.88.0.0/16": "podman's default network", "10.89.0.0/16": "podman's networks",
                            "172.17.0.0/16": "docker's default network"}
POOL = ("10.90.0.0", "10.99.255.0")  # /24s from the first to the last (inclusive)


def host_networks() -> list[Net]:
    """The IPv4 networks routed on the host: the main table's routes (but the default route)
    and the networks of the interfaces' addresses."""
    import socket

    from pyroute2 import IPRoute

    out: list[Net] = []
    with IPRoute() as ipr:
        for route in ipr.get_routes(family=socket.AF_INET, table=254):
            dst, length = route.get("dst"), route.get("dst_len") or 0
            if dst and length:
                out.append(ipaddress.ip_network(f"{dst}/{length}", strict=False))
        for addr in ipr.get_addr(family=socket.AF_INET):
            local, length = addr.get("address"), addr.get("prefixlen")
            if local and not local.startswith("127."):
                out.append(ipaddress.ip_network(f"{local}/{length}", strict=False))
    return out


def parse_subnet(text: str) -> Net:
    """``--subnet`` as an IPv4 network (host bits must be zero); UsageError otherwise."""
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise UsageError(f"invalid subnet {text!r}: {exc}", hint="write it as 10.91.0.0/24") from None
    if net.version != 4:
        raise UsageError(f"subnet {text}: IPv6 subnets are not supported", hint="give an IPv4 subnet")
    if net.prefixlen > 30:
        raise UsageError(f"subnet {text} is too small", hint="give a /30 or larger subnet")
    return net  # type: ignore[return-value]


def gateway_for(net: Net, gateway: str | None) -> str:
    """``--gateway`` checked to be a host address of ``net``; by default its first one."""
    if not gateway:
        return str(net.network_address + 1)
    try:
        addr = ipaddress.ip_address(gateway)
    except ValueError:
        raise UsageError(f"invalid gateway {gateway!r}", hint="give an IPv4 address") from None
    if addr not in net or addr in (net.network_address, net.broadcast_address):
        raise UsageError(f"gateway {gateway} not in subnet {net}", hint=f"give an address of {net}")
    return str(addr)


def conflict(net: Net, taken: dict[str, str], routed: Iterable[Net]) -> str | None:
    """Why ``net`` cannot be used (what it overlaps), or None. ``taken``: subnet -> whose."""
    for subnet, whose in {**RESERVED, **taken}.items():
        if net.overlaps(ipaddress.ip_network(subnet)):
            return f"it overlaps {subnet} ({whose})"
    for other in routed:
        if net.overlaps(other):
            return f"it overlaps {other}, routed on the host"
    return None


def check(net: Net, taken: dict[str, str], routed: Iterable[Net] | None = None) -> None:
    """Refuse (UsageError) a subnet given with ``--subnet`` that is used elsewhere."""
    why = conflict(net, taken, host_networks() if routed is None else routed)
    if why is not None:
        raise UsageError(f"subnet {net} is already used: {why}", hint="choose another subnet, or leave --subnet out")


def choose(taken: dict[str, str], routed: Iterable[Net] | None = None) -> Net:
    """The first /24 of :data:`POOL` that :func:`conflict` lets through."""
    routes = list(host_networks() if routed is None else routed)
    first, last = (int(ipaddress.ip_address(a)) for a in POOL)
    for start in range(first, last + 1, 256):
        net = ipaddress.ip_network((start, 24))
        if conflict(net, taken, routes) is None:  # type: ignore[arg-type]
            return net  # type: ignore[return-value]
    raise UsageError(f"no free subnet left in {POOL[0]}-{POOL[1]}", hint="give one with --subnet")
