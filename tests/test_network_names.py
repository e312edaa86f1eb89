"""Names and addresses: ``--network container:NAME`` (joining a running container's network
namespace), ``--ip``, ``--hostname``, ``--add-host``, ``--dns*``, and containers on a user
network reaching each other by name and ``--network-alias`` (managed /etc/hosts). Traffic
only between containers the test made (and loopback inside them)."""
from __future__ import annotations

import ipaddress
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Capsa
from nettest import bridge_name, bridge_store, free_subnet

DEFAULT_BRIDGE = bridge_name()
DEFAULT_SUBNET = free_subnet()
BRIDGE = bridge_name()
SUBNET = free_subnet()


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    yield from bridge_store(tmp_path_factory, "netnames", DEFAULT_BRIDGE, DEFAULT_SUBNET, {"namesnet": (BRIDGE, SUBNET)})


def inspect(c: Capsa, fmt: str, name: str) -> str:
    r = c("inspect", "--format", fmt, name)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_container_network_joins_a_running_containers_namespace(c: Capsa) -> None:
    assert c("run", "-d", "--name", "ja", "--network", "bridge", "busybox", "sh", "-c",
             "echo hello-shared | nc -l -p 7070 127.0.0.1; sleep 60").returncode == 0
    address = inspect(c, "{{.NetworkSettings.IPAddress}}", "ja")
    assert ipaddress.IPv4Address(address) in ipaddress.IPv4Network(DEFAULT_SUBNET)
    r = c("run", "--rm", "--network", "container:ja", "busybox", "sh", "-c",
          "ip -4 addr show eth0; for i in 1 2 3 4 5 6 7 8 9 10; do nc 127.0.0.1 7070 && break; sleep 0.2; done")
    assert r.returncode == 0, r.stderr
    assert f"inet {address}/" in r.stdout  # A's eth0, in B
    assert "hello-shared" in r.stdout  # A's listener on loopback, reached from B
    assert inspect(c, "{{.HostConfig.NetworkMode}}", "ja") == "bridge"
    assert c("run", "-d", "--name", "jb", "--network", "container:ja", "busybox", "sleep", "60").returncode == 0
    assert inspect(c, "{{.HostConfig.NetworkMode}}", "jb").startswith("container:")
    r = c("rm", "-f", "ja")  # jb depends on it
    assert r.returncode == 125 and "has dependent containers which must be removed before it" in r.stderr, r.stderr
    assert c("rm", "-f", "ja", "jb").returncode == 0  # (the dependent first)
    assert c("ps", "-a", "-q").stdout.strip() == ""


def test_a_joiner_restarted_by_its_policy_joins_the_targets_current_namespace(c: Capsa) -> None:
    """The target ran again (a new process, a new namespace) before the joiner's restart: the
    joiner joins the target's namespace of now, not the one its last start named by pid."""
    assert c("run", "-d", "--name", "tgt", "--network", "bridge", "busybox", "sleep", "120").returncode == 0
    assert c("run", "-d", "--name", "jnr", "--restart", "always", "--network", "container:tgt",
             "busybox", "sleep", "3").returncode == 0
    old_ns = os.readlink(f"/proc/{inspect(c, '{{.State.Pid}}', 'tgt')}/ns/net")
    assert c("stop", "-t", "0", "tgt").returncode == 0 and c("start", "tgt").returncode == 0
    new_ns = os.readlink(f"/proc/{inspect(c, '{{.State.Pid}}', 'tgt')}/ns/net")
    assert new_ns != old_ns
    deadline = time.monotonic() + 15
    while inspect(c, "{{.RestartCount}}", "jnr") in ("", "0") or inspect(c, "{{.State.Status}}", "jnr") != "running":
        assert time.monotonic() < deadline, inspect(c, "{{.State.Error}}", "jnr")
        time.sleep(0.2)
    assert os.readlink(f"/proc/{inspect(c, '{{.State.Pid}}', 'jnr')}/ns/net") == new_ns
    assert c("rm", "-f", "jnr", "tgt").returncode == 0


def test_container_network_needs_a_running_target(c: Capsa) -> None:
    assert c("create", "--name", "jstopped", "busybox", "true").returncode == 0
    r = c("run", "--rm", "--network", "container:jstopped", "busybox", "true")
    assert r.returncode == 125
    assert r.stderr.strip().startswith("Error: cannot join the network namespace of container jstopped")
    r = c("run", "--rm", "--network", "container:nosuchone", "busybox", "true")
    assert r.returncode == 125
    r = c("create", "--network", "container:jstopped", "--add-host", "a:10.1.2.3", "busybox", "true")
    assert r.returncode == 125 and "conflicting options: add-host and the network mode" in r.stderr, r.stderr
    assert c("ps", "-a", "--format", "{{.Names}}").stdout.split() == ["jstopped"]
    assert c("rm", "jstopped").returncode == 0


def test_static_ip_hostname_add_host_and_own_address_in_hosts(c: Capsa) -> None:
    address = str(ipaddress.IPv4Network(DEFAULT_SUBNET)[77])
    r = c("run", "--rm", "--network", "bridge", "--ip", address, "--hostname", "box1", "--name", "named1",
          "--add-host", "db.example:10.1.2.3", "--add-host", "a;b:fd00::5", "busybox", "sh", "-c",
          "hostname; ip -4 addr show eth0; cat /etc/hosts")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "box1"
    assert f"inet {address}/" in r.stdout
    assert "10.1.2.3\tdb.example" in lines and "fd00::5\ta b" in lines
    assert f"{address}\tbox1 named1" in lines  # its own line has its address (written after add)


def test_dns_flags_make_resolv_conf(c: Capsa) -> None:
    r = c("run", "--rm", "--network", "bridge", "--dns", "10.1.2.53", "--dns", "10.1.2.54", "--dns-search",
          "corp.example", "--dns-option", "ndots:3", "busybox", "cat", "/etc/resolv.conf")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [line for line in lines if line.startswith("nameserver")] == ["nameserver 10.1.2.53", "nameserver 10.1.2.54"]
    assert "search corp.example" in lines and "options ndots:3" in lines
    assert c("create", "--name", "dnsrec", "--dns", "10.1.2.53", "--add-host", "h:10.1.2.3", "busybox", "true").returncode == 0
    assert inspect(c, "{{.HostConfig.Dns}} {{.HostConfig.ExtraHosts}}", "dnsrec") == "[10.1.2.53] [h:10.1.2.3]"
    assert c("rm", "dnsrec").returncode == 0
    r = c("run", "--rm", "--network", "bridge", "busybox", "cat", "/etc/resolv.conf")  # default: no loopback server
    assert r.returncode == 0 and "nameserver 127." not in r.stdout and "nameserver" in r.stdout, r.stdout


@pytest.mark.parametrize("flags, words", [
    (["--network", "bridge", "--ip", "10.1.2.300"], "is not an IP address"),
    (["--network", "bridge", "--ip", "192.0.2.7"], "is not a free host address of subnet"),
    (["--network", "none", "--ip", "10.1.2.3"], "--ip cannot be used with --network none"),
    (["--add-host", "nocolon"], "invalid add-host"),
    (["--add-host", "h:1.2.3"], "invalid IP address in add-host"),
    (["--dns", "example.com"], "is not an IP address"),
    (["--network", "container:nosuch", "--dns", "10.1.2.3"], "no such container"),
    (["--dns-option", "a b"], "invalid --dns-option"),
])
def test_bad_names_and_addresses_are_refused(c: Capsa, flags: list[str], words: str) -> None:
    r = c("run", "--rm", *flags, "busybox", "true")
    assert r.returncode == 125, r.stderr
    assert words in r.stderr and r.stderr.count("Error:") == 1, r.stderr
    assert c("ps", "-a", "-q").stdout.strip() == ""


def test_containers_on_a_user_network_reach_each_other_by_name_and_alias(c: Capsa) -> None:
    assert c("network", "create", "--subnet", SUBNET, "--interface-name", BRIDGE, "namesnet").returncode == 0
    assert c("run", "-d", "--name", "web", "--network", "namesnet", "--network-alias", "www", "busybox", "sh", "-c",
             "while true; do echo hello-by-name | nc -l -p 8080; done").returncode == 0
    assert c("run", "-d", "--name", "peer", "--network", "namesnet", "busybox", "sleep", "60").returncode == 0
    web, peer = inspect(c, "{{.NetworkSettings.IPAddress}}", "web"), inspect(c, "{{.NetworkSettings.IPAddress}}", "peer")
    for alias in ("web", "www"):
        r = c("run", "--rm", "--network", "namesnet", "busybox", "sh", "-c",
              f"cat /etc/hosts; for i in 1 2 3 4 5 6 7 8 9 10; do nc -w 2 {alias} 8080 && break; sleep 0.2; done")
        assert r.returncode == 0, r.stderr
        assert f"{web}\tweb www" in r.stdout.splitlines() and "hello-by-name" in r.stdout, r.stdout
    web_hosts = Path(f"/proc/{inspect(c, '{{.State.Pid}}', 'web')}/root/etc/hosts")  # as web sees it
    assert f"{peer}\tpeer" in web_hosts.read_text().splitlines()  # the newcomer was added to the running one's
    assert c("rm", "-f", "peer").returncode == 0
    assert "\tpeer" not in web_hosts.read_text()  # and removed when it went
    r = c("run", "--rm", "--network", "bridge", "busybox", "cat", "/etc/hosts")  # the default network: no names
    assert "\tweb" not in r.stdout, r.stdout
    assert c("rm", "-f", "web").returncode == 0
    assert list((c.runroot / "netnames").glob("namesnet.*")) == []  # the last member took the book along


def test_parallel_starts_on_a_user_network_all_know_each_other(c: Capsa) -> None:
    import concurrent.futures

    assert c("network", "create", "--subnet", free_subnet(), "--interface-name", bridge_name(), "parnet").returncode == 0
    try:
        names = [f"par{i}" for i in range(4)]
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            runs = list(pool.map(lambda n: c("run", "-d", "--name", n, "--network", "parnet", "busybox", "sleep", "60"), names))
        assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
        addresses = {n: inspect(c, "{{.NetworkSettings.IPAddress}}", n) for n in names}
        for n in names:
            lines = Path(f"/proc/{inspect(c, '{{.State.Pid}}', n)}/root/etc/hosts").read_text().splitlines()
            for other in names:
                if other != n:
                    assert f"{addresses[other]}\t{other}" in lines, (n, lines)
        # one whose monitor died: its line goes when it is reaped
        monitor, pid = (int(inspect(c, f"{{{{.State.{k}}}}}", "par0")) for k in ("ConmonPid", "Pid"))
        os.kill(monitor, signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        assert c("rm", "-f", "par0").returncode == 0
        hosts = Path(f"/proc/{inspect(c, '{{.State.Pid}}', 'par1')}/root/etc/hosts").read_text()
        assert "\tpar0" not in hosts, hosts
    finally:
        assert c("network", "rm", "-f", "parnet").returncode == 0
        assert list((c.runroot / "netnames").glob("parnet.*")) == []


def test_the_own_line_follows_the_address_of_each_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """First run: 127.0.0.1 becomes the address; a restart on another address replaces it."""
    from capsa.container.netnames import set_own_address

    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1\tlocalhost\n127.0.0.1\tweb web.local\n10.1.2.3\tother\n")
    inode = hosts.stat().st_ino
    set_own_address(str(hosts), "web web.local", "10.9.0.2")
    assert hosts.read_text() == "127.0.0.1\tlocalhost\n10.9.0.2\tweb web.local\n10.1.2.3\tother\n"
    set_own_address(str(hosts), "web web.local", "10.9.0.7")
    assert hosts.read_text() == "127.0.0.1\tlocalhost\n10.9.0.7\tweb web.local\n10.1.2.3\tother\n"
    assert hosts.stat().st_ino == inode  # rewritten in place: it is bind-mounted
