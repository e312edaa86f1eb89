"""The bridge network driver end to end: real containers on a real bridge (a test-only name
and subnet from capsa.toml's [network.options.bridge]), traffic only between the test and
the containers it made; and its IPAM under parallel processes, static addresses, a subnet the
host routes already. Everything made is removed, and checked gone, at the end."""
from __future__ import annotations

import ipaddress
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from capsa.drivers import load_driver
from capsa.drivers.network import Attachment
from capsa.errors import NetworkError
from capsa.testing.network import Namespace
from conftest import Capsa
from containers import cleanup
from nettest import address_of, bridge_name, bridge_store, first_reply, free_subnet, leftovers, leftovers_settled, on_bridge

BRIDGE = bridge_name()
SUBNET = free_subnet()
GATEWAY = str(ipaddress.IPv4Network(SUBNET).network_address + 1)


def driver_of(c: Capsa) -> object:
    return load_driver("network", "bridge", {"bridge": BRIDGE, "subnet": SUBNET}, root=c.root, runroot=c.runroot)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    yield from bridge_store(tmp_path_factory, "netbridge", BRIDGE, SUBNET)


@pytest.fixture
def c(store: Capsa) -> Iterator[Capsa]:
    yield store
    left = cleanup(store)
    assert left == [], f"left behind: {left}"
    assert held(store) == {}, "addresses still held"


def held(c: Capsa) -> dict[str, dict]:
    path = c.runroot / "network" / "bridge" / "ipam.json"
    book = json.loads(path.read_text()) if path.exists() else {}
    return {a: h for net in book.values() for a, h in net.items()}


def test_a_container_gets_eth0_in_the_subnet_and_a_default_route(c: Capsa) -> None:
    r = c("run", "--rm", "--network", "bridge", "busybox", "sh", "-c",
          "ip -4 -o addr show eth0; ip route; cat /sys/class/net/lo/operstate /sys/class/net/eth0/operstate")
    assert r.returncode == 0, r.stderr
    addr = r.stdout.split("inet ")[1].split()[0]
    assert ipaddress.ip_interface(addr).network == ipaddress.IPv4Network(SUBNET)
    assert f"default via {GATEWAY} dev eth0" in r.stdout
    assert r.stdout.split()[-1] == "up"
    assert leftovers_settled(BRIDGE, SUBNET) == []  # --rm: its veth went with it, and the bridge and table with the last one


def test_the_bridge_and_its_table_go_with_the_last_container(c: Capsa) -> None:
    """As netavark: a network's bridge and firewall table exist while containers are on it;
    the last one to go (rm, or a start that failed) takes them along."""
    for name in ("first", "second"):
        assert c("run", "-d", "--name", name, "busybox", "sleep", "60").returncode == 0
    assert len(on_bridge(BRIDGE)) == 2 and subprocess.run(["nft", "list", "table", "ip", f"capsa_{BRIDGE}"], capture_output=True).returncode == 0
    assert c("rm", "-f", "first").returncode == 0
    assert len(on_bridge(BRIDGE)) == 1  # one is still on it: the bridge stays
    assert c("rm", "-f", "second").returncode == 0
    assert leftovers_settled(BRIDGE, SUBNET) == [] and held(c) == {}
    r = c("run", "--rm", "busybox", "true")  # made again by the next container
    assert r.returncode == 0, r.stderr
    assert leftovers_settled(BRIDGE, SUBNET) == []


def test_system_check_finds_a_flushed_firewall_table_and_repair_restores_it(c: Capsa) -> None:
    """``nft flush ruleset`` (or a firewall reload) while containers run takes NAT away:
    ``system check`` reports it, ``--repair`` writes the bridge's table again."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert c("run", "-d", "--name", "nat", "-p", f"{port}:8080", "busybox", "sh", "-c",
             "while true; do echo published | nc -l -p 8080; done").returncode == 0
    assert first_reply("127.0.0.1", port) == b"published\n"
    cid = c("inspect", "--format", "{{.Id}}", "nat").stdout.strip()
    table, ports_table = f"capsa_{BRIDGE}", f"capsa_p_{cid[:24]}"
    for name in (table, ports_table):  # (what `nft flush ruleset` would take, and nothing else)
        assert subprocess.run(["nft", "delete", "table", "ip", name]).returncode == 0
    r = c("system", "check")
    out = r.stdout + r.stderr
    assert f"firewall table {table} of bridge {BRIDGE} is gone" in out, out
    c("system", "check", "--repair")  # (both tables written again)
    listed = subprocess.run(["nft", "list", "table", "ip", table], capture_output=True, text=True)
    assert listed.returncode == 0 and "masquerade" in listed.stdout
    assert first_reply("127.0.0.1", port) == b"published\n"  # the port works again
    assert subprocess.run(["nft", "delete", "table", "ip", ports_table]).returncode == 0
    r = c("system", "check")
    assert "the published ports of container nat are gone" in r.stdout + r.stderr, r.stdout + r.stderr
    c("system", "check", "--repair")
    r = c("system", "check")
    assert "firewall table" not in r.stdout + r.stderr and "published ports" not in r.stdout + r.stderr
    assert first_reply("127.0.0.1", port) == b"published\n"


def test_gc_keeps_a_running_container_its_live_set_missed(c: Capsa) -> None:
    """``system check --repair`` takes the live set, then calls gc: a container that started in
    between is not in it. Its veth (made under the IPAM lock with its address) shows it runs:
    gc leaves its address, veth and ports alone."""
    assert c("run", "-d", "--name", "late", "-p", "80", "busybox", "sleep", "60").returncode == 0
    before = held(c)
    assert len(before) == 1 and len(on_bridge(BRIDGE)) == 1
    driver_of(c).gc([])  # type: ignore[attr-defined]  (as if the live set were taken before it started)
    assert held(c) == before and len(on_bridge(BRIDGE)) == 1
    cid = c("inspect", "--format", "{{.Id}}", "late").stdout.strip()
    assert (c.runroot / "network" / "bridge" / f"ports-{cid}").exists()


def test_gc_takes_the_bridge_of_containers_killed_with_their_monitor(c: Capsa) -> None:
    """SIGKILL to a container's monitor and its process: nobody ran delete; ``system check
    --repair`` (the network driver's gc) releases the address, the veth, and then the bridge."""
    assert c("run", "-d", "--name", "killed", "busybox", "sleep", "60").returncode == 0
    monitor = int(c("inspect", "--format", "{{.State.ConmonPid}}", "killed").stdout)
    pid = int(c("inspect", "--format", "{{.State.Pid}}", "killed").stdout)
    os.kill(monitor, 9)
    os.kill(pid, 9)
    assert on_bridge(BRIDGE) != []
    r = c("system", "check", "--repair")
    assert leftovers(BRIDGE, SUBNET) == [] and held(c) == {}, r.stdout + r.stderr


def test_inspect_shows_the_address_gateway_and_network(c: Capsa) -> None:
    assert c("run", "-d", "--name", "insp", "--network", "bridge", "busybox", "sleep", "60").returncode == 0
    settings = json.loads(c("inspect", "insp").stdout)[0]["NetworkSettings"]
    assert ipaddress.ip_address(settings["IPAddress"]) in ipaddress.IPv4Network(SUBNET)
    assert settings["Gateway"] == GATEWAY and settings["Bridge"] == BRIDGE and settings["MacAddress"]
    assert settings["Networks"]["capsa"]["IPAddress"] == settings["IPAddress"]
    assert len(on_bridge(BRIDGE)) == 1 and list(held(c)) == [settings["IPAddress"]]


def test_two_containers_on_the_bridge_ping_each_other(c: Capsa) -> None:
    assert c("run", "-d", "--name", "pa", "--network", "bridge", "busybox", "sleep", "60").returncode == 0
    target = address_of(c, "pa")
    # Debian's busybox 1.35 ping opens a raw socket only (no fallback to the ICMP datagram
    # socket that ping_group_range allows), and NET_RAW is not a default capability (as podman's)
    r = c("run", "--rm", "--network", "bridge", "--cap-add", "NET_RAW", "busybox", "ping", "-c", "1", "-W", "5", target)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 packets received" in r.stdout


def test_the_host_reaches_a_container_by_its_address(c: Capsa) -> None:
    assert c("run", "-d", "--name", "srv", "--network", "bridge", "busybox", "sh", "-c",
             "echo hello-from-capsa | nc -l -p 8080").returncode == 0
    assert first_reply(address_of(c, "srv"), 8080) == b"hello-from-capsa\n"


def test_rm_f_leaves_no_veth_and_releases_the_address(c: Capsa) -> None:
    assert c("run", "-d", "--name", "gone", "--network", "bridge", "busybox", "sleep", "60").returncode == 0
    addr = address_of(c, "gone")
    assert len(on_bridge(BRIDGE)) == 1 and addr in held(c)
    assert c("rm", "-f", "gone").returncode == 0
    assert on_bridge(BRIDGE) == [] and held(c) == {}


def test_a_killed_monitor_is_cleaned_up_by_rm(c: Capsa) -> None:
    assert c("run", "-d", "--name", "orph", "--network", "bridge", "busybox", "sleep", "60").returncode == 0
    monitor = int(c("inspect", "--format", "{{.State.ConmonPid}}", "orph").stdout)
    os.kill(monitor, 9)
    assert c("rm", "-f", "orph").returncode == 0
    assert on_bridge(BRIDGE) == [] and held(c) == {}


def test_parallel_runs_get_distinct_addresses(c: Capsa) -> None:
    def start(i: int) -> subprocess.CompletedProcess[str]:
        return c("run", "-d", "--name", f"par{i}", "--network", "bridge", "busybox", "sleep", "60")

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(start, range(4)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    addresses = [address_of(c, f"par{i}") for i in range(4)]
    assert len(set(addresses)) == 4 and all(addresses)
    assert len(on_bridge(BRIDGE)) == 4


# -- the driver alone --------------------------------------------------------------------------

IPAM_WORKER = """
import sys
sys.path[:0] = sys.argv[1].split(":")
from capsa_net_bridge.ipam import Ipam
ipam = Ipam(sys.argv[2])
for i in range(int(sys.argv[3])):
    with ipam.locked() as book:
        print(book.allocate("t", "10.190.0.0/24", "10.190.0.1", f"{sys.argv[4]}-{i}", "v"))
"""


def test_ipam_in_parallel_processes_never_hands_out_an_address_twice(tmp_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", IPAM_WORKER, ":".join(sys.path), str(tmp_path), "25", f"w{w}"],
                              stdout=subprocess.PIPE, text=True) for w in range(4)]
    got = [line for p in procs for line in p.communicate()[0].split()]
    assert all(p.returncode == 0 for p in procs)
    assert len(got) == 100 and len(set(got)) == 100
    assert "10.190.0.1" not in got and "10.190.0.0" not in got


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[object]:
    drv = load_driver("network", "bridge", {"bridge": BRIDGE, "subnet": SUBNET}, root=tmp_path / "r", runroot=tmp_path / "rr")
    try:
        yield drv
    finally:
        drv.gc([])  # type: ignore[attr-defined]


def attach(ns: Namespace, static_ip: str = "") -> Attachment:
    return Attachment(container_id=secrets.token_hex(32), container_name="t", netns=ns.path, static_ip=static_ip)


def test_a_static_address_is_honoured_and_bad_ones_refused(driver: object) -> None:
    namespaces = [Namespace() for _ in range(3)]
    try:
        wanted = str(ipaddress.IPv4Network(SUBNET).network_address + 77)
        first = attach(namespaces[0], wanted)
        assert driver.add(first).ips == [f"{wanted}/24"]  # type: ignore[attr-defined]
        assert wanted in namespaces[0].local_addresses()
        for bad, words in ((wanted, "already in use"), ("10.3.2.1", "not a free host address"),
                           (GATEWAY, "not a free host address"), ("nonsense", "invalid IP address")):
            att = attach(namespaces[1], bad)
            with pytest.raises(NetworkError) as err:
                driver.add(att)  # type: ignore[attr-defined]
            assert words in err.value.message and "\n" not in err.value.message and err.value.hint
            driver.delete(att)  # type: ignore[attr-defined]
        driver.delete(first)  # type: ignore[attr-defined]
        assert driver.add(attach(namespaces[2], wanted)).ips == [f"{wanted}/24"]  # type: ignore[attr-defined]
    finally:
        for ns in namespaces:
            ns.gone()


def test_a_subnet_the_host_routes_already_is_refused(tmp_path: Path) -> None:
    from pyroute2 import IPRoute

    subnet, dummy = free_subnet(), "capsatd" + secrets.token_hex(3)
    bridge = bridge_name()
    with IPRoute() as ipr:
        ipr.link("add", ifname=dummy, kind="veth", peer={"ifname": dummy + "p"})  # (no dummy module here)
        try:
            idx = ipr.link_lookup(ifname=dummy)[0]
            ipr.addr("add", index=idx, address=str(ipaddress.IPv4Network(subnet).network_address + 9), prefixlen=24)
            ipr.link("set", index=idx, state="up")
            ipr.link("set", index=ipr.link_lookup(ifname=dummy + "p")[0], state="up")
            drv = load_driver("network", "bridge", {"bridge": bridge, "subnet": subnet}, root=tmp_path / "r",
                              runroot=tmp_path / "rr")
            ns = Namespace()
            att = attach(ns)
            try:
                with pytest.raises(NetworkError) as err:
                    drv.add(att)  # type: ignore[attr-defined]
                assert f"subnet {subnet}" in err.value.message and f"already routed on this host (by {dummy})" in err.value.message
                drv.delete(att)  # type: ignore[attr-defined]
            finally:
                ns.gone()
            assert leftovers(bridge, subnet) == []  # nothing half-made
        finally:
            ipr.link("del", ifname=dummy)


def test_run_on_a_subnet_the_host_routes_fails_in_one_line_and_leaves_nothing(c: Capsa) -> None:
    from pyroute2 import IPRoute

    subnet, other, peer = free_subnet(), bridge_name(), "capsatd" + secrets.token_hex(3)
    with IPRoute() as ipr:
        ipr.link("add", ifname=peer, kind="veth", peer={"ifname": peer + "p"})
        try:
            idx = ipr.link_lookup(ifname=peer)[0]
            ipr.addr("add", index=idx, address=str(ipaddress.IPv4Network(subnet).network_address + 9), prefixlen=24)
            ipr.link("set", index=idx, state="up")
            ipr.link("set", index=ipr.link_lookup(ifname=peer + "p")[0], state="up")
            c.write_config(f'[network.options.bridge]\nbridge = "{other}"\nsubnet = "{subnet}"\n')
            try:
                r = c("run", "--rm", "--network", "bridge", "busybox", "true")
            finally:
                c.write_config(f'[network.options.bridge]\nbridge = "{BRIDGE}"\nsubnet = "{SUBNET}"\n')
            assert r.returncode == 126, r.stderr
            lines = r.stderr.strip().splitlines()
            assert f"subnet {subnet} of network capsa is already routed on this host (by {peer})" in lines[0], lines
            assert len([x for x in lines if x.startswith("Error")]) == 1
            assert c("ps", "-a", "-q").stdout == "" and leftovers(other, subnet) == []
        finally:
            ipr.link("del", ifname=peer)


def test_system_check_repair_collects_what_no_container_holds(c: Capsa) -> None:
    """A container whose monitor and reaping command were both killed leaves an address and a
    veth that no record names: ``system check --repair`` has every network driver ``gc`` them."""
    ns = Namespace()
    try:
        att = Attachment(container_id=secrets.token_hex(32), container_name="lost", netns=ns.path)
        driver_of(c).add(att)  # type: ignore[attr-defined]
    finally:
        ns.gone()
    assert len(on_bridge(BRIDGE)) == 1 and len(held(c)) == 1
    assert c("run", "-d", "--name", "alive", "--network", "bridge", "busybox", "sleep", "60").returncode == 0
    r = c("system", "check", "--repair")
    assert r.returncode == 0, r.stdout + r.stderr
    assert list(held(c)) == [address_of(c, "alive")] and len(on_bridge(BRIDGE)) == 1  # the running one stays


def test_system_check_finds_a_running_container_whose_veth_is_gone(c: Capsa) -> None:
    from pyroute2 import IPRoute

    assert c("run", "-d", "--name", "chk", "--network", "bridge", "busybox", "sleep", "60").returncode == 0
    assert c("system", "check").returncode == 0  # all in place
    [veth] = on_bridge(BRIDGE)
    with IPRoute() as ipr:
        ipr.link("del", ifname=veth)
    r = c("system", "check")
    assert r.returncode == 125 and "container chk" in r.stdout + r.stderr and f"veth {veth}" in r.stdout + r.stderr, r.stdout + r.stderr


def test_bridge_selected_in_capsa_toml_is_the_default_network_mode(c: Capsa) -> None:
    c.write_config(f'[network]\ndriver = "bridge"\n[network.options.bridge]\nbridge = "{BRIDGE}"\nsubnet = "{SUBNET}"\n')
    try:
        info = json.loads(c("info", "--format", "json").stdout)["drivers"]["network"]
        assert info["name"] == "bridge" and info["ready"] is True and BRIDGE in info["detail"]
        r = c("run", "--rm", "busybox", "ip", "route")
        assert r.returncode == 0 and f"default via {GATEWAY} dev eth0" in r.stdout, r.stdout + r.stderr
    finally:
        c.write_config(f'[network.options.bridge]\nbridge = "{BRIDGE}"\nsubnet = "{SUBNET}"\n')


def test_every_bridge_name_has_a_table_of_its_own() -> None:
    """nft names allow letters, digits and '_' only: the bridge names Linux allows map to table
    names one to one (``a-b`` and ``a_b`` must not share rules), and never to a ports table."""
    import re

    from capsa_net_bridge import firewall, ports

    names = ["a-b", "a_b", "a.b", "a__b", "a_2db", "capsa0", "p_" + "0" * 24]
    tables = [firewall.table_name(n) for n in names]
    assert len(set(tables)) == len(names) and all(re.fullmatch(r"capsa_[A-Za-z0-9_]+", t) for t in tables)
    assert ports.table_name("0" * 64) not in tables
    assert firewall.table_name("capsat1a2b") == "capsa_capsat1a2b"  # (what tests/nettest.py looks for)


def test_scripts_run_through_libnftables_or_the_nft_program_alike() -> None:
    """libnftables in-process (the fast way) and the nft program (where the library is
    missing) write the same table and refuse a bad script alike."""
    from capsa_net_bridge import firewall

    name = bridge_name()
    assert firewall._libnftables() is not None  # (nftables is installed by scripts/setup.sh)
    listings = []
    try:
        for library in (True, False):
            saved = firewall._LIB
            if not library:
                firewall._LIB = False  # (as where the library is missing)
            try:
                firewall.ensure(name, "10.199.250.0/24", False)
                assert firewall.present(name)
                listings.append(subprocess.run(["nft", "list", "table", "ip", firewall.table_name(name)],
                                               capture_output=True, text=True).stdout)
                with pytest.raises(NetworkError, match="^nft: "):
                    firewall._nft("add table ip bad-name!\n")
                firewall.remove(name)
                assert not firewall.present(name)
            finally:
                firewall._LIB = saved
    finally:
        firewall.remove(name)
    assert listings[0] == listings[1] and "masquerade" in listings[0]


def test_a_forked_child_in_another_namespace_gets_a_context_of_its_own() -> None:
    """The libnftables context (and its netlink socket) belongs to the process and namespace it
    was made in: a forked child that entered a network namespace of its own writes its table
    there, not into the parent's (the host's) ruleset."""
    import ctypes

    from capsa_net_bridge import firewall

    name = bridge_name()
    assert firewall._libnftables() is not None  # the parent's context, made first
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if ctypes.CDLL(None, use_errno=True).unshare(0x40000000) == 0:
                firewall.ensure(name, "10.199.251.0/24", False)
                code = 0 if firewall.present(name) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    try:
        assert os.waitstatus_to_exitcode(status) == 0
        assert not firewall.present(name)  # the host has no such table: it went with the child's namespace
    finally:
        firewall.remove(name)
