"""``network connect`` / ``network disconnect``: a container joins a second user network (eth1,
no second default route), live while it runs or at its next start; it reaches the network's
containers by address and by name, and they reach it by its name and ``--alias``; disconnect
removes the interface and gives the address back; ``network rm`` refuses a network a container
is connected to (``-f`` removes the container); ``rm -f`` leaves nothing behind; bad input
changes nothing. Real bridges and namespaces; traffic only to the test's own containers."""
from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Capsa
from containers import busybox_store, cleanup
from nettest import bridge_name, free_subnet, leftovers, leftovers_settled, on_bridge

BRIDGE_A, SUBNET_A = bridge_name(), free_subnet()
BRIDGE_B, SUBNET_B = bridge_name(), free_subnet()
SERVE = "while true; do echo hello-from-$(hostname) | nc -l -p 8080; done"


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    gen = busybox_store(tmp_path_factory, "netconnect")  # (its default network: a bridge and subnet of its own)
    capsa = next(gen)
    try:
        for name, bridge, subnet in (("neta", BRIDGE_A, SUBNET_A), ("netb", BRIDGE_B, SUBNET_B)):
            r = capsa("network", "create", "--subnet", subnet, "--interface-name", bridge, name)
            assert r.returncode == 0, r.stderr
        yield capsa
    finally:
        cleanup(capsa)
        for name in ("neta", "netb"):
            capsa("network", "rm", "-f", name)
        gen.close()
        assert leftovers(BRIDGE_A, SUBNET_A) == [] and leftovers(BRIDGE_B, SUBNET_B) == []


@pytest.fixture
def fresh(c: Capsa) -> Iterator[Capsa]:
    """The store, with every container removed after the test (the networks stay)."""
    yield c
    assert cleanup(c) == []
    for bridge in (BRIDGE_A, BRIDGE_B):  # no veth of a removed container is left on a bridge
        assert on_bridge(bridge) == []


def ok(c: Capsa, *args: str) -> str:
    r = c(*args)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def networks(c: Capsa, name: str) -> dict[str, dict]:  # type: ignore[type-arg]
    return json.loads(ok(c, "inspect", name))[0]["NetworkSettings"]["Networks"]


def pid_of(c: Capsa, name: str) -> str:
    return ok(c, "inspect", "--format", "{{.State.Pid}}", name).strip()


def exec_sh(c: Capsa, name: str, script: str) -> str:
    """``script`` run in container ``name``'s network namespace (sharing its /etc/hosts)."""
    return ok(c, "run", "--rm", "--network", f"container:{name}", "busybox", "sh", "-c", script)


def reply(c: Capsa, name: str, target: str) -> str:
    """What container ``name`` gets from port 8080 of ``target`` (an address or a name)."""
    return exec_sh(c, name, f"for i in 1 2 3 4 5 6 7 8 9 10; do nc -w 2 {target} 8080 </dev/null && break; sleep 0.2; done")


def interfaces(c: Capsa, name: str) -> list[str]:
    """The interfaces in the container's network namespace (its /proc/PID/net/dev)."""
    lines = Path(f"/proc/{pid_of(c, name)}/net/dev").read_text().splitlines()[2:]
    return sorted(line.split(":")[0].strip() for line in lines)


def hosts(c: Capsa, name: str) -> list[str]:
    return Path(f"/proc/{pid_of(c, name)}/root/etc/hosts").read_text().splitlines()


def default_routes(c: Capsa, name: str) -> list[str]:
    """The interfaces of the container's default routes (from /proc/PID/net/route)."""
    lines = Path(f"/proc/{pid_of(c, name)}/net/route").read_text().splitlines()[1:]
    return [f.split()[0] for f in lines if f.split()[1] == "00000000"]


def in_subnet(address: str, subnet: str) -> bool:
    return bool(address) and ipaddress.IPv4Address(address) in ipaddress.IPv4Network(subnet)


def test_connect_a_running_container_then_disconnect_it(fresh: Capsa) -> None:
    c = fresh
    ok(c, "run", "-d", "--name", "one", "--hostname", "one", "--network", "neta", "busybox", "sh", "-c", SERVE)
    ok(c, "run", "-d", "--name", "peer", "--hostname", "peer", "--network", "netb", "busybox", "sh", "-c", SERVE)
    peer = networks(c, "peer")["netb"]["IPAddress"]
    assert interfaces(c, "one") == ["eth0", "lo"]
    assert c("network", "connect", "--alias", "uno", "netb", "one").returncode == 0
    nets = networks(c, "one")
    assert sorted(nets) == ["neta", "netb"]
    mine = nets["netb"]["IPAddress"]
    assert in_subnet(nets["neta"]["IPAddress"], SUBNET_A) and in_subnet(mine, SUBNET_B)
    assert nets["netb"]["Aliases"] == ["uno"] and nets["netb"]["MacAddress"]
    assert interfaces(c, "one") == ["eth0", "eth1", "lo"]
    assert default_routes(c, "one") == ["eth0"]  # the connected network adds its subnet only
    assert f"inet {mine}/24" in exec_sh(c, "one", "ip -4 addr show eth1")
    # one reaches peer on netb by address and by name; peer reaches one by name and alias
    assert "hello-from-peer" in reply(c, "one", peer)
    assert "hello-from-peer" in reply(c, "one", "peer")
    assert "hello-from-one" in reply(c, "peer", "one")
    assert "hello-from-one" in reply(c, "peer", "uno")
    assert f"{mine}\tone uno" in hosts(c, "peer")
    assert len(on_bridge(BRIDGE_B)) == 2

    assert c("network", "disconnect", "netb", "one").returncode == 0
    assert interfaces(c, "one") == ["eth0", "lo"]  # /sys/class/net/eth1 is gone inside
    assert sorted(networks(c, "one")) == ["neta"]
    assert not any(h.endswith("\tone uno") for h in hosts(c, "peer"))
    assert not any(h.endswith("\tpeer") for h in hosts(c, "one"))
    assert len(on_bridge(BRIDGE_B)) == 1
    # the address went back to the network's IPAM: another container can have it
    ok(c, "run", "-d", "--name", "third", "--network", "netb", "--ip", mine, "busybox", "sleep", "60")
    assert networks(c, "third")["netb"]["IPAddress"] == mine
    # connected again: eth1 again (the first free one), with a static address
    want = str(ipaddress.IPv4Network(SUBNET_B)[200])
    ok(c, "network", "connect", "--ip", want, "netb", "one")
    assert networks(c, "one")["netb"]["IPAddress"] == want
    assert f"inet {want}/24" in exec_sh(c, "one", "ip -4 addr show eth1")
    assert "hello-from-peer" in reply(c, "one", peer)


def test_connect_a_stopped_container_it_joins_at_each_start(fresh: Capsa) -> None:
    c = fresh
    ok(c, "run", "-d", "--name", "peer", "--hostname", "peer", "--network", "netb", "busybox", "sh", "-c", SERVE)
    ok(c, "create", "--name", "two", "--hostname", "two", "--network", "neta", "busybox", "sh", "-c", SERVE)
    ok(c, "network", "connect", "netb", "two")
    assert sorted(networks(c, "two")) == ["neta", "netb"]  # recorded; no address until it runs
    assert len(on_bridge(BRIDGE_B)) == 1  # peer's only
    for _ in range(2):  # its start, and a start after a stop: both interfaces each time
        r = c("start", "two", env={"CAPSA_MONITOR_HANDOFF": "0.2"})  # (stopped from the lean monitor)
        assert r.returncode == 0, r.stderr
        assert interfaces(c, "two") == ["eth0", "eth1", "lo"]
        assert default_routes(c, "two") == ["eth0"]
        nets = networks(c, "two")
        assert in_subnet(nets["neta"]["IPAddress"], SUBNET_A) and in_subnet(nets["netb"]["IPAddress"], SUBNET_B)
        assert "hello-from-peer" in reply(c, "two", "peer")
        assert "hello-from-two" in reply(c, "peer", "two")
        ok(c, "stop", "-t", "0", "two")
        assert len(on_bridge(BRIDGE_B)) == 1  # its veth went with the run
    ok(c, "network", "disconnect", "netb", "two")  # stopped: recorded only
    ok(c, "start", "two")
    assert interfaces(c, "two") == ["eth0", "lo"]


def test_a_restarted_container_keeps_its_connected_network(fresh: Capsa) -> None:
    """The monitor attaches the connected networks at each run of a restart policy too (each
    run handed to the lean monitor after 0.2 s, and back: the attachments go across)."""
    c = fresh
    ok(c, "create", "--name", "flaky", "--restart", "always", "--network", "neta", "busybox", "sh", "-c",
       "ls /sys/class/net; sleep 0.5")
    ok(c, "network", "connect", "netb", "flaky")
    r = c("start", "flaky", env={"CAPSA_MONITOR_HANDOFF": "0.2"})
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 20
    while int(ok(c, "inspect", "--format", "{{.RestartCount}}", "flaky").strip() or 0) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    logs = ok(c, "logs", "flaky").split()
    assert logs.count("eth1") >= 2 and logs.count("eth1") == logs.count("eth0"), logs
    ok(c, "rm", "-f", "flaky")
    assert on_bridge(BRIDGE_B) == []


def test_network_rm_refuses_a_connected_network_and_f_removes_the_container(c: Capsa) -> None:
    bridge, subnet = bridge_name(), free_subnet()
    try:
        ok(c, "network", "create", "--subnet", subnet, "--interface-name", bridge, "--label", "t=connect", "netc")
        ok(c, "run", "-d", "--name", "user", "--network", "neta", "busybox", "sleep", "60")
        ok(c, "network", "connect", "netc", "user")
        r = c("network", "rm", "netc")
        assert r.returncode == 2 and "user" in r.stderr and r.stderr.count("Error:") == 1, r.stderr
        assert ok(c, "network", "prune", "-f", "--filter", "label=t=connect") == ""  # in use: kept
        assert ok(c, "network", "rm", "-f", "netc") == "netc\n"
        assert c("container", "exists", "user").returncode == 1
        assert leftovers_settled(bridge, subnet) == []
    finally:
        c("network", "rm", "-f", "netc")
        assert cleanup(c) == []


def test_rm_f_of_a_connected_running_container_leaves_nothing(fresh: Capsa) -> None:
    c = fresh
    cid = ok(c, "run", "-d", "--name", "gone", "--network", "neta", "busybox", "sleep", "60").strip()
    ok(c, "network", "connect", "netb", "gone")
    assert len(on_bridge(BRIDGE_B)) == 1
    ok(c, "rm", "-f", "gone")
    for bridge in (BRIDGE_A, BRIDGE_B):
        assert on_bridge(bridge) == []
    book = Path(c.runroot, "network", "bridge", "ipam.json")
    assert cid not in (book.read_text() if book.exists() else "")


def one_line_error(r, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert r.returncode == 125, (r.returncode, r.stderr)
    assert r.stderr.count("Error:") == 1 and all(w in r.stderr for w in words), r.stderr


def test_bad_input_is_refused_in_one_line_and_changes_nothing(fresh: Capsa) -> None:
    c = fresh
    ok(c, "run", "-d", "--name", "bad", "--network", "neta", "busybox", "sleep", "60")
    ok(c, "create", "--name", "lone", "--network", "none", "busybox", "true")
    ok(c, "create", "--name", "hosty", "--network", "host", "busybox", "true")
    before = ok(c, "inspect", "bad")
    one_line_error(c("network", "connect", "nosuchnet", "bad"), "nosuchnet", "network not found")
    one_line_error(c("network", "connect", "netb", "nosuchcontainer"), "nosuchcontainer")
    one_line_error(c("network", "connect", "netb", "lone"), "none")
    one_line_error(c("network", "connect", "netb", "hosty"), "host")
    one_line_error(c("network", "connect", "neta", "bad"), "already connected")
    one_line_error(c("network", "connect", "--ip", "10.1.2.3", "netb", "bad"), "10.1.2.3", SUBNET_B)
    one_line_error(c("network", "connect", "--ip", "nonsense", "netb", "bad"), "nonsense")
    one_line_error(c("network", "connect", "--ip6", "fd00::5", "netb", "bad"), "--ip6")
    one_line_error(c("network", "connect", "--mac-address", "02:00:00:00:00:01", "netb", "bad"), "--mac-address")
    one_line_error(c("network", "connect", "--alias", "two words", "netb", "bad"), "--alias")
    one_line_error(c("network", "disconnect", "netb", "bad"), "not connected")
    assert ok(c, "inspect", "bad") == before
    assert interfaces(c, "bad") == ["eth0", "lo"]
    ok(c, "network", "connect", "netb", "bad")
    one_line_error(c("network", "connect", "netb", "bad"), "already connected")
    assert interfaces(c, "bad") == ["eth0", "eth1", "lo"]
    # an address another container holds: refused at once when running (nothing attached)...
    taken = networks(c, "bad")["netb"]["IPAddress"]
    ok(c, "run", "-d", "--name", "other", "--network", "neta", "busybox", "sleep", "60")
    r = c("network", "connect", "--ip", taken, "netb", "other")
    assert r.returncode == 125 and r.stderr.count("Error:") == 1 and taken in r.stderr, r.stderr
    assert interfaces(c, "other") == ["eth0", "lo"] and sorted(networks(c, "other")) == ["neta"]
    assert len(on_bridge(BRIDGE_B)) == 1
    # ...and at the next start for a stopped one: the start fails, nothing is left attached
    ok(c, "create", "--name", "later", "--network", "neta", "busybox", "sleep", "60")
    ok(c, "network", "connect", "--ip", taken, "netb", "later")
    r = c("start", "later")
    assert r.returncode != 0 and taken in r.stderr, r.stderr
    assert len(on_bridge(BRIDGE_A)) == 2  # bad's and other's
    assert len(on_bridge(BRIDGE_B)) == 1


def test_a_connect_racing_the_start_is_attached(fresh: Capsa) -> None:
    """A connect while the container starts either attaches live or is caught up by the
    monitor under the container's lock: once both returned, the container has eth1."""
    import concurrent.futures

    c = fresh
    for n in range(4):
        name = f"race{n}"
        ok(c, "create", "--name", name, "--network", "neta", "busybox", "sleep", "60")
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            start = pool.submit(c, "start", name)
            time.sleep(0.02 * n)
            connect = pool.submit(c, "network", "connect", "netb", name)
            assert start.result().returncode == 0, start.result().stderr
            assert connect.result().returncode == 0, connect.result().stderr
        assert interfaces(c, name) == ["eth0", "eth1", "lo"], name
        assert in_subnet(networks(c, name)["netb"]["IPAddress"], SUBNET_B)
        ok(c, "rm", "-f", name)
    assert on_bridge(BRIDGE_B) == []


def test_a_dead_monitor_releases_the_connected_networks(fresh: Capsa) -> None:
    import os
    import signal

    c = fresh
    cid = ok(c, "run", "-d", "--name", "orphan", "--network", "neta", "busybox", "sleep", "60").strip()
    ok(c, "network", "connect", "netb", "orphan")
    monitor, pid = (int(ok(c, "inspect", "--format", f"{{{{.State.{k}}}}}", "orphan")) for k in ("ConmonPid", "Pid"))
    os.kill(monitor, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    ok(c, "rm", "-f", "orphan")
    for bridge in (BRIDGE_A, BRIDGE_B):
        assert on_bridge(bridge) == []
    book = Path(c.runroot, "network", "bridge", "ipam.json")
    assert cid not in (book.read_text() if book.exists() else "")


def test_connect_the_default_network_and_system_check(fresh: Capsa) -> None:
    c = fresh
    ok(c, "run", "-d", "--name", "both", "--network", "neta", "busybox", "sleep", "60")
    ok(c, "network", "connect", "capsa", "both")
    nets = networks(c, "both")
    default = json.loads(ok(c, "network", "inspect", "capsa"))[0]
    assert sorted(nets) == ["capsa", "neta"] and in_subnet(nets["capsa"]["IPAddress"], default["subnets"][0]["subnet"])
    assert on_bridge(default["network_interface"]) and default["network_interface"] == c.bridge
    assert interfaces(c, "both") == ["eth0", "eth1", "lo"] and default_routes(c, "both") == ["eth0"]
    r = c("system", "check")
    assert r.returncode == 0 and "both" not in r.stdout + r.stderr, (r.stdout, r.stderr)
    from capsa_net_bridge import veth_name  # its host end, as the check looks for it

    from pyroute2 import IPRoute

    host_end = veth_name("capsa", json.loads(ok(c, "inspect", "both"))[0]["Id"])
    with IPRoute() as ipr:
        ipr.link("del", ifname=host_end)
    r = c("system", "check")
    assert r.returncode == 125 and "container both" in r.stdout + r.stderr and f"veth {host_end}" in r.stdout + r.stderr, r.stdout + r.stderr


def test_the_monitor_catches_up_with_a_connect_recorded_while_it_started(fresh: Capsa) -> None:
    """The race made deterministic: the monitor attached eth0 (its veth is on the bridge), read
    the record for the connected networks (none) and started the container (its command runs),
    and waits for the container's lock (held here) to record "running"; meanwhile, under that
    lock, the container is connected as ``network connect`` does for a container not running
    yet (the record only). The monitor must attach it once it has the lock."""
    import concurrent.futures
    import os

    from capsa.container import netconnect
    from capsa.container.records import ContainerRecords

    c = fresh
    records = ContainerRecords(c.root, c.runroot)
    netb = next(n for n in json.loads(ok(c, "network", "inspect", "netb")))
    entry = {"definition": {"name": "netb", "id": netb["id"], "driver": "bridge", "bridge": BRIDGE_B,
                            "subnet": SUBNET_B, "gateway": netb["subnets"][0]["gateway"], "internal": False,
                            "labels": {}, "options": {}}, "interface": "eth1", "static_ip": "", "aliases": []}
    caught = False
    for n in range(6):
        name = f"late{n}"
        marker = f"6{os.getpid()}{n}"
        cid = ok(c, "create", "--name", name, "--network", "neta", "busybox", "sleep", marker).strip()
        brif = Path(f"/sys/class/net/{BRIDGE_A}/brif")
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            start = pool.submit(c, "start", name)
            deadline = time.monotonic() + 10
            while not (brif.exists() and any(brif.iterdir())):  # eth0 attached: the monitor goes on
                assert time.monotonic() < deadline
                time.sleep(0.002)
            with records.lock(cid).exclusive():
                while records.state(cid).status != "running" and not started(marker):
                    assert time.monotonic() < deadline
                    time.sleep(0.002)
                if records.state(cid).status != "running":  # (else we came too late: try again)
                    config = records.config(cid)
                    netconnect.record(config, entry)
                    records.save_config(config)
                    caught = True
            assert start.result().returncode == 0, start.result().stderr
        if caught:
            assert interfaces(c, name) == ["eth0", "eth1", "lo"]
            assert in_subnet(networks(c, name)["netb"]["IPAddress"], SUBNET_B)
        ok(c, "rm", "-f", name)
        if caught:
            break
    assert caught, "the monitor was never caught between attaching eth0 and recording running"
    assert on_bridge(BRIDGE_B) == []


def started(marker: str) -> bool:
    """Whether a process ``sleep MARKER`` runs (a container's command, once started)."""
    import os

    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and Path(f"/proc/{pid}/cmdline").read_bytes() == f"sleep\0{marker}\0".encode():
                return True
        except OSError:
            pass
    return False


def test_published_ports_stay_with_the_first_network_across_connect_and_disconnect(fresh: Capsa) -> None:
    import socket

    from nettest import first_reply

    c = fresh
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ok(c, "run", "-d", "--name", "pub", "--hostname", "pub", "-p", f"{port}:8080", "--network", "neta", "busybox",
       "sh", "-c", SERVE)
    assert first_reply("127.0.0.1", port) == b"hello-from-pub\n"
    ok(c, "network", "connect", "netb", "pub")
    assert first_reply("127.0.0.1", port) == b"hello-from-pub\n"
    ok(c, "network", "disconnect", "netb", "pub")  # (the last on netb: its bridge goes too)
    assert leftovers(BRIDGE_B, SUBNET_B) == []  # (tidy: at once, by disconnect itself)
    assert first_reply("127.0.0.1", port) == b"hello-from-pub\n"  # its ports table is still there
    assert ok(c, "port", "pub").strip() == f"8080/tcp -> 0.0.0.0:{port}"


def test_disconnect_the_first_network_then_connect_it_again(fresh: Capsa) -> None:
    """As podman allows: the container's first network leaves it (eth0, its address, its
    published ports and names go); it keeps running with lo; later starts skip that network;
    the next network connected takes eth0 and the default route; ``network rm`` no longer
    counts the container as a user of it."""
    import socket

    c = fresh
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ok(c, "run", "-d", "--name", "first", "--network", "neta", "-p", f"{port}:8080", "busybox", "sh", "-c", SERVE)
    address = networks(c, "first")["neta"]["IPAddress"]
    assert in_subnet(address, SUBNET_A) and interfaces(c, "first") == ["eth0", "lo"]
    ok(c, "network", "disconnect", "neta", "first")
    assert interfaces(c, "first") == ["lo"] and networks(c, "first") == {}
    assert ok(c, "inspect", "--format", "{{.State.Status}}", "first").strip() == "running"
    assert leftovers_settled(BRIDGE_A, SUBNET_A) == []  # its last container left: bridge and table gone
    assert "capsa_p_" not in subprocess_out(["nft", "list", "tables"])  # its ports table too
    assert ok(c, "port", "first") == "" and ok(c, "ps", "--format", "{{.Ports}}").strip() == ""
    ok(c, "create", "--name", "heir", "-p", f"{port}:80", "busybox", "true")  # the host port is free again
    one_line_error(c("network", "disconnect", "neta", "first"), "not connected")
    ok(c, "network", "rm", "neta")  # first is no user of it any more...
    ok(c, "network", "create", "--subnet", SUBNET_A, "--interface-name", BRIDGE_A, "neta")  # (...and it is back)
    ok(c, "stop", "-t", "0", "first")
    ok(c, "start", "first")
    assert interfaces(c, "first") == ["lo"]  # a start skips the disconnected network
    assert exec_sh(c, "first", "cat /sys/class/net/lo/operstate").strip() in ("up", "unknown")  # lo is up
    ok(c, "network", "connect", "neta", "first")  # back, as eth0 with the default route
    assert interfaces(c, "first") == ["eth0", "lo"] and default_routes(c, "first") == ["eth0"]
    assert in_subnet(networks(c, "first")["neta"]["IPAddress"], SUBNET_A)
    ok(c, "network", "disconnect", "neta", "first")
    ok(c, "network", "connect", "netb", "first")  # any network takes the free eth0
    assert interfaces(c, "first") == ["eth0", "lo"] and default_routes(c, "first") == ["eth0"]
    assert set(networks(c, "first")) == {"netb"} and in_subnet(networks(c, "first")["netb"]["IPAddress"], SUBNET_B)
    assert "No problems found" in ok(c, "system", "check")


def subprocess_out(argv: list[str]) -> str:
    import subprocess

    return subprocess.run(argv, capture_output=True, text=True).stdout
