"""A user network end to end: `network create` (a test-only bridge name and subnet), containers
run on it get addresses in its subnet on its bridge and reach each other, the host reaches
them; a container whose monitor died is released from the right network; `network rm -f`
removes the containers, the bridge and its firewall table. Traffic only between the test and
the containers it made."""
from __future__ import annotations

import ipaddress
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Capsa
from nettest import address_of, bridge_name, bridge_store, first_reply, free_subnet, leftovers, leftovers_settled, on_bridge

DEFAULT_BRIDGE = bridge_name()  # the default network's, never used here but kept off capsa0
BRIDGE = bridge_name()
SUBNET = free_subnet()


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    yield from bridge_store(tmp_path_factory, "netuser", DEFAULT_BRIDGE, free_subnet(), {"usernet": (BRIDGE, SUBNET)})


def test_containers_on_a_user_network(c: Capsa) -> None:
    r = c("network", "create", "--subnet", SUBNET, "--interface-name", BRIDGE, "usernet")
    assert r.returncode == 0, r.stderr
    assert c("run", "-d", "--name", "srv", "--network", "usernet", "busybox", "sh", "-c",
             "echo hello-from-usernet | nc -l -p 8080").returncode == 0
    target = address_of(c, "srv")
    assert ipaddress.IPv4Address(target) in ipaddress.IPv4Network(SUBNET)
    assert len(on_bridge(BRIDGE)) == 1  # its veth is on the network's bridge
    table = table_of(BRIDGE)  # packets from the bridge to 127.0.0.0/8 are dropped before routing
    assert "hook prerouting priority raw" in table and 'iifname "%s" ip daddr 127.0.0.0/8 drop' % BRIDGE in table
    assert first_reply(target, 8080) == b"hello-from-usernet\n"
    assert c("run", "-d", "--name", "srv2", "--network", "usernet", "busybox", "sh", "-c",
             "echo hello-from-srv2 | nc -l -p 8081").returncode == 0
    second = address_of(c, "srv2")
    deadline = time.monotonic() + 10
    while True:  # a container reaches another on the network (the reply proves it)
        r = c("run", "--rm", "--network", "usernet", "busybox", "sh", "-c", f"nc -w 2 {second} 8081 </dev/null")
        if "hello-from-srv2" in r.stdout:
            break
        assert time.monotonic() < deadline, (r.stdout, r.stderr)
        time.sleep(0.2)


def table_of(bridge: str) -> str:
    import subprocess

    r = subprocess.run(["nft", "list", "table", "ip", "capsa_" + bridge], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_an_internal_network_forwards_nothing_beyond_its_bridge(c: Capsa) -> None:
    bridge, subnet = bridge_name(), free_subnet()
    try:
        assert c("network", "create", "--internal", "--subnet", subnet, "--interface-name", bridge, "inner").returncode == 0
        r = c("run", "-d", "--name", "innerc", "--network", "inner", "busybox", "sleep", "60")
        assert r.returncode == 0, r.stderr
        table = table_of(bridge)
        assert 'iifname "%s" oifname != "%s" drop' % (bridge, bridge) in table and "masquerade" not in table
        assert c("rm", "-f", "innerc").returncode == 0
        assert leftovers_settled(bridge, subnet) == []  # the last container took the bridge and its table along
    finally:
        c("network", "rm", "-f", "inner")
        assert leftovers(bridge, subnet) == []


def test_a_host_bridge_a_network_names_is_never_deleted(c: Capsa) -> None:
    """``network create --interface-name BR`` of a bridge the host has: containers use it, and
    when the last goes only what capsa added (its gateway address, its table) goes with it."""
    from pyroute2 import IPRoute

    bridge, subnet = bridge_name(), free_subnet()
    gateway = str(ipaddress.IPv4Network(subnet).network_address + 1)
    with IPRoute() as ipr:
        ipr.link("add", ifname=bridge, kind="bridge")
    try:
        assert c("network", "create", "--subnet", subnet, "--interface-name", bridge, "hostbr").returncode == 0
        r = c("run", "-d", "--name", "onhost", "--network", "hostbr", "busybox", "sleep", "60")
        assert r.returncode == 0, r.stderr
        assert addresses(bridge) == [f"{gateway}/24"]
        assert c("rm", "-f", "onhost").returncode == 0
        assert leftovers_settled(bridge, subnet, wait=3) == [f"bridge {bridge}"]  # the host's bridge stays (no table, no veth)
        assert addresses(bridge) == []  # capsa's address went
        assert c("network", "rm", "hostbr").returncode == 0
        assert Path(f"/sys/class/net/{bridge}").exists()
    finally:
        c("network", "rm", "-f", "hostbr")
        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=bridge)
            if found:
                ipr.link("del", index=found[0])


def test_a_bridge_capsa_made_goes_with_network_rm_even_if_its_marker_was_lost(c: Capsa) -> None:
    """The marker that says capsa made a bridge lives in the runroot; the bridge's alias is
    the kernel's own record of it: ``network rm`` removes the bridge without the marker too."""
    bridge, subnet = bridge_name(), free_subnet()
    assert c("network", "create", "--subnet", subnet, "--interface-name", bridge, "lostmark").returncode == 0
    try:
        assert c("run", "-d", "--name", "lm", "--network", "lostmark", "busybox", "sleep", "60").returncode == 0
        (c.runroot / "network" / "bridge" / f"firewall-{bridge}").unlink()
        assert c("rm", "-f", "lm").returncode == 0
        assert c("network", "rm", "lostmark").returncode == 0
        assert leftovers_settled(bridge, subnet) == []
    finally:
        c("network", "rm", "-f", "lostmark")


def addresses(interface: str) -> list[str]:
    """The IPv4 addresses of a host interface, as ADDRESS/PREFIX."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=interface)[0]
        return [f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.get_addr(index=index, family=2)]


def test_a_container_whose_monitor_died_is_released_from_its_network(c: Capsa) -> None:
    assert c("run", "-d", "--name", "orph", "--network", "usernet", "busybox", "sleep", "60").returncode == 0
    ports_before = on_bridge(BRIDGE)
    monitor = int(c("inspect", "--format", "{{.State.ConmonPid}}", "orph").stdout)
    pid = int(c("inspect", "--format", "{{.State.Pid}}", "orph").stdout)
    os.kill(monitor, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    assert c("rm", "-f", "orph").returncode == 0
    assert len(on_bridge(BRIDGE)) == len(ports_before) - 1  # its veth went, from the right bridge


def test_network_rm_f_removes_containers_bridge_and_firewall_table(c: Capsa) -> None:
    assert c("run", "-d", "--name", "last", "--network", "usernet", "busybox", "sleep", "60").returncode == 0
    assert leftovers(BRIDGE, SUBNET)  # the bridge and its table exist
    r = c("network", "rm", "-f", "usernet")
    assert r.returncode == 0, r.stderr
    assert leftovers(BRIDGE, SUBNET) == []
    assert c("ps", "-a", "-q").stdout.strip() == ""
