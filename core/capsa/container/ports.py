"""Published ports: ``-p/--publish`` and ``-P/--publish-all``, parsed, checked and shown.

A container records its published ports in ``extra["ports"]``: a list of
``{"host_ip", "host_port", "container_port", "protocol"}`` (ranges are expanded, one entry per
port; ``host_ip`` "" means every address of the host). The monitor hands them to the network
driver as ``Attachment.ports``. :func:`parse` reads the flags as podman does
(``[[HOST_IP:][HOST_PORT]:]CONTAINER_PORT[/tcp|/udp]``, ranges ``8000-8002:80-82``);
:func:`reserve` picks free host ports for the ones not given and refuses a host port in use
(it tries to bind it). :func:`port_lines`, :func:`ps_text` and :func:`inspect_ports` give
podman's ``port``, ``ps`` PORTS and ``inspect`` NetworkSettings.Ports.
"""
from __future__ import annotations

from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PROTOCOLS = ("tcp", "udp")
HINT = "write -p [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp], e.g. -p 8080:80"
DISCARDED = "Port mappings have been discarded as one of the Host, Container, Pod, and None network modes are in use"


def _range(text: str, what: str) -> tuple[int, int]:
    first, dash, last = text.partition("-")
    bounds = []
    for part in (first, last) if dash else (first,):
        try:
            number = int(part)
        except ValueError:
            raise UsageError(f'parsing {what} port: invalid port number: strconv.Atoi: parsing "{part}": invalid syntax',
                             hint=HINT) from None
        if not 1 <= number <= 65535:
            raise UsageError(f"parsing {what} port: port numbers must be between 1 and 65535 (inclusive), got {number}",
                             hint=HINT)
        bounds.append(number)
    low, high = bounds[0], bounds[-1]
    if high < low:
        raise UsageError(f"parsing {what} port: invalid range {text}: the end is before the start", hint=HINT)
    return low, high


def parse_one(spec: str) -> list[dict[str, Any]]:
    """One ``-p`` value -> its mappings (host_port 0: to be picked)."""
    import ipaddress

    body, slash, protocol = spec.partition("/")
    protocol = protocol.lower() if slash else "tcp"
    if protocol not in PROTOCOLS:
        raise UsageError(f"invalid protocol {protocol!r} in port mapping {spec!r}", hint="capsa publishes tcp and udp ports")
    parts = body.rsplit(":", 2)
    host_ip, host = "", ""
    if len(parts) == 3:
        host_ip, host, container = parts
    elif len(parts) == 2:
        host, container = parts
    else:
        container = parts[0]
    if host_ip:
        try:
            ipaddress.IPv4Address(host_ip)
        except ValueError:
            raise UsageError(f"invalid IP address {host_ip!r} in port mapping {spec!r}",
                             hint="give an IPv4 address of this host, e.g. 127.0.0.1") from None
        if host_ip == "0.0.0.0":
            host_ip = ""
    if not container:
        raise UsageError(f"invalid port mapping {spec!r}: no container port", hint=HINT)
    clow, chigh = _range(container, "container")
    count = chigh - clow + 1
    if host:
        hlow, hhigh = _range(host, "host")
        if hhigh - hlow + 1 != count:
            raise UsageError(f"invalid port mapping {spec!r}: host and container port ranges have different lengths",
                             hint="e.g. -p 8000-8002:80-82")
    else:
        hlow = 0
    return [{"host_ip": host_ip, "host_port": hlow + i if hlow else 0, "container_port": clow + i, "protocol": protocol}
            for i in range(count)]


def parse(specs: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for spec in specs:
        out += parse_one(spec)
    return out


def exposed(image_config: dict[str, Any]) -> list[dict[str, Any]]:
    """``-P``: every port the image EXPOSEs, to a host port to be picked."""
    runtime = image_config.get("config") or image_config.get("Config") or {}
    out = []
    for key in sorted(runtime.get("ExposedPorts") or {}):
        port, _, protocol = str(key).partition("/")
        for m in parse_one(f"{port}/{protocol or 'tcp'}"):
            out.append(m)
    return out


def reserve(mappings: list[dict[str, Any]], taken: list[tuple[str, int, str]] | None = None) -> list[dict[str, Any]]:
    """Check every given host port is free (tcp or udp, as published) and pick free ones for
    the others; ``taken``: (host ip, port, protocol) published by other containers (one claim
    collides with another by :func:`capsa.drivers.network.same_host_port`). Raises UsageError."""
    from capsa.drivers.network import same_host_port, try_bind

    taken = list(taken or ())
    mine: list[tuple[str, int, str]] = []
    for m in mappings:
        key = (m["host_ip"], m["host_port"], m["protocol"])
        if m["host_port"]:
            where = f"{m['host_ip'] or '0.0.0.0'}:{m['host_port']}"
            if any(same_host_port(key, k) for k in mine):
                raise UsageError(f"host port {where}/{m['protocol']} is published twice", hint="publish each host port once")
            if any(same_host_port(key, k) for k in taken):
                raise UsageError(f"cannot listen on the {m['protocol'].upper()} port: {where}: already published by another container",
                                 hint="choose another host port, or leave it out (-p CONTAINER_PORT) to get a free one")
            try:
                try_bind(m["host_ip"], m["host_port"], m["protocol"])
            except OSError as exc:
                raise UsageError(f"cannot listen on the {m['protocol'].upper()} port: listen {m['protocol']}4 {where}: "
                                 f"bind: {exc.strerror.lower() if exc.strerror else exc}",
                                 hint="choose another host port, or leave it out (-p CONTAINER_PORT) to get a free one") from None
            mine.append(key)
    for m in mappings:
        if not m["host_port"]:
            for _ in range(100):
                try:
                    port = try_bind(m["host_ip"], 0, m["protocol"])
                except OSError as exc:
                    raise UsageError(f"cannot pick a free {m['protocol']} port on {m['host_ip'] or '0.0.0.0'}: {exc.strerror}",
                                     hint="give HOST_IP as an address of this host") from None
                if not any(same_host_port((m["host_ip"], port, m["protocol"]), k) for k in mine + taken):
                    break
            m["host_port"] = port
            mine.append((m["host_ip"], port, m["protocol"]))
    return mappings


def claims(mappings: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    """The (host ip, host port, protocol) claims of published ``mappings``."""
    return [(m.get("host_ip") or "", int(m["host_port"]), m["protocol"]) for m in mappings]


def running_claims(records: Any) -> list[tuple[str, int, str]]:
    """The claims of every running or paused container of ``records`` (a new one must not take them:
    no socket holds them, their DNAT rules do)."""
    from capsa.container.views import effective_status

    taken = []
    for config in records.all():
        mappings = config.extra.get("ports")
        if mappings and effective_status(records, config).status in ("running", "paused"):  # (paused: its rules stay)
            taken += claims(mappings)
    return taken


def published(config: Any) -> list[dict[str, Any]]:
    return list(config.extra.get("ports") or [])


def port_lines(mappings: list[dict[str, Any]], private: str = "") -> list[str]:
    """``capsa port``'s lines: ``80/tcp -> 0.0.0.0:8080``; ``private``: ``80`` or ``80/udp``."""
    want_port, _, want_proto = private.partition("/")
    out = []
    for m in mappings:
        if want_port and (str(m["container_port"]) != want_port or (want_proto and m["protocol"] != want_proto)):
            continue
        host = f"{m['host_ip'] or '0.0.0.0'}:{m['host_port']}"
        out.append(host if want_port else f"{m['container_port']}/{m['protocol']} -> {host}")
    return out


def ps_text(mappings: list[dict[str, Any]]) -> str:
    """``ps``'s PORTS: ``0.0.0.0:8080->80/tcp``, consecutive ports joined as podman does
    (``0.0.0.0:8000-8002->80-82/tcp``)."""
    groups: list[list[dict[str, Any]]] = []
    for m in sorted(mappings, key=lambda m: (m["protocol"], m["host_ip"], m["container_port"])):
        last = groups[-1][-1] if groups else None
        if (last and last["protocol"] == m["protocol"] and last["host_ip"] == m["host_ip"]
                and m["container_port"] == last["container_port"] + 1 and m["host_port"] == last["host_port"] + 1):
            groups[-1].append(m)
        else:
            groups.append([m])
    out = []
    for g in groups:
        first, last = g[0], g[-1]
        host = f"{first['host_port']}" + (f"-{last['host_port']}" if len(g) > 1 else "")
        cont = f"{first['container_port']}" + (f"-{last['container_port']}" if len(g) > 1 else "")
        out.append(f"{first['host_ip'] or '0.0.0.0'}:{host}->{cont}/{first['protocol']}")
    return ", ".join(out)


def inspect_ports(mappings: list[dict[str, Any]]) -> dict[str, Any]:
    """``inspect``'s NetworkSettings.Ports (podman's shape)."""
    out: dict[str, Any] = {}
    for m in mappings:
        out.setdefault(f"{m['container_port']}/{m['protocol']}", []).append(
            {"HostIp": m["host_ip"], "HostPort": str(m["host_port"])})
    return out


def publish_exposed(records: Any, image_config: dict[str, Any], config: Any) -> None:
    """``-P``: the image's exposed ports (and those ``--expose`` added) not published yet, to
    free host ports (none that a running container publishes)."""
    given = {(m["container_port"], m["protocol"]) for m in published(config)}
    if config.extra.get("expose"):
        runtime = dict(image_config.get("config") or {})
        runtime["ExposedPorts"] = {**(runtime.get("ExposedPorts") or {}), **{p: {} for p in config.extra["expose"]}}
        image_config = {**image_config, "config": runtime}
    more = [m for m in exposed(image_config) if (m["container_port"], m["protocol"]) not in given]
    if more:
        taken = claims(published(config)) + running_claims(records)
        config.extra["ports"] = published(config) + reserve(more, taken)
