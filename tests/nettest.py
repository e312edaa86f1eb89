"""Helpers for network tests: a bridge name and a subnet of their own, checked unused."""
from __future__ import annotations

import ipaddress
import random
import secrets
import socket
import struct
from pathlib import Path


def routed_networks() -> list[ipaddress.IPv4Network]:
    """The IPv4 networks the host routes (main table, from /proc/net/route)."""
    nets = []
    for line in Path("/proc/net/route").read_text().splitlines()[1:]:
        fields = line.split()
        dst = socket.inet_ntoa(struct.pack("<I", int(fields[1], 16)))
        mask = socket.inet_ntoa(struct.pack("<I", int(fields[7], 16)))
        if mask != "0.0.0.0":
            nets.append(ipaddress.IPv4Network(f"{dst}/{mask}", strict=False))
    return nets


_GIVEN: set[str] = set()  # handed out in this test run: never twice


def free_subnet() -> str:
    """A /24 in 10.100-10.199 that nothing on the host routes (podman's 10.88/10.89 and
    docker's 172.17 are never near it), and not handed out before in this run (10.126/16 is
    test_network_cli.py's, for the subnets it names)."""
    routed = routed_networks()
    for _ in range(200):
        net = ipaddress.IPv4Network(f"10.{random.choice([n for n in range(100, 200) if n != 126])}.{random.randint(0, 255)}.0/24")
        if str(net) not in _GIVEN and not any(net.overlaps(r) for r in routed):
            _GIVEN.add(str(net))
            return str(net)
    raise RuntimeError("no free test subnet")


def bridge_name() -> str:
    return "capsat" + secrets.token_hex(4)


def on_bridge(bridge: str) -> list[str]:
    """The interfaces on ``bridge`` (none once it is gone: it goes with its last container)."""
    try:
        return sorted(p.name for p in Path(f"/sys/class/net/{bridge}/brif").iterdir())
    except FileNotFoundError:  # (gone, or going right now)
        return []


def leftovers(bridge: str, subnet: str) -> list[str]:
    """What of a test network remains on the host: the bridge, capsa veths on it, its table."""
    import subprocess

    left = []
    if Path(f"/sys/class/net/{bridge}").exists():
        left.append(f"bridge {bridge}")
        left += [f"veth {name}" for name in on_bridge(bridge)]
    table = "capsa_" + bridge
    if subprocess.run(["nft", "list", "table", "ip", table], capture_output=True).returncode == 0:
        left.append(f"nft table {table}")
    return left


def leftovers_settled(bridge: str, subnet: str, wait: float = 10) -> list[str]:
    """:func:`leftovers` once they are gone, or after ``wait`` seconds: a bridge goes a moment
    after its last container (its monitor tidies once it reported the exit)."""
    import time

    deadline = time.monotonic() + wait
    while True:
        left = leftovers(bridge, subnet)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def address_of(c, name: str) -> str:  # type: ignore[no-untyped-def]
    """The address ``inspect`` gives container ``name`` on its network."""
    r = c("inspect", "--format", "{{.NetworkSettings.IPAddress}}", name)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def first_reply(address: str, port: int, wait: float = 10) -> bytes:
    """What a listener at ``address:port`` (a container the test started) sends first,
    connecting again while it is not listening yet (up to ``wait`` seconds)."""
    import time

    deadline = time.monotonic() + wait
    while True:
        try:
            with socket.create_connection((address, port), timeout=2) as s:
                return s.recv(100)
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, f"nothing listened at {address}:{port}"
            time.sleep(0.1)


def bridge_store(tmp_path_factory, name: str, bridge: str, subnet: str,  # type: ignore[no-untyped-def]
                 user_networks: dict[str, tuple[str, str]] | None = None):
    """The body of a module-scoped fixture: a busybox store whose default network is on
    ``bridge``/``subnet``. At the end its containers go, then the ``user_networks`` (name ->
    (bridge, subnet)); nothing of any of them may be left (the default network's bridge goes
    with its last container)."""
    from containers import busybox_store, cleanup

    gen = busybox_store(tmp_path_factory, name, f'[network.options.bridge]\nbridge = "{bridge}"\nsubnet = "{subnet}"\n')
    c = next(gen)
    try:
        yield c
    finally:
        cleanup(c)
        for network in user_networks or {}:
            c("network", "rm", "-f", network)
        left = leftovers_settled(bridge, subnet) + [x for b, n in (user_networks or {}).values() for x in leftovers(b, n)]
        gen.close()
        assert left == [], left
