"""Published ports on the bridge driver, end to end: busybox listeners reached through
127.0.0.1 and through the test bridge's own gateway address (traffic only to loopback and to
what the test made), tcp and udp, ranges, -P, port/ps/inspect, bad input, and rules gone with
the container."""
from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Capsa
from containers import cleanup
from nettest import bridge_name, bridge_store, free_subnet

BRIDGE = bridge_name()
SUBNET = free_subnet()
GATEWAY = str(ipaddress.IPv4Network(SUBNET).network_address + 1)


def port_tables() -> list[str]:
    out = subprocess.run(["nft", "-j", "list", "tables", "ip"], capture_output=True, text=True).stdout
    return [t["table"]["name"] for t in json.loads(out or "{}").get("nftables", [])
            if "table" in t and t["table"]["name"].startswith("capsa_p_")]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    before = set(port_tables())
    for c in bridge_store(tmp_path_factory, "netports", BRIDGE, SUBNET):
        r = c("import", "-c", 'CMD ["/bin/sh"]', "-c", "EXPOSE 80 81/udp", str(c.tmp / "busybox.tar"), "exposing")
        assert r.returncode == 0, r.stderr
        yield c
    assert sorted(set(port_tables()) - before) == [], "a ports table is left"


@pytest.fixture
def c(store: Capsa) -> Iterator[Capsa]:
    before = set(port_tables())
    yield store
    assert cleanup(store) == []
    assert set(port_tables()) <= before, "a ports table is left"


def free_port(proto: str = "tcp") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(host: str, port: int, timeout: float = 10) -> bytes:
    """Connect (retrying while the listener starts) and read what the container sends."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=3) as s:
                data = s.recv(100)
                if data:
                    return data
        except OSError:
            pass
        assert time.monotonic() < deadline, f"nothing answered on {host}:{port}"
        time.sleep(0.2)


def server(c: Capsa, name: str, *flags: str, port: int = 80, text: str = "hello") -> None:
    # a loop: every connection gets its line (the test connects more than once)
    r = c("run", "-d", "--name", name, "--network", "bridge", *flags, "busybox", "sh", "-c",
          f"while true; do echo {text} | nc -l -p {port}; done")
    assert r.returncode == 0, r.stderr


def test_a_published_port_is_reached_via_loopback_and_the_gateway(c: Capsa) -> None:
    host = free_port()
    server(c, "web", "-p", f"{host}:80")
    assert fetch("127.0.0.1", host) == b"hello\n"
    assert fetch(GATEWAY, host) == b"hello\n"  # an address of this host that the test's network owns
    assert c("port", "web").stdout == f"80/tcp -> 0.0.0.0:{host}\n"
    assert c("port", "web", "80/tcp").stdout == f"0.0.0.0:{host}\n"
    ps = c("ps", "--format", "{{.Ports}}").stdout.strip()
    assert ps == f"0.0.0.0:{host}->80/tcp"
    doc = json.loads(c("inspect", "web").stdout)[0]
    assert doc["NetworkSettings"]["Ports"] == {"80/tcp": [{"HostIp": "", "HostPort": str(host)}]}
    cid = doc["Id"]
    assert f"capsa_p_{cid[:24]}" in port_tables()
    assert c("rm", "-f", "web").returncode == 0
    assert f"capsa_p_{cid[:24]}" not in port_tables()


def test_another_container_reaches_it_through_the_gateway(c: Capsa) -> None:
    """Hairpin: a container of the same network reaches the published port through the
    gateway's address. The server answers with the peer it sees (netstat): the gateway, as the
    hairpin masquerade makes it (without it the reply would bypass the host's conntrack where
    br_netfilter is not loaded; where it is, as here, only the source address tells)."""
    host = free_port()
    r = c("run", "-d", "--name", "hp", "--network", "bridge", "-p", f"{host}:80", "busybox", "sh", "-c",
          "while true; do nc -l -p 80 -e sh -c 'netstat -tn | grep \":80 \"'; done")
    assert r.returncode == 0, r.stderr
    fetch("127.0.0.1", host)
    r = c("run", "--rm", "--network", "bridge", "busybox", "sh", "-c", f"sleep 1 | nc {GATEWAY} {host}")
    assert r.returncode == 0 and r.stdout.strip(), (r.stdout, r.stderr)
    peer = r.stdout.split()[4].rsplit(":", 1)[0].removeprefix("::ffff:")
    assert peer == GATEWAY, r.stdout


def test_a_host_ip_of_127_0_0_1_publishes_on_loopback_only(c: Capsa) -> None:
    host = free_port()
    server(c, "lo", "-p", f"127.0.0.1:{host}:80")
    assert fetch("127.0.0.1", host) == b"hello\n"
    with pytest.raises(AssertionError):
        fetch(GATEWAY, host, timeout=1)
    assert c("port", "lo").stdout == f"80/tcp -> 127.0.0.1:{host}\n"


UDP_ECHO = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('', 53))\n"
            "while True:\n    d, a = s.recvfrom(100)\n    s.sendto(b'pong:' + d, a)\n")


def test_udp(c: Capsa) -> None:
    # busybox's nc has no -u: the host's python3 (its /usr bound read-only) answers datagrams
    host = free_port("udp")
    r = c("run", "-d", "--name", "udp", "--network", "bridge", "-p", f"{host}:53/udp", "-v", "/usr:/usr:ro",
          "-v", "/usr/lib:/lib:ro", "-v", "/usr/lib64:/lib64:ro", "busybox", "/usr/bin/python3", "-c", UDP_ECHO)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 15
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        while True:
            s.sendto(b"ping", ("127.0.0.1", host))
            try:
                assert s.recvfrom(100)[0] == b"pong:ping"
                break
            except (TimeoutError, ConnectionRefusedError, socket.timeout):
                assert time.monotonic() < deadline, "no answer: " + c("logs", "udp").stdout + c("logs", "udp").stderr
    assert c("port", "udp").stdout == f"53/udp -> 0.0.0.0:{host}\n"


def test_a_range(c: Capsa) -> None:
    base = free_port()
    ports = [base, base + 1]
    for p in ports:
        try:
            with socket.socket() as s:
                s.bind(("0.0.0.0", p))
        except OSError:
            pytest.skip("two consecutive free ports not found")
    r = c("run", "-d", "--name", "rng", "--network", "bridge", "-p", f"{base}-{base + 1}:80-81", "busybox", "sh", "-c",
          "(while true; do echo a | nc -l -p 80; done) & while true; do echo b | nc -l -p 81; done")
    assert r.returncode == 0, r.stderr
    assert fetch("127.0.0.1", base) == b"a\n" and fetch("127.0.0.1", base + 1) == b"b\n"
    assert c("ps", "--format", "{{.Ports}}").stdout.strip() == f"0.0.0.0:{base}-{base + 1}->80-81/tcp"


def test_publish_all_maps_the_exposed_ports(c: Capsa) -> None:
    r = c("run", "-d", "--name", "all", "--network", "bridge", "-P", "exposing", "sh", "-c",
          "while true; do echo exposed | nc -l -p 80; done")
    assert r.returncode == 0, r.stderr
    lines = c("port", "all").stdout.splitlines()
    assert [line.split(" -> ")[0] for line in lines] == ["80/tcp", "81/udp"]
    host = int(lines[0].rsplit(":", 1)[1])
    assert fetch("127.0.0.1", host) == b"exposed\n"


def test_bad_input_and_a_port_in_use_are_refused(c: Capsa) -> None:
    for spec, words in (("80x", "invalid port number"), ("70000:80", "between 1 and 65535"),
                        ("8000-8002:80-81", "different lengths"), ("80/sctp", "protocol")):
        r = c("run", "--rm", "--network", "bridge", "-p", spec, "busybox", "true")
        assert r.returncode == 125 and words in r.stderr and r.stderr.count("Error:") == 1, (spec, r.stderr)
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = c("create", "--network", "bridge", "-p", f"{port}:80", "busybox", "true")
        assert r.returncode == 125 and "address already in use" in r.stderr, r.stderr
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("0.0.0.0", 0))
        port = busy.getsockname()[1]
        r = c("create", "--network", "bridge", "-p", f"{port}:80/udp", "busybox", "true")
        assert r.returncode == 125 and "address already in use" in r.stderr, r.stderr
    assert c("ps", "-a", "-q").stdout == ""  # nothing made


def test_a_port_published_by_a_running_container_is_refused(c: Capsa) -> None:
    host = free_port()
    server(c, "first", "-p", f"{host}:80")
    r = c("run", "--rm", "--network", "bridge", "-p", f"{host}:80", "busybox", "true")
    assert r.returncode == 125 and "already published" in r.stderr, r.stderr


def test_one_host_port_on_two_host_addresses(c: Capsa) -> None:
    """127.0.0.1:P and 127.0.0.2:P are two sockets (both published, each reaching its own
    container); 0.0.0.0:P overlaps both and is refused, at create and at start alike."""
    host = free_port()
    assert c("create", "--name", "wild", "--network", "bridge", "-p", f"{host}:80", "busybox", "true").returncode == 0
    server(c, "one", "-p", f"127.0.0.1:{host}:80", text="one")
    server(c, "two", "-p", f"127.0.0.2:{host}:80", text="two")
    assert fetch("127.0.0.1", host) == b"one\n" and fetch("127.0.0.2", host) == b"two\n"
    r = c("run", "--rm", "--network", "bridge", "-p", f"{host}:80", "busybox", "true")
    assert r.returncode == 125 and "already published" in r.stderr, r.stderr
    assert c("rm", "-f", "two").returncode == 0
    r = c("start", "wild")  # (created before the others ran: the driver refuses it at start)
    assert r.returncode != 0 and f":{host}/tcp is already published by container" in r.stderr, r.stderr
    assert c("rm", "-f", "one", "wild").returncode == 0


def test_ports_of_a_container_killed_with_its_monitor_are_free_again(c: Capsa) -> None:
    """SIGKILL to the monitor and the container: nobody unpublished, but its veth is gone with
    its namespace; the next container publishing that port takes it over (no system check)."""
    import signal

    host = free_port()
    server(c, "killed", "-p", f"{host}:80", text="old")
    fetch("127.0.0.1", host)
    monitor, pid = (int(c("inspect", "--format", f"{{{{.State.{k}}}}}", "killed").stdout) for k in ("ConmonPid", "Pid"))
    os.kill(monitor, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    server(c, "heir", "-p", f"{host}:80", text="new")
    assert fetch("127.0.0.1", host) == b"new\n"


def test_starting_a_created_container_whose_port_was_taken_fails(c: Capsa) -> None:
    host = free_port()
    assert c("create", "--name", "later", "--network", "bridge", "-p", f"{host}:80", "busybox", "sleep", "60").returncode == 0
    server(c, "now", "-p", f"{host}:80")  # allowed: the created one does not run
    r = c("start", "later")
    assert r.returncode != 0 and "already published" in r.stderr, r.stderr
    assert c("rm", "-f", "now").returncode == 0
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", host))
        busy.listen()
        r = c("start", "later")
        assert r.returncode != 0 and "address already in use" in r.stderr, r.stderr
    assert c("start", "later").returncode == 0


def test_none_and_host_discard_ports_with_podmans_warning(c: Capsa) -> None:
    for mode in ("none", "host"):
        r = c("run", "--rm", "--network", mode, "-p", "18080:80", "busybox", "true")
        assert r.returncode == 0, r.stderr
        assert "Port mappings have been discarded" in r.stderr


def test_specs_parse_as_podmans() -> None:
    from capsa.container.ports import parse, ps_text

    assert parse(["127.0.0.1::80/udp"]) == [{"host_ip": "127.0.0.1", "host_port": 0, "container_port": 80, "protocol": "udp"}]
    assert parse(["0.0.0.0:8080:80"]) == [{"host_ip": "", "host_port": 8080, "container_port": 80, "protocol": "tcp"}]
    assert [m["host_port"] for m in parse(["8000-8002:80-82"])] == [8000, 8001, 8002]
    assert [m["container_port"] for m in parse(["80-81"])] == [80, 81]
    assert ps_text(parse(["9000:90", "8000-8001:80-81", "53:53/udp"])) == \
        "0.0.0.0:8000-8001->80-81/tcp, 0.0.0.0:9000->90/tcp, 0.0.0.0:53->53/udp"
