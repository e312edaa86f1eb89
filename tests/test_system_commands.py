"""``system df|prune|reset|check`` and ``volume create|ls|inspect|rm|prune`` on real stores with
real containers, checked against the disk, the mount table, the cgroup tree and /proc."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Capsa, isolated_env
from containers import cleanup, import_busybox
from runtime_leftovers import alive, monitor_pids, settle, strict_leftovers


@pytest.fixture
def c(tmp_path: Path) -> Iterator[Capsa]:
    """A store of its own with busybox (reset and prune change the whole store)."""
    capsa = Capsa(env=isolated_env(tmp_path), root=tmp_path / "root", runroot=tmp_path / "run", tmp=tmp_path)
    import_busybox(capsa, tmp_path)
    yield capsa
    try:
        left = cleanup(capsa)
        assert left == [], f"left behind: {left}"
        assert settle(capsa, []) == []
    finally:
        capsa("system", "reset", "-f", timeout=120)


def errors(r: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in r.stderr.splitlines() if line.startswith("Error:")]


def table(text: str) -> list[list[str]]:
    """Rows of a table whose cells are separated by two or more spaces."""
    import re

    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]


def image_id(c: Capsa, ref: str = "busybox") -> str:
    return c("inspect", "--format", "{{.Id}}", ref).stdout.strip()


def import_variant(c: Capsa, name: str, cmd: str) -> str:
    """Another image from the same root filesystem, told apart by its CMD."""
    r = c("import", "-c", f'CMD ["{cmd}"]', str(c.tmp / "busybox.tar"), name)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().removeprefix("sha256:")


def running(c: Capsa, *args: str) -> str:
    r = c("run", "-d", *args, "busybox", "sleep", "60")
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def exited(c: Capsa, *args: str) -> str:
    r = c("run", "-d", *args, "busybox", "sh", "-c", "echo x > /file")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert c("wait", cid).stdout == "0\n"
    return cid


def store_mounts(c: Capsa) -> list[str]:
    with open("/proc/self/mountinfo") as fh:
        return [p for p in (line.split()[4] for line in fh) if p.startswith((str(c.root), str(c.runroot)))]


def cgroups_of(cid: str) -> list[Path]:
    """The container's cgroup in every hierarchy (os.walk: tolerant of dirs vanishing meanwhile)."""
    return [Path(dirpath, d) for dirpath, dirs, _ in os.walk("/sys/fs/cgroup") for d in dirs if d == f"capsa-{cid}"]


# -- system df ----------------------------------------------------------------------------------

def test_system_df_counts_and_columns(c: Capsa) -> None:
    r = c("system", "df")
    rows = table(r.stdout)
    assert rows[0] == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [row[:3] for row in rows[1:]] == [["Images", "1", "0"], ["Containers", "0", "0"], ["Local Volumes", "0", "0"]]
    assert rows[1][4].endswith("(100%)")  # an unused image can all be reclaimed
    running(c, "-v", "data:/data")
    exited(c)
    assert c("volume", "create", "spare").returncode == 0
    (c.root / "volumes" / "spare" / "_data" / "blob").write_bytes(b"z" * 10000)
    r = c("system", "df")
    assert r.returncode == 0, r.stderr
    rows = table(r.stdout)
    assert rows[0] == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [row[:3] for row in rows[1:]] == [["Images", "1", "1"], ["Containers", "2", "1"], ["Local Volumes", "2", "1"]]
    assert rows[1][4] == "0B (0%)"  # the image is used
    doc = json.loads(c("system", "df", "--format", "json").stdout)
    by_type = {row["Type"]: row for row in doc}
    assert list(by_type) == ["Images", "Containers", "Local Volumes"]
    images, containers, volumes = by_type["Images"], by_type["Containers"], by_type["Local Volumes"]
    assert (images["Total"], images["Active"], images["RawReclaimable"]) == (1, 1, 0)
    assert images["RawSize"] > 1_000_000  # busybox itself
    assert (containers["Total"], containers["Active"]) == (2, 1)
    assert 0 < containers["RawReclaimable"] <= containers["RawSize"]  # the exited one wrote a file
    assert (volumes["Total"], volumes["Active"]) == (2, 1)
    assert volumes["RawSize"] >= 10000 and volumes["RawReclaimable"] >= 10000  # "spare" is unused
    assert all(set(row) >= {"Type", "Total", "Active", "Size", "Reclaimable"} for row in doc)
    r = c("system", "df", "--format", "{{.Type}}={{.Total}}")
    assert r.stdout == "Images=1\nContainers=2\nLocal Volumes=2\n"


# -- system prune -------------------------------------------------------------------------------

def test_system_prune_removes_stopped_containers_and_dangling_images(c: Capsa) -> None:
    old = image_id(c)
    new = import_variant(c, "busybox", "/bin/true")  # takes the name: the old image dangles
    assert old != new
    other = import_variant(c, "other", "/bin/false")  # named, unused
    alive_id = running(c)
    stopped = exited(c)
    created = c("create", "busybox", "true").stdout.strip()
    r = c("system", "prune", "-f")
    assert r.returncode == 0, r.stderr
    assert "Deleted Containers" in r.stdout and "Deleted Images" in r.stdout
    assert stopped in r.stdout and created in r.stdout and old in r.stdout
    assert c("ps", "-a", "-q", "--no-trunc").stdout.split() == [alive_id]
    ids = c("images", "-q", "--no-trunc").stdout.split()
    assert {i.removeprefix("sha256:") for i in ids} == {new, other}
    r = c("system", "prune", "-f")
    assert (r.returncode, r.stdout) == (0, "Total reclaimed space: 0B\n")  # nothing more to do
    assert c("system", "check").stdout == "No problems found\n"


def test_system_prune_all_and_volumes(c: Capsa) -> None:
    other = import_variant(c, "other", "/bin/false")
    alive_id = running(c, "-v", "kept:/k")
    exited(c, "-v", "freed:/f")
    assert c("volume", "create", "lonely").returncode == 0
    r = c("system", "prune", "-f", "-a")
    assert r.returncode == 0, r.stderr
    assert other in r.stdout and "Deleted Volumes" not in r.stdout
    assert c("images", "--format", "{{.Repository}}").stdout == "localhost/busybox\n"  # used by a running container
    assert sorted(c("volume", "ls", "-q").stdout.split()) == ["freed", "kept", "lonely"]
    (c.root / "volumes" / "lonely" / "_data" / "big").write_bytes(b"x" * 250_000)
    r = c("system", "prune", "-f", "--volumes")
    assert r.returncode == 0, r.stderr
    assert "Deleted Volumes\nfreed\nlonely\n" in r.stdout
    assert r.stdout.endswith("Total reclaimed space: 250kB\n")  # as podman: what went, measured before
    assert c("volume", "ls", "-q").stdout.split() == ["kept"]
    assert c("ps", "-a", "-q", "--no-trunc").stdout.split() == [alive_id]
    r = c("system", "prune")  # no -f: asks, and a "no" changes nothing
    assert r.returncode == 0 and "Are you sure" in r.stdout
    c("rm", "-f", alive_id)
    r = c("system", "prune", "-a", "--volumes", input="y\n")
    assert r.returncode == 0 and "kept" in r.stdout
    assert c("images", "-q").stdout == "" and c("volume", "ls", "-q").stdout == ""


# -- system reset -------------------------------------------------------------------------------

def test_system_reset_removes_everything(c: Capsa) -> None:
    ids = [running(c, "-v", "vol:/v"), running(c, "--init"), exited(c)]
    pids = [json.loads(c("inspect", cid).stdout)[0]["State"]["Pid"] for cid in ids[:2]]
    monitors = monitor_pids(c)
    assert len(monitors) == 2 and all(alive(p) for p in pids)
    r = c("system", "reset")  # asks first
    assert r.returncode == 0 and "Are you sure" in r.stdout and c.root.exists()
    r = c("system", "reset", "-f", timeout=120)
    assert r.returncode == 0, r.stderr
    assert not c.root.exists() and not c.runroot.exists()
    assert store_mounts(c) == []
    assert [p for cid in ids for p in cgroups_of(cid)] == []
    assert [p for p in pids + monitors if alive(p)] == []
    assert strict_leftovers(c, ids, pids + monitors) == []
    assert c("images", "-q").stdout == "" and c("ps", "-a", "-q").stdout == ""
    assert c("system", "reset", "-f").returncode == 0  # nothing there: still fine


# -- system check -------------------------------------------------------------------------------

def open_store(c: Capsa):  # noqa: ANN201
    from capsa.drivers import load_driver
    from capsa.store.store import Store

    name = json.loads((c.root / "storage.json").read_text())["driver"]
    return Store(c.root, c.runroot, load_driver("storage", name, {}, root=c.root, runroot=c.runroot))


def kill_monitor(c: Capsa, cid: str) -> int:
    """SIGKILL the container's monitor (not the container); returns the container's pid."""
    pid = json.loads(c("inspect", cid).stdout)[0]["State"]["Pid"]
    before = set(monitor_pids(c))
    state = json.loads((c.root / "containers" / cid / "state.json").read_text())
    assert state["monitor_pid"] in before
    os.kill(state["monitor_pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(state["monitor_pid"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not alive(state["monitor_pid"]) and alive(pid)
    return pid


def test_system_check_clean_store(c: Capsa) -> None:
    r = c("system", "check")
    assert (r.returncode, r.stdout, r.stderr) == (0, "No problems found\n", "")
    running(c)
    exited(c)
    r = c("system", "check")
    assert (r.returncode, r.stdout) == (0, "No problems found\n"), r.stdout
    assert c("system", "check", "--repair").stdout == "No problems found\n"


def test_system_check_finds_and_repairs_damage(c: Capsa) -> None:
    from capsa.store.layers import Layer

    victim = running(c, "--name", "victim")
    healthy = running(c, "--name", "healthy")
    victim_pid = kill_monitor(c, victim)
    store = open_store(c)
    with store.writing():
        top = store.find_image("busybox").top_layer
        half = Layer(id=os.urandom(32).hex(), parent=None, chain_id=None, diff_id=None, blob=None,
                     blob_media_type=None, blob_size=0, size=0, created="2024-01-01T00:00:00Z", incomplete=True)
        store.layers._put(half)
        store.driver.create(half.id, None)
        orphan = store.blobs.put(b"a blob no image or layer refers to")
    (c.root / "blobs" / ".ingest" / "12345-stray").write_bytes(b"half a blob")
    merged = Path(store.driver.mount(top))  # a command that mounted a layer and died
    assert str(merged) in store_mounts(c)
    state_dir = c.runroot / "isolation" / "linux" / victim
    assert state_dir.is_dir() and cgroups_of(victim)

    r = c("system", "check")
    assert r.returncode == 125, r.stdout + r.stderr
    assert len(errors(r)) == 1 and "problem" in errors(r)[0]
    found = r.stdout
    assert all(line.startswith("Found: ") for line in found.splitlines())
    for words in (f"half-extracted layer {half.id[:12]}", "half-written blob 12345-stray",
                  f"blob {orphan[:19]} is used by no", f"container victim ({victim[:12]}) is recorded running",
                  f"cgroup capsa-{victim[:12]}", f"runtime state of container {victim[:12]}",
                  f"stale mount {merged}"):
        assert words in found, (words, found)
    assert "healthy" not in found and healthy[:12] not in found
    assert found.count("stale mount") == 2  # the image layer, and the victim's own layer
    assert alive(victim_pid) and half.id in os.listdir(store.driver.context.home)  # a check changes nothing

    r = c("system", "check", "--repair")
    assert r.returncode == 0, r.stderr
    assert r.stdout == found.replace("Found: ", "Repaired: ").replace(" (process %d still alive)" % victim_pid, "")
    r = c("system", "check")
    assert (r.returncode, r.stdout) == (0, "No problems found\n"), r.stdout

    # and each of them is really gone
    assert not (store.driver.context.home / half.id).exists()
    assert all(layer.id != half.id for layer in store.layers.records.load())
    assert os.listdir(c.root / "blobs" / ".ingest") == [] and not store.blobs.exists(orphan)
    assert str(merged) not in store_mounts(c)
    assert not alive(victim_pid) and cgroups_of(victim) == [] and not state_dir.exists()
    doc = json.loads(c("inspect", "victim").stdout)[0]
    assert doc["State"]["Status"] == "exited" and doc["State"]["Running"] is False
    assert doc["State"]["ExitCode"] == 137
    assert c("ps", "-a", "--filter", "name=victim", "--format", "{{.Status}}").stdout.startswith("Exited (137)")
    assert c("rm", "victim").returncode == 0
    assert c("inspect", "--format", "{{.State.Status}}", "healthy").stdout == "running\n"  # untouched
    assert c("run", "--rm", "busybox", "echo", "still works").stdout == "still works\n"


def test_system_check_repairs_a_dead_monitor_of_an_rm_container(c: Capsa) -> None:
    cid = running(c, "--rm")
    pid = kill_monitor(c, cid)
    r = c("system", "check", "--repair")
    assert r.returncode == 0 and "recorded running but its monitor is gone" in r.stdout
    assert not alive(pid)
    assert c("ps", "-a", "-q").stdout == ""  # --rm honoured by the repair
    assert settle(c, [cid]) == []


def test_rm_and_prune_after_the_monitor_died(c: Capsa) -> None:
    cid = running(c)
    pid = kill_monitor(c, cid)
    try:
        r = c("rm", "-f", cid)
        assert r.returncode == 0, r.stderr
        assert not alive(pid) and cgroups_of(cid) == [] and store_mounts(c) == []
        cid = running(c, "-v", "v:/v")
        pid = kill_monitor(c, cid)
        r = c("volume", "rm", "-f", "v")  # its container goes first, dead monitor or not
        assert r.returncode == 0, r.stderr
        cid = running(c)
        pid = kill_monitor(c, cid)
        r = c("system", "prune", "-f")
        assert r.returncode == 0 and cid in r.stdout, r.stderr
        assert not alive(pid) and cgroups_of(cid) == [] and store_mounts(c) == [] and c("ps", "-a", "-q").stdout == ""
    finally:
        assert c("system", "check").stdout == "No problems found\n"


def test_system_check_orphan_container_layer(c: Capsa) -> None:
    store = open_store(c)
    with store.writing():  # a `create` killed between making the layer and recording the container
        image = store.find_image("busybox")
        layer = store.layers.create_empty(image.top_layer)
    r = c("system", "check")
    assert r.returncode == 125 and f"container layer {layer.id[:12]} belongs to no container" in r.stdout
    assert c("system", "check", "-r").returncode == 0
    assert not (store.driver.context.home / layer.id).exists()
    assert c("system", "check").stdout == "No problems found\n"
    assert c("images", "-q").stdout.strip() != ""  # the image's own layers stay


# -- volumes ------------------------------------------------------------------------------------

def test_volume_create_ls_inspect(c: Capsa) -> None:
    assert c("volume", "ls").stdout.split() == ["DRIVER", "VOLUME", "NAME"]
    r = c("volume", "create", "--label", "team=a", "-o", "type=tmpfs", "-o", "device=tmpfs", "named")
    assert (r.returncode, r.stdout) == (0, "named\n")
    r = c("volume", "create", "named")
    assert r.returncode == 125 and len(errors(r)) == 1 and "already exists" in errors(r)[0]
    assert c("volume", "create", "--ignore", "named").returncode == 0
    r = c("volume", "create", "bad/name")
    assert r.returncode == 125 and "invalid volume name" in r.stderr
    anon = c("volume", "create").stdout.strip()
    assert len(anon) == 64
    rows = table(c("volume", "ls").stdout)
    assert rows[0] == ["DRIVER", "VOLUME NAME"] and sorted(rows[1:]) == sorted([["local", "named"], ["local", anon]])
    assert sorted(c("volume", "ls", "-q").stdout.split()) == sorted(["named", anon])
    assert c("volume", "ls", "--filter", "label=team=a", "--format", "{{.Name}} {{.Driver}}").stdout == "named local\n"
    assert c("volume", "ls", "--filter", "name=nam", "-q").stdout == "named\n"
    docs = json.loads(c("volume", "ls", "--format", "json").stdout)
    assert sorted(d["Name"] for d in docs) == sorted(["named", anon])
    doc = json.loads(c("volume", "inspect", "named").stdout)
    assert isinstance(doc, list) and len(doc) == 1
    doc = doc[0]
    assert set(doc) >= {"Name", "Driver", "Mountpoint", "CreatedAt", "Labels", "Scope", "Options"}
    assert (doc["Name"], doc["Driver"], doc["Scope"], doc["Labels"], doc["Options"]) == \
        ("named", "local", "local", {"team": "a"}, {"type": "tmpfs", "device": "tmpfs"})
    assert Path(doc["Mountpoint"]).is_dir() and Path(doc["Mountpoint"]).is_relative_to(c.root)
    assert c("volume", "inspect", "--format", "{{.Mountpoint}}", "named").stdout == doc["Mountpoint"] + "\n"
    r = c("volume", "inspect", "nope")
    assert r.returncode == 125 and len(errors(r)) == 1 and "no such volume" in errors(r)[0]
    running(c, "-v", "named:/n")
    assert c("volume", "ls", "--filter", "dangling=true", "-q").stdout == f"{anon}\n"
    assert c("volume", "ls", "--filter", "dangling=false", "-q").stdout == "named\n"
    assert c("volume", "inspect", "--format", "{{.MountCount}}", "named").stdout == "1\n"  # its tmpfs, mounted for the container
    assert c("volume", "rm", "-f", "-a").returncode == 0


def test_volume_with_options_unmounted_when_its_last_user_stops(c: Capsa) -> None:
    """As podman: a volume with mount options is mounted while a container uses it (or after
    ``volume mount``), and unmounted when its last user stops: nothing stays on the host."""
    assert c("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "tv").returncode == 0
    data = c("volume", "inspect", "--format", "{{.Mountpoint}}", "tv").stdout.strip()

    def count() -> str:
        return c("volume", "inspect", "--format", "{{.MountCount}}", "tv").stdout.strip()

    first, second = running(c, "-v", "tv:/d"), running(c, "-v", "tv:/d")
    assert data in store_mounts(c) and count() == "2"
    assert c("exec", first, "sh", "-c", "echo shared > /d/f").returncode == 0
    assert c("exec", second, "cat", "/d/f").stdout == "shared\n"  # one tmpfs for both
    assert c("stop", "-t", "0", first).returncode == 0
    assert data in store_mounts(c) and count() == "1"  # the other still uses it
    assert c("exec", second, "cat", "/d/f").stdout == "shared\n"
    assert c("stop", "-t", "0", second).returncode == 0
    assert data not in store_mounts(c) and count() == "0"
    assert c("start", first).returncode == 0  # a start mounts it again (a fresh tmpfs)
    assert data in store_mounts(c) and count() == "1"
    assert c("rm", "-f", first, second).returncode == 0
    assert data not in store_mounts(c)
    r = c("run", "--rm", "-v", "tv:/d", "busybox", "/nonexistent")  # a start that fails
    assert r.returncode == 127 and data not in store_mounts(c) and count() == "0"
    assert c("run", "--rm", "-v", "tv:/d", "busybox", "true").returncode == 0
    assert data not in store_mounts(c)
    assert c("volume", "mount", "tv").returncode == 0  # a mount of its own outlives the containers
    assert c("run", "--rm", "-v", "tv:/d", "busybox", "true").returncode == 0
    assert data in store_mounts(c) and count() == "1"
    assert c("volume", "unmount", "tv").returncode == 0
    assert data not in store_mounts(c) and count() == "0"
    tar = str(c.tmp / "tv.tar")  # export and import mount it for their time only
    assert c("volume", "export", "tv", "-o", tar).returncode == 0
    assert c("volume", "import", "tv", tar).returncode == 0
    assert data not in store_mounts(c) and count() == "0"
    cid = running(c, "-v", "tv:/d")  # a monitor that died: whoever reaps its container releases it
    kill_monitor(c, cid)
    assert c("rm", "-f", cid).returncode == 0
    assert data not in store_mounts(c) and count() == "0"
    cid = running(c, "-v", "tv:/d")
    kill_monitor(c, cid)
    assert c("system", "check", "--repair").returncode == 0
    assert data not in store_mounts(c) and count() == "0"
    assert c("rm", "-f", cid).returncode == 0


def test_volume_rm_in_use_unknown_force_and_prune(c: Capsa) -> None:
    for name in ("used", "free1", "free2"):
        assert c("volume", "create", name).returncode == 0
    cid = running(c, "--name", "user", "-v", "used:/u")
    r = c("volume", "rm", "used")
    assert r.returncode == 2 and len(errors(r)) == 1 and cid in errors(r)[0] and "volume is being used" in errors(r)[0]
    assert "used" in c("volume", "ls", "-q").stdout.split()
    r = c("volume", "rm", "free1", "used")  # as podman: each in turn, the one in use stays (exit 2)
    assert (r.returncode, r.stdout) == (2, "free1\n") and "free1" not in c("volume", "ls", "-q").stdout.split()
    r = c("volume", "rm", "nope")
    assert r.returncode == 1 and len(errors(r)) == 1 and 'no volume with name "nope" found' in errors(r)[0]
    r = c("volume", "prune", "-f")
    assert (r.returncode, sorted(r.stdout.split())) == (0, ["free2"])
    assert c("volume", "ls", "-q").stdout == "used\n"
    r = c("volume", "rm", "-f", "used")  # as podman: the container using it goes first
    assert (r.returncode, r.stdout) == (0, "used\n"), r.stderr
    assert c("ps", "-a", "-q").stdout == "" and c("volume", "ls", "-q").stdout == ""
    assert settle(c, [cid]) == []
    r = c("volume", "prune")  # asks first (on stdout, as podman)
    assert r.returncode == 0 and "Are you sure" in r.stdout


def test_rm_v_removes_anonymous_volumes_only(c: Capsa) -> None:
    r = c("run", "--name", "anon", "-v", "/scratch", "-v", "keep:/keep", "busybox", "sh", "-c",
          "echo a > /scratch/f; echo k > /keep/f")
    assert r.returncode == 0, r.stderr
    vols = c("volume", "ls", "-q").stdout.split()
    anon = [v for v in vols if v != "keep"]
    assert "keep" in vols and len(anon) == 1 and len(anon[0]) == 64
    assert (c.root / "volumes" / anon[0] / "_data" / "f").read_text() == "a\n"
    assert c("rm", "-v", "anon").returncode == 0
    assert c("volume", "ls", "-q").stdout == "keep\n"
    assert not (c.root / "volumes" / anon[0]).exists()
    assert c("run", "--name", "again", "-v", "/other", "busybox", "true").returncode == 0
    assert c("rm", "again").returncode == 0  # rm without -v keeps them
    assert len(c("volume", "ls", "-q").stdout.split()) == 2


def test_run_rm_removes_anonymous_volumes(c: Capsa) -> None:
    r = c("run", "--rm", "-v", "/scratch", "-v", "keep:/keep", "busybox", "true")
    assert r.returncode == 0, r.stderr
    assert c("volume", "ls", "-q").stdout == "keep\n"


# -- what check and reset must not touch --------------------------------------------------------

def test_check_and_reset_leave_other_stores_alone(c: Capsa, tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("neighbour")
    other = Capsa(env=isolated_env(tmp), root=tmp / "root", runroot=tmp / "run", tmp=tmp)
    import_busybox(other, tmp)
    try:
        theirs = running(other)
        pid = json.loads(other("inspect", theirs).stdout)[0]["State"]["Pid"]
        mine = running(c)
        kill_monitor(c, mine)  # so that our repair has cgroups to kill
        assert c("system", "check", "--repair").returncode == 0
        assert c("system", "reset", "-f").returncode == 0
        assert alive(pid) and cgroups_of(theirs) and monitor_pids(other)
        assert other("system", "check").stdout == "No problems found\n"
        assert other("inspect", "--format", "{{.State.Status}}", theirs).stdout == "running\n"
    finally:
        assert cleanup(other) == []
        other("system", "reset", "-f")


def test_check_repair_while_containers_start_and_stop(c: Capsa) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> subprocess.CompletedProcess[str]:
        return c("run", "--rm", *(["-d"] if i % 3 == 0 else []), "busybox", "sh", "-c", f"sleep 0.{i % 4}; echo ok{i}",
                 timeout=120)

    with ThreadPoolExecutor(max_workers=13) as pool:
        runs = [pool.submit(one, i) for i in range(12)]
        checks = []
        while not all(f.done() for f in runs):
            checks.append(pool.submit(c, "system", "check", "--repair").result())
    for i, f in enumerate(runs):
        r = f.result()
        assert r.returncode == 0, (i, r.stderr)
        if i % 3:
            assert r.stdout == f"ok{i}\n"
    assert all(r.returncode == 0 for r in checks), [r.stderr for r in checks]
    assert not [r.stdout for r in checks if r.stdout != "No problems found\n"]
    assert settle(c, []) == [] and c("ps", "-a", "-q").stdout == ""


def test_check_removes_only_old_empty_cgroups_of_no_known_container(c: Capsa) -> None:
    from capsa_isolation_linux.cgroups import own_paths

    own = own_paths()
    old, fresh, busy = (os.urandom(32).hex() for _ in range(3))
    made = []
    for cid in (old, fresh, busy):
        for base in own.values():
            path = Path(base, f"capsa-{cid}")
            path.mkdir()
            made.append(path)
            if cid != fresh:
                os.utime(path, (time.time() - 3600, time.time() - 3600))
    sleeper = subprocess.Popen(["sleep", "60"])  # another store's container, as far as we know
    try:
        for base in own.values():
            for name in ("cpuset.cpus", "cpuset.mems"):  # a v1 cpuset takes no process until set
                if Path(base, name).exists():
                    Path(base, f"capsa-{busy}", name).write_text(Path(base, name).read_text())
            Path(base, f"capsa-{busy}", "cgroup.procs").write_text(str(sleeper.pid))
        r = c("system", "check")
        assert r.returncode == 125
        assert f"empty cgroup capsa-{old[:12]} of no known container" in r.stdout
        assert fresh[:12] not in r.stdout and busy[:12] not in r.stdout
        assert c("system", "check", "--repair").returncode == 0
        assert cgroups_of(old) == [] and len(cgroups_of(fresh)) == len(own) == len(cgroups_of(busy))
        assert alive(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()
        for path in made:
            for _ in range(100):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
