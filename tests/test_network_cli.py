"""``capsa network create|ls|inspect|rm|prune`` and ``--network NAME`` for run/create, through
the real CLI (podman 4.3's flags and output shapes; bad input: exit 125, one line, nothing
left half-made). Subnets are given from 10.12x test ranges or chosen by capsa (never routed on
the host); no interface is created and no traffic is sent."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Capsa


def ok(capsa: Capsa, *args: str) -> str:
    r = capsa(*args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def refused(capsa: Capsa, *args: str, code: int = 125) -> str:
    r = capsa(*args)
    assert r.returncode == code, (r.stdout, r.stderr)
    first = r.stderr.splitlines()[0]
    assert first.startswith("Error: ") and r.stdout == ""
    return first


def names(capsa: Capsa) -> list[str]:
    return ok(capsa, "network", "ls", "-q").split()


def test_ls_shows_the_default_network_in_podmans_shape(capsa: Capsa) -> None:
    (Path(capsa.env["XDG_CONFIG_HOME"]) / "capsa" / "capsa.toml").unlink()  # capsa's own defaults (the tests' differ)
    lines = ok(capsa, "network", "ls").splitlines()
    assert lines[0].split() == ["NETWORK", "ID", "NAME", "DRIVER"]
    assert lines[1].split()[1:] == ["capsa", "bridge"] and len(lines[1].split()[0]) == 12
    assert names(capsa) == ["capsa"]
    assert len(ok(capsa, "network", "ls", "--no-trunc").splitlines()[1].split()[0]) == 64
    doc = json.loads(ok(capsa, "network", "inspect", "capsa"))[0]
    assert (doc["name"], doc["driver"], doc["network_interface"]) == ("capsa", "bridge", "capsa0")
    assert doc["subnets"] == [{"subnet": "10.90.0.0/16", "gateway": "10.90.0.1"}]
    capsa.write_config('[network.options.bridge]\nbridge = "capsatx"\nsubnet = "10.125.0.0/24"\n')
    doc = json.loads(ok(capsa, "network", "inspect", "capsa"))[0]
    assert doc["network_interface"] == "capsatx" and doc["subnets"][0]["subnet"] == "10.125.0.0/24"


def test_create_inspect_ls_formats_and_filters(capsa: Capsa) -> None:
    assert ok(capsa, "network", "create", "--subnet", "10.126.3.0/24", "--label", "team=a", "--internal",
              "--opt", "mtu=1400", "web") == "web\n"
    assert ok(capsa, "network", "create", "db") == "db\n"
    (doc,) = json.loads(ok(capsa, "network", "inspect", "web"))
    assert list(doc) == ["name", "id", "driver", "network_interface", "created", "subnets", "ipv6_enabled", "internal",
                         "dns_enabled", "labels", "options", "ipam_options"]
    assert doc["subnets"] == [{"subnet": "10.126.3.0/24", "gateway": "10.126.3.1"}]
    assert (doc["internal"], doc["ipv6_enabled"], doc["labels"], doc["options"]) == (True, False, {"team": "a"}, {"mtu": "1400"})
    assert doc["network_interface"] == "capsa1" and len(doc["id"]) == 64
    (db,) = json.loads(ok(capsa, "network", "inspect", "db"))
    assert db["network_interface"] == "capsa2" and db["subnets"][0]["subnet"].endswith(".0/24") and "labels" not in db
    assert [d["name"] for d in json.loads(ok(capsa, "network", "inspect", db["id"][:12], "web"))] == ["db", "web"]
    assert ok(capsa, "network", "inspect", "-f", "{{.Name}} {{.NetworkInterface}} {{.Internal}}", "web") == "web capsa1 true\n"
    assert names(capsa) == ["capsa", "db", "web"]
    assert [capsa("network", "exists", n).returncode for n in ("web", "capsa", db["id"], "nope")] == [0, 0, 0, 1]
    assert ok(capsa, "network", "ls", "--format", "{{.Name}}:{{.Driver}}") == "capsa:bridge\ndb:bridge\nweb:bridge\n"
    assert ok(capsa, "network", "ls", "--format", "{{.ID}}", "--filter", "name=^w").strip() == doc["id"][:12]
    assert ok(capsa, "network", "ls", "-q", "--filter", "label=team=a") == "web\n"
    assert ok(capsa, "network", "ls", "-q", "-f", "label=team") == "web\n"
    assert ok(capsa, "network", "ls", "-q", "--filter", "driver=bridge", "--filter", "name=d") == "db\n"
    assert ok(capsa, "network", "ls", "-q", "--filter", f"id={db['id'][:5]}") == "db\n"
    assert [d["name"] for d in json.loads(ok(capsa, "network", "ls", "--format", "json"))] == ["capsa", "db", "web"]
    assert refused(capsa, "network", "ls", "--filter", "colour=red").startswith("Error: invalid filter")
    assert ok(capsa, "network", "create", "--ignore", "--subnet", "10.126.9.0/24", "web") == "web\n"
    assert json.loads(ok(capsa, "network", "inspect", "web"))[0]["id"] == doc["id"]  # unchanged
    assert ok(capsa, "network", "create", "--interface-name", "capsatif", "if") == "if\n"
    assert json.loads(ok(capsa, "network", "inspect", "if"))[0]["network_interface"] == "capsatif"


@pytest.mark.parametrize("args, message", [
    (("--subnet", "10.126.4.0/24", "web"), "network name web already used"),
    (("--subnet", "10.126.3.128/25", "x"), "subnet 10.126.3.128/25 is already used: it overlaps 10.126.3.0/24 (network web)"),
    (("--subnet", "10.88.1.0/24", "x"), "podman"),
    (("--subnet", "172.17.5.0/24", "x"), "docker"),
    (("--subnet", "10.126.5.0/33", "x"), "invalid subnet"),
    (("--subnet", "10.126.5.0/24", "--gateway", "10.126.6.1", "x"), "gateway 10.126.6.1 not in subnet 10.126.5.0/24"),
    (("--gateway", "10.126.6.1", "x"), "cannot set gateway without subnet"),
    (("-d", "macvlan", "x"), "unsupported driver macvlan"),
    (("--opt", "vlan=3", "x"), "unsupported bridge network option vlan"),
    (("--ip-range", "10.126.3.0/28", "x"), "--ip-range is not supported"),
    (("--ipv6", "x"), "--ipv6 is not supported"),
    (("--dns", "10.126.3.53", "x"), "--dns is not supported"),
    (("--disable-dns", "x"), "--disable-dns is not supported"),
    (("bad/name",), "invalid network name"),
    (("host",), "reserved"),
    (("--interface-name", "capsa1", "x"), "interface name capsa1 is already used"),
])
def test_bad_input_is_refused_in_one_line_and_leaves_nothing(capsa: Capsa, args: tuple[str, ...], message: str) -> None:
    ok(capsa, "network", "create", "--subnet", "10.126.3.0/24", "web")
    before = ok(capsa, "network", "ls", "--no-trunc")
    assert message in refused(capsa, "network", "create", *args)
    assert ok(capsa, "network", "ls", "--no-trunc") == before


def test_rm_and_prune(capsa: Capsa) -> None:
    for name in ("a", "b", "c"):
        ok(capsa, "network", "create", "--label", f"n={name}", name)
    assert "default network capsa cannot be removed" in refused(capsa, "network", "rm", "capsa")
    assert "unable to find network with name or ID nope" in refused(capsa, "network", "rm", "a", "nope", code=1)
    assert names(capsa) == ["a", "b", "c", "capsa"]  # checked before any went
    assert ok(capsa, "network", "rm", "a") == "a\n"
    assert ok(capsa, "network", "prune", "-f", "--filter", "label=n=b") == "b\n"
    assert ok(capsa, "network", "prune", "-f", "--filter", "label!=n=x") == "c\n"
    assert ok(capsa, "network", "prune", "-f") == ""
    assert names(capsa) == ["capsa"]
    assert "invalid filter" in refused(capsa, "network", "prune", "-f", "--filter", "name=x")
    r = capsa("network", "prune", input="n\n")
    assert r.returncode == 0 and "Are you sure" in r.stderr


def container_config(capsa: Capsa, ref: str) -> object:
    from capsa.container.records import ContainerRecords

    return ContainerRecords(capsa.root, capsa.runroot).find(ref)


def test_network_flag_of_run_and_create_is_checked_and_recorded(capsa: Capsa, tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    ok(capsa, "network", "create", "--subnet", "10.126.7.0/24", "web")
    assert "unable to find network with name or ID nope" in refused(capsa, "create", "--network", "nope", "--rootfs", str(rootfs), "true")
    assert "no such container" in refused(capsa, "create", "--network", "container:nope", "--rootfs", str(rootfs), "true")
    assert ok(capsa, "ps", "-aq") == ""  # nothing half-made
    ok(capsa, "create", "--name", "w", "--network", "web", "--rootfs", str(rootfs), "true")
    ok(capsa, "create", "--name", "d", "--network", "bridge", "--rootfs", str(rootfs), "true")
    ok(capsa, "create", "--name", "s", "--network", "container:w", "--rootfs", str(rootfs), "true")
    web = json.loads(ok(capsa, "network", "inspect", "web"))[0]
    w, d, s = (container_config(capsa, n) for n in ("w", "d", "s"))
    assert w.network == "bridge" and w.extra["network_definition"] == {  # type: ignore[attr-defined]
        "name": "web", "id": web["id"], "driver": "bridge", "bridge": "capsa1", "subnet": "10.126.7.0/24",
        "gateway": "10.126.7.1", "internal": False, "labels": {}, "options": {}}
    assert d.network == "bridge" and "network_definition" not in d.extra  # type: ignore[attr-defined]
    assert s.network == f"container:{w.id}"  # type: ignore[attr-defined]
    assert ok(capsa, "inspect", "--format", "{{.HostConfig.NetworkMode}}", "w") == "bridge\n"
    # in use: refused, naming the containers; -f removes them through rm
    assert refused(capsa, "network", "rm", "web", code=2) == ('Error: "web" has associated containers with it. Use -f to '
                                                            "forcibly delete containers and pods: network is being used")
    assert "default network capsa cannot be removed" in refused(capsa, "network", "rm", "-f", "capsa")
    assert ok(capsa, "network", "prune", "-f") == ""  # web is in use
    assert ok(capsa, "network", "rm", "-f", "-t", "0", "web") == "web\n"
    assert sorted(ok(capsa, "ps", "-a", "--format", "{{.Names}}").split()) == ["d", "s"]
    assert names(capsa) == ["capsa"]


def test_network_rm_and_a_create_on_that_network_do_not_race(capsa: Capsa, tmp_path: Path) -> None:
    """``create`` records its container while holding the networks lock shared, and checks the
    network is still there; ``network rm`` holds it exclusive from its check of the network's
    users to the removal. Here the test holds it (as a ``network rm`` would) and removes the
    network meanwhile: the create waits, then fails in one line and makes nothing."""
    import subprocess
    import time

    from capsa.network.definitions import NetworkRecords
    from conftest import CAPSA

    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    ok(capsa, "network", "create", "--subnet", "10.126.9.0/24", "racy")
    records = NetworkRecords(capsa.root)
    with records.lock.exclusive():
        proc = subprocess.Popen([str(CAPSA), "--root", str(capsa.root), "--runroot", str(capsa.runroot), "create",
                                 "--network", "racy", "--rootfs", str(rootfs), "true"], env=capsa.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert proc.poll() is None  # waiting for the lock: nothing recorded yet
        assert ok(capsa, "ps", "-aq") == ""
        records.remove(["racy"])
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 125 and err.startswith("Error: unable to find network with name or ID racy"), err
    assert ok(capsa, "ps", "-aq") == ""
    # network connect likewise
    ok(capsa, "create", "--name", "rc", "--rootfs", str(rootfs), "true")
    ok(capsa, "network", "create", "--subnet", "10.126.9.0/24", "racy")
    with records.lock.exclusive():
        proc = subprocess.Popen([str(CAPSA), "--root", str(capsa.root), "--runroot", str(capsa.runroot), "network",
                                 "connect", "racy", "rc"], env=capsa.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert proc.poll() is None
        records.remove(["racy"])
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 125 and err.startswith("Error: unable to find network with name or ID racy"), err
    assert "connected_networks" not in container_config(capsa, "rc").extra  # type: ignore[attr-defined]


def test_a_corrupt_networks_file_is_one_error_line_and_system_check_repairs_it(capsa: Capsa) -> None:
    ok(capsa, "network", "create", "web")
    path = capsa.root / "networks" / "networks.json"
    path.write_text("{torn")
    assert "is corrupt" in refused(capsa, "network", "ls")
    r = capsa("system", "check")
    assert r.returncode == 125 and "networks.json is corrupt" in r.stdout + r.stderr
    ok(capsa, "system", "check", "--repair")
    assert names(capsa) == ["capsa"] and (capsa.root / "networks" / "networks.json.corrupt").exists()
    ok(capsa, "network", "create", "web")
    assert names(capsa) == ["capsa", "web"]


def test_system_prune_removes_the_networks_no_container_is_on(capsa: Capsa, tmp_path: Path) -> None:
    """As podman's: the stopped containers go first, then the networks they left unused."""
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    ok(capsa, "network", "create", "used")
    ok(capsa, "network", "create", "unused")
    cid = ok(capsa, "create", "--name", "on", "--network", "used", "--rootfs", str(rootfs), "true").strip()
    assert ok(capsa, "system", "prune", "-f").startswith(f"Deleted Containers\n{cid}\nDeleted Networks\nused\nunused\nTotal reclaimed space: ")
    assert names(capsa) == ["capsa"]
    assert ok(capsa, "system", "prune", "-f") == "Total reclaimed space: 0B\n"
