"""The network driver contract, called by real containers: a third-party driver package
(tests/plugins/capsa-net-recorder, built and installed with pip) selected in capsa.toml records
every add and delete; ``none`` and ``host`` go through the same contract."""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Capsa
from containers import busybox_store, cleanup
from test_third_party import install, uninstall


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    install("capsa-net-recorder", tmp_path_factory.mktemp("pkg"))
    try:
        yield from busybox_store(tmp_path_factory, "netcontract")
    finally:
        uninstall("capsa-net-recorder")


@pytest.fixture
def c(store: Capsa, tmp_path: Path) -> Iterator[Capsa]:
    store.calls = tmp_path / "calls.jsonl"  # type: ignore[attr-defined]
    store.write_config(f'[network]\ndriver = "recorder"\n[network.options.recorder]\nlog = "{store.calls}"\n')
    yield store
    left = cleanup(store)
    store.write_config("")
    assert left == [], f"left behind: {left}"


def calls(c: Capsa) -> list[dict]:
    path: Path = c.calls  # type: ignore[attr-defined]
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def inspect(c: Capsa, name: str) -> dict:
    r = c("inspect", name)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


def test_the_selected_driver_gets_add_before_the_start_and_delete_after_the_exit(c: Capsa) -> None:
    r = c("run", "--name", "rec", "busybox", "sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/operstate")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "lo" and len(r.stdout.split()) == 2  # a namespace of its own: loopback only
    doc = inspect(c, "rec")
    assert doc["HostConfig"]["NetworkMode"] == "recorder"
    net = doc["NetworkSettings"]["Networks"]["recorder"]
    assert net["Driver"] == "recorder" and net["IPAddress"] == "127.0.0.1" and net["IPPrefixLen"] == 8
    add, delete = calls(c)
    assert (add["op"], delete["op"]) == ("add", "delete")
    assert add["id"] == delete["id"] == doc["Id"] and add["name"] == "rec"
    assert add["pid"] == delete["pid"] == doc["State"]["ConmonPid"]  # the monitor calls them
    # add saw the container's own namespace, and delete still sees it (the monitor holds it open)
    assert add["exists"] and add["own"] and delete["exists"] and delete["inode"] == add["inode"]
    assert c("rm", "rec").returncode == 0
    assert [x["op"] for x in calls(c)] == ["add", "delete"]  # nothing more at rm


def test_each_run_of_a_long_lived_container_is_added_and_deleted_across_the_lean_monitor(c: Capsa) -> None:
    """A container handed to the lean monitor (after 0.2 s here) keeps its attachment: delete
    comes after it exits, still with the namespace open. A restart is added again."""
    env = {"CAPSA_MONITOR_HANDOFF": "0.2"}
    r = c("run", "-d", "--name", "long", "--restart", "on-failure:1", "busybox", "sh", "-c", "sleep 1; exit 3", env=env)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and inspect(c, "long")["State"]["Status"] != "exited":
        time.sleep(0.1)
    doc = inspect(c, "long")
    assert (doc["State"]["Status"], doc["State"]["ExitCode"], doc["RestartCount"]) == ("exited", 3, 1)
    ops = calls(c)
    assert [x["op"] for x in ops] == ["add", "delete", "add", "delete"], ops
    assert all(x["exists"] for x in ops) and ops[0]["inode"] == ops[1]["inode"] and ops[2]["inode"] == ops[3]["inode"]
    assert c("rm", "long").returncode == 0


def test_delete_follows_a_failed_add_and_the_start_fails_clearly(c: Capsa) -> None:
    c.write_config(f'[network]\ndriver = "recorder"\n[network.options.recorder]\nlog = "{c.calls}"\nfail_add = true\n')  # type: ignore[attr-defined]
    r = c("run", "--rm", "busybox", "true")  # a failed start: 126, as podman's run
    assert r.returncode == 126 and "recorder: add failed as asked" in r.stderr, r.stderr
    assert [x["op"] for x in calls(c)] == ["add", "delete"]
    assert calls(c)[0]["id"] == calls(c)[1]["id"]
    assert c("ps", "-a", "-q").stdout == ""  # run --rm left nothing
    # a named container stays, with the reason
    assert c("create", "--name", "kept", "busybox", "true").returncode == 0
    r = c("start", "kept")
    assert r.returncode == 125 and "add failed" in r.stderr
    assert [x["op"] for x in calls(c)] == ["add", "delete"] * 2
    state = inspect(c, "kept")["State"]
    assert state["Status"] == "exited" and "add failed" in state["Error"]


def test_a_container_whose_monitor_died_is_deleted_by_who_reaps_it(c: Capsa) -> None:
    assert c("run", "-d", "--name", "orphan", "busybox", "sleep", "60").returncode == 0
    monitor = inspect(c, "orphan")["State"]["ConmonPid"]
    os.kill(monitor, 9)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{monitor}").exists() and Path(f"/proc/{monitor}/stat").read_text().split(") ")[1][0] != "Z" \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    r = c("rm", "-f", "orphan")
    assert r.returncode == 0, r.stderr
    ops = calls(c)
    assert [x["op"] for x in ops] == ["add", "delete"] and ops[1]["netns"] is None and ops[1]["pid"] != monitor


def test_none_and_host_are_drivers_too(c: Capsa) -> None:
    r = c("run", "--name", "n", "--network", "none", "busybox", "sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/flags")
    assert r.returncode == 0, r.stderr
    names, flags = r.stdout.split()
    assert names == "lo" and int(flags, 16) & 1  # loopback only, and up
    r = c("run", "--name", "h", "--network", "host", "busybox", "ls", "/sys/class/net")
    assert sorted(r.stdout.split()) == sorted(os.listdir("/sys/class/net"))
    assert calls(c) == []  # the selected driver is not involved
    for name, mode in (("n", "none"), ("h", "host")):
        doc = inspect(c, name)
        assert doc["HostConfig"]["NetworkMode"] == mode and doc["NetworkSettings"]["Networks"] == {}
    r = c("run", "--rm", "--network", "nosuchnet", "busybox", "true")
    assert r.returncode == 125 and "unable to find network with name or ID nosuchnet" in r.stderr
