"""Network definitions (capsa.network): the records, the default network, names, options, and
the subnet choice, checked against the real host routing table and a dummy interface the test
adds (a test subnet, removed afterwards; no traffic is sent)."""
from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from capsa.errors import CapsaError, UsageError
from capsa.network import subnets
from capsa.network.definitions import (DEFAULT_NAME, DEFAULT_SUBNET, NetworkDefinition, NetworkNotFound, NetworkRecords,
                                       default_network, resolve)
from capsa.store.records import CorruptRecord

NONE: list[ipaddress.IPv4Network] = []  # "nothing routed on the host", for tests that are not about routes


@pytest.fixture
def records(tmp_path: Path) -> NetworkRecords:
    return NetworkRecords(tmp_path / "root")


def test_to_attachment_data_is_exactly_the_shared_shape(records: NetworkRecords) -> None:
    net, new = records.create("web", "10.123.1.0/24", "10.123.1.254", internal=True, labels={"a": "b"},
                              options={"mtu": "1400"}, routed=NONE)
    assert new
    data = net.to_attachment_data()
    assert data == {"name": "web", "id": net.id, "driver": "bridge", "bridge": "capsa1", "subnet": "10.123.1.0/24",
                    "gateway": "10.123.1.254", "internal": True, "labels": {"a": "b"}, "options": {"mtu": "1400"}}
    assert len(net.id) == 64 and int(net.id, 16) >= 0
    json.dumps(data)  # plain data
    assert records.stored() == [net]  # read back from the file as written
    on_disk = json.loads((records.file.path and Path(records.file.path)).read_text())
    assert on_disk[0]["name"] == "web" and on_disk[0]["created"] == net.created


def test_the_default_network_is_always_listed_and_comes_from_the_driver_options(tmp_path: Path) -> None:
    plain = NetworkRecords(tmp_path / "a")
    assert [n.name for n in plain.all()] == [DEFAULT_NAME]
    d = plain.default()
    assert (d.bridge, d.subnet, d.gateway, d.driver) == ("capsa0", "10.90.0.0/16", "10.90.0.1", "bridge")
    assert not (tmp_path / "a").exists()  # listing writes nothing
    configured = NetworkRecords(tmp_path / "b", {"bridge": "capsab", "subnet": "10.124.0.0/24"}).default()
    assert (configured.bridge, configured.subnet, configured.gateway) == ("capsab", "10.124.0.0/24", "10.124.0.1")
    assert configured.id == d.id  # the default network's id is fixed, as podman's
    with pytest.raises(UsageError):
        default_network({"subnet": "10.124.0.1/24"})
    with pytest.raises(UsageError, match="already used"):
        plain.create(DEFAULT_NAME, routed=NONE)


def test_no_subnet_picks_the_first_free_24_past_podman_docker_and_other_networks(records: NetworkRecords) -> None:
    first, _ = records.create("one", routed=NONE)
    assert first.subnet == "10.91.0.0/24"  # 10.90.0.0/16 is the default network's
    second, _ = records.create("two", routed=NONE)
    assert (second.subnet, second.gateway, second.bridge) == ("10.91.1.0/24", "10.91.1.1", "capsa2")
    routed = [ipaddress.ip_network("10.91.2.0/23")]
    third, _ = records.create("three", routed=routed)
    assert third.subnet == "10.91.4.0/24"
    for reserved in subnets.RESERVED:
        assert subnets.conflict(ipaddress.ip_network(reserved), {}, NONE)  # type: ignore[arg-type]
    assert "podman" in (subnets.conflict(ipaddress.ip_network("10.89.3.0/24"), {}, NONE) or "")  # type: ignore[arg-type]
    assert "docker" in (subnets.conflict(ipaddress.ip_network("172.16.0.0/12"), {}, NONE) or "")  # type: ignore[arg-type]
    every = [ipaddress.ip_network(n.subnet) for n in records.all()]
    assert not any(a.overlaps(b) for i, a in enumerate(every) for b in every[i + 1:])


@pytest.mark.parametrize("subnet, why", [
    ("10.88.5.0/24", "podman"), ("10.89.0.0/24", "podman"), ("172.17.3.0/24", "docker"),
    ("10.90.4.0/24", f"network {DEFAULT_NAME}"), ("10.123.0.0/16", "network mine"),
])
def test_a_given_subnet_that_overlaps_is_refused_in_one_line(records: NetworkRecords, subnet: str, why: str) -> None:
    records.create("mine", "10.123.9.0/24", routed=NONE)
    before = Path(records.file.path).read_bytes()
    with pytest.raises(UsageError) as err:
        records.create("other", subnet, routed=NONE)
    assert why in err.value.message and "\n" not in err.value.message
    assert Path(records.file.path).read_bytes() == before  # nothing half-made


@pytest.mark.parametrize("subnet, gateway, message", [
    ("10.123.0.0/33", None, "invalid subnet"), ("10.123.0.1/24", None, "invalid subnet"), ("nonsense", None, "invalid subnet"),
    ("fd00::/64", None, "IPv6"), ("10.123.0.0/31", None, "too small"),
    ("10.123.0.0/24", "10.123.1.1", "not in subnet"), ("10.123.0.0/24", "10.123.0.0", "not in subnet"),
    ("10.123.0.0/24", "10.123.0.255", "not in subnet"), ("10.123.0.0/24", "x", "invalid gateway"),
])
def test_bad_subnets_and_gateways(records: NetworkRecords, subnet: str, gateway: str | None, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        records.create("n", subnet, gateway, routed=NONE)
    assert records.stored() == []


def test_names_options_interface_names_and_ignore(records: NetworkRecords) -> None:
    for bad in ("", "-x", "a b", "a/b", "none", "host", "bridge", "x" * 129):
        with pytest.raises(UsageError):
            records.create(bad, routed=NONE)
    with pytest.raises(UsageError, match="unsupported bridge network option foo"):
        records.create("n", options={"foo": "1"}, routed=NONE)
    with pytest.raises(UsageError, match="mtu"):
        records.create("n", options={"mtu": "9"}, routed=NONE)
    with pytest.raises(UsageError, match="interface name"):
        records.create("n", interface_name="x" * 16, routed=NONE)
    a, _ = records.create("a", interface_name="capsatbr", routed=NONE)
    assert a.bridge == "capsatbr"
    with pytest.raises(UsageError, match="already used by another network"):
        records.create("b", interface_name="capsatbr", routed=NONE)
    with pytest.raises(UsageError, match="already exists"):
        records.create("a", routed=NONE)
    again, new = records.create("a", "10.123.3.0/24", ignore=True, routed=NONE)
    assert again == a and not new
    unnamed, _ = records.create(None, routed=NONE)
    assert unnamed.name == "capsa1"
    assert [n.name for n in records.stored()] == ["a", "capsa1"]


def test_find_by_name_id_and_prefix_and_resolve(records: NetworkRecords) -> None:
    net, _ = records.create("web", routed=NONE)
    assert records.find("web") == net and records.find(net.id) == net and records.find(net.id[:12]) == net
    with pytest.raises(NetworkNotFound) as err:
        records.find("nope")
    assert err.value.exit_code == 125 and "network not found" in err.value.message
    assert resolve("bridge", records) == ("bridge", None)
    assert resolve(DEFAULT_NAME, records) == ("bridge", None)  # the driver's own default network
    assert resolve("web", records) == ("bridge", net)
    assert resolve("container:abc", records) == ("container:abc", None)
    with pytest.raises(UsageError):
        resolve("container:", records)
    with pytest.raises(NetworkNotFound):
        resolve("nope", records)


def test_removing_and_a_corrupt_file(records: NetworkRecords) -> None:
    a, _ = records.create("a", routed=NONE)
    records.create("b", routed=NONE)
    records.remove(["b"])
    assert records.stored() == [a]
    Path(records.file.path).write_text("{torn")
    with pytest.raises(CorruptRecord):
        records.stored()
    with pytest.raises(CapsaError):
        records.create("c", routed=NONE)


def test_parallel_creates_never_share_a_subnet_or_a_bridge(tmp_path: Path) -> None:
    code = ("import sys\nfrom capsa.network.definitions import NetworkRecords\n"
            "r = NetworkRecords(sys.argv[1])\n"
            "for i in range(4):\n    r.create(f'{sys.argv[2]}-{i}', routed=[])\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "root"), f"p{n}"]) for n in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 4
    stored = NetworkRecords(tmp_path / "root").stored()
    assert len(stored) == 16
    assert len({n.subnet for n in stored}) == 16 and len({n.bridge for n in stored}) == 16 and len({n.id for n in stored}) == 16


# -- the real host's routes ----------------------------------------------------------------


def test_host_networks_reads_the_real_routing_table() -> None:
    from pyroute2 import IPRoute

    found = subnets.host_networks()
    with IPRoute() as ipr:
        expected = {ipaddress.ip_network(f"{r.get('dst')}/{r.get('dst_len')}", strict=False)
                    for r in ipr.get_routes(family=2, table=254) if r.get("dst") and r.get("dst_len")}
    assert expected <= set(found)
    chosen = subnets.choose({})
    assert not any(chosen.overlaps(n) for n in found)


@pytest.fixture
def dummy() -> Iterator[ipaddress.IPv4Network]:
    """A dummy interface ``capsat<random>`` (a bridge without ports where the kernel has no
    ``dummy`` links), up, with an address in a free test /24 of capsa's pool (so the kernel
    routes it in the main table); removed afterwards, even on failure."""
    if os.geteuid() != 0:
        pytest.skip("needs root (netlink)")
    from pyroute2 import IPRoute

    name = f"capsat{os.urandom(3).hex()}"
    net = subnets.choose({DEFAULT_SUBNET: "the default network"}, subnets.host_networks())
    with IPRoute() as ipr:
        try:
            ipr.link("add", ifname=name, kind="dummy")
        except Exception:  # (NetlinkError 95: no dummy module)
            ipr.link("add", ifname=name, kind="bridge")
        try:
            index = ipr.link_lookup(ifname=name)[0]
            ipr.addr("add", index=index, address=str(net.network_address + 1), prefixlen=net.prefixlen)
            ipr.link("set", index=index, state="up")
            yield net
        finally:
            for index in ipr.link_lookup(ifname=name):
                ipr.link("del", index=index)
    assert not os.path.exists(f"/sys/class/net/{name}")


def test_a_subnet_routed_on_the_host_is_never_chosen_nor_accepted(dummy: ipaddress.IPv4Network, records: NetworkRecords) -> None:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:  # the kernel routes it in the main table
        assert any(r.get("dst") == str(dummy.network_address) and r.get("dst_len") == 24
                   for r in ipr.get_routes(family=2, table=254))
    assert dummy in subnets.host_networks()
    net, _ = records.create("auto")  # reads the host's routes itself
    assert not ipaddress.ip_network(net.subnet).overlaps(dummy)
    with pytest.raises(UsageError) as err:
        records.create("given", str(dummy))
    assert "routed on the host" in err.value.message
    with pytest.raises(UsageError, match="already used"):
        records.create("wider", str(dummy.supernet(new_prefix=20)))
    assert [n.name for n in records.stored()] == ["auto"]


def test_definition_record_fields_load_from_another_version(records: NetworkRecords) -> None:
    Path(records.file.path).parent.mkdir(parents=True)
    Path(records.file.path).write_text(json.dumps([{"name": "old", "id": "a" * 64, "subnet": "10.123.5.0/24",
                                                     "gateway": "10.123.5.1", "future": 1}]))
    (old,) = records.stored()
    assert old == NetworkDefinition(name="old", id="a" * 64, subnet="10.123.5.0/24", gateway="10.123.5.1")
