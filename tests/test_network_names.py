"""Names and addresses: ``--network container:NAME`` (joining a running container's network
namespace), ``--ip``, ``--hostname``, ``--add-host``, ``--dns*``, and containers on a user
network reaching each other by name and ``--network-alias`` (managed /etc/hosts). Traffic
only between containers the test made (and loopback inside them)."""
from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest

from capsa.drivers import load_driver
from conftest import Capsa
from containers import busybox_store, cleanup
from nettest import bridge_name, free_subnet, leftovers

DEFAULT_BRIDGE = bridge_name()
DEFAULT_SUBNET = free_subnet()
BRIDGE = bridge_name()
SUBNET = free_subnet()


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    config = f'[network.options.bridge]\nbridge = "{DEFAULT_BRIDGE}"\nsubnet = "{DEFAULT_SUBNET}"\n'
    gen = busybox_store(tmp_path_factory, "netnames", config)
    capsa = next(gen)
    try:
        yield capsa
    finally:
        cleanup(capsa)
        capsa("network", "rm", "-f", "namesnet")
        load_driver("network", "bridge", {"bridge": DEFAULT_BRIDGE, "subnet": DEFAULT_SUBNET}, root=capsa.root,
                    runroot=capsa.runroot).remove_network({})  # type: ignore[attr-defined]
        gen.close()
        assert leftovers(BRIDGE, SUBNET) == [] and leftovers(DEFAULT_BRIDGE, DEFAULT_SUBNET) == []


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
    assert c("rm", "-f", "ja").returncode == 0


def test_container_network_needs_a_running_target(c: Capsa) -> None:
    assert c("create", "--name", "jstopped", "busybox", "true").returncode == 0
    r = c("run", "--rm", "--network", "container:jstopped", "busybox", "true")
    assert r.returncode == 125
    assert r.stderr.strip().startswith("Error: cannot join the network namespace of container jstopped")
    r = c("run", "--rm", "--network", "container:nosuchone", "busybox", "true")
    assert r.returncode == 125
    assert c("ps", "-a", "--format", "{{.Names}}").stdout.split() == ["jstopped"]
    assert c("rm", "jstopped").returncode == 0
