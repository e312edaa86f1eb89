"""A container's name and address flags: ``--ip``, ``--add-host``, ``--dns``, ``--dns-search``,
``--dns-option``, ``--network-alias``, checked when the container is made and recorded in
``extra["net"]`` (keys ``ip``, ``add_hosts`` [[host, ip]...], ``dns``, ``dns_search``,
``dns_options``, ``aliases``). :mod:`capsa.container.etcfiles` writes them into /etc/hosts and
/etc/resolv.conf; the monitor gives ``ip`` and ``aliases`` to the network driver
(``Attachment.static_ip``, ``Attachment.aliases``). Imported only when one of them is given.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from capsa.container.model import ContainerConfig
from capsa.errors import UsageError

FLAGS = ("ip", "add_host", "dns", "dns_search", "dns_option", "network_alias")


def word(value: str, flag: str, example: str) -> str:
    if not value or any(ch.isspace() for ch in value) or "#" in value:
        raise UsageError(f"invalid {flag} {value!r}", hint=f"give one word, e.g. {flag} {example}")
    return value


def parse_add_host(value: str) -> list[str]:
    """``HOST:IP`` (HOST may be ``a;b`` for several names, IP may be IPv6) -> [names, ip]."""
    host, sep, addr = value.partition(":")
    try:
        ipaddress.ip_address(addr.strip("[]"))
    except ValueError:
        raise UsageError(f"invalid IP address in add-host: {addr!r}" if sep else f"invalid add-host {value!r}",
                         hint="write --add-host NAME:IP, e.g. --add-host db.local:10.100.0.5") from None
    names = [word(n, "--add-host", "db.local:10.100.0.5") for n in host.split(";")]
    return [" ".join(names), addr.strip("[]")]


def apply(config: ContainerConfig, o: dict[str, Any], definition: dict[str, Any] | None,
          driver_options: dict[str, Any]) -> None:
    """Check the flags in ``o`` and record them in ``config.extra["net"]``; bad input: UsageError
    (exit 125, nothing made yet). ``definition``: the user network's data (None: the driver's
    default network, whose subnet is ``driver_options["subnet"]`` when the driver has one)."""
    net: dict[str, Any] = {}
    shared = config.network in ("none", "host") or config.network.startswith("container:")
    if o.get("ip"):
        try:
            ip = ipaddress.IPv4Address(o["ip"])
        except ValueError:
            raise UsageError(f"{o['ip']!r} is not an IP address", hint="write --ip as 10.100.0.5") from None
        if shared:
            raise UsageError(f"--ip cannot be used with --network {config.network.split(':')[0]}",
                             hint="--ip needs a bridge network (--network bridge or a network's name)")
        subnet = (definition or {}).get("subnet") or driver_options.get("subnet")
        if subnet:
            net_ = ipaddress.IPv4Network(subnet, strict=False)
            gateway = (definition or {}).get("gateway") or str(net_.network_address + 1)
            if ip not in net_ or ip in (net_.network_address, net_.broadcast_address) or str(ip) == gateway:
                raise UsageError(f"IP address {ip} is not a free host address of subnet {net_}",
                                 hint=f"choose one in {net_} other than the gateway {gateway}")
        net["ip"] = str(ip)
    if config.network.startswith("container:"):  # its files are the joined container's
        for key, flag in (("add_host", "add-host"), ("dns", "dns"), ("dns_search", "dns-search"), ("dns_option", "dns-option")):
            if o.get(key):
                raise UsageError(f"conflicting options: {flag} and the network mode",  # podman's words
                                 hint="--network container:NAME shares NAME's /etc/hosts and /etc/resolv.conf")
    if o.get("add_host"):
        net["add_hosts"] = [parse_add_host(v) for v in o["add_host"]]
    if o.get("dns"):
        for server in o["dns"]:
            try:
                ipaddress.ip_address(server)
            except ValueError:
                raise UsageError(f"{server!r} is not an IP address", hint="write --dns as 10.100.0.1") from None
        net["dns"] = list(o["dns"])
    if o.get("dns_search"):
        net["dns_search"] = [word(v, "--dns-search", "example.com") for v in o["dns_search"]]
    if o.get("dns_option"):
        net["dns_options"] = [word(v, "--dns-option", "ndots:2") for v in o["dns_option"]]
    if o.get("network_alias"):
        if shared:
            raise UsageError("--network-alias needs a network of its own",
                             hint="use it with --network NETWORK (a network's name)")
        net["aliases"] = [word(v, "--network-alias", "db") for v in o["network_alias"]]
    if net:
        config.extra["net"] = net
