"""Every kind of record file capsa keeps, corrupted in turn in a real store with real images,
containers (created, exited, running) and a volume: emptied, cut in half, overwritten with
garbage, replaced by valid JSON of the wrong shape.

After each damage, the everyday commands answer clearly (exit 0, or one ``Error:`` line with a
hint and exit 125; never an internal error or a traceback, never a hang), and ``system check
--repair`` leaves a store that works: ``system check`` is clean and a new ``run`` works.
"""
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import CAPSA, Capsa, make_rootfs_tar

MODES: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda data: b"",
    "half": lambda data: data[: len(data) // 2],
    "garbage": lambda data: bytes(range(7, 250, 3)) + b"\xff\xfe\x00{[",
    "wrong-shape": lambda data: b'{"layers": [1, 2], "id": null}' if data.lstrip().startswith(b"[") else b'[1, "a", null, {}]',
}
LINKS = {"empty": "", "half": "0123", "garbage": "..\x01\x7f", "wrong-shape": "/etc/passwd"}  # for the name index


class Store:
    """One store with the things every corruption needs, re-made where a repair removed them."""

    def __init__(self, capsa: Capsa, tmp: Path) -> None:
        self.c = capsa
        self.rootfs = make_rootfs_tar(tmp / "rootfs.tar")
        self.spare = make_rootfs_tar(tmp / "spare.tar", {"etc/spare": "spare\n"}, busybox=False)

    def ensure(self) -> None:
        c = self.c
        have = set(c("images", "--format", "{{.Repository}}").stdout.split())
        if "localhost/bb" not in have:
            assert c("import", str(self.rootfs), "bb").returncode == 0
        if "localhost/spare" not in have:
            assert c("import", str(self.spare), "spare").returncode == 0
        if c("volume", "inspect", "v1").returncode != 0:
            assert c("volume", "create", "v1").returncode == 0
        names = set(c("ps", "-a", "--format", "{{.Names}}").stdout.split())
        if "created1" not in names:
            assert c("create", "--name", "created1", "bb", "sh", "-c", "exit 3").returncode == 0
        if "exited1" not in names:
            assert c("run", "--name", "exited1", "-v", "v1:/data", "bb", "sh", "-c", "exit 3").returncode == 3
        if "running1" not in names:
            r = c("run", "-d", "--name", "running1", "bb", "sh", "-c", "sleep 600")
            assert r.returncode == 0, r.stderr

    # where each kind of record file is -------------------------------------------------------

    def cid(self, name: str) -> str:
        return os.readlink(self.c.root / "containers" / ".names" / name)

    def image(self) -> dict:  # type: ignore[type-arg]
        return next(i for i in json.loads((self.c.root / "images.json").read_text()) if "localhost/bb:latest" in i["names"])

    def overlay_home(self) -> Path:
        return self.c.root / "storage" / "overlay"


def _container_file(name: str, file: str) -> Callable[[Store], Path]:
    return lambda s: s.c.root / "containers" / s.cid(name) / file


def _mounted_layer_file(file: str) -> Callable[[Store], Path]:
    def where(s: Store) -> Path:
        config = json.loads((s.c.root / "containers" / s.cid("running1") / "config.json").read_text())
        return s.overlay_home() / config["layer_id"] / file
    return where


RECORDS: dict[str, Callable[[Store], Path]] = {
    "storage.json": lambda s: s.c.root / "storage.json",
    "oci-layout": lambda s: s.c.root / "oci-layout",
    "layers.json": lambda s: s.c.root / "layers.json",
    "images.json": lambda s: s.c.root / "images.json",
    "image config blob": lambda s: s.c.root / "blobs" / "sha256" / s.image()["id"],
    "image manifest blob": lambda s: s.c.root / "blobs" / "sha256" / s.image()["digest"][7:],
    "volume.json": lambda s: s.c.root / "volumes" / "v1" / "volume.json",
    "config.json of an exited container": _container_file("exited1", "config.json"),
    "config.json of a running container": _container_file("running1", "config.json"),
    "state.json of an exited container": _container_file("exited1", "state.json"),
    "state.json of a running container": _container_file("running1", "state.json"),
    "name index link": lambda s: s.c.root / "containers" / ".names" / "exited1",
    "runtime state of a running container": lambda s: s.c.runroot / "isolation" / "linux" / s.cid("running1") / "state.json",
    "bundle of a running container": lambda s: s.c.runroot / "containers" / s.cid("running1") / "bundle" / "config.json",
    "mount counts": lambda s: s.c.runroot / "storage" / "overlay" / "mounts.json",
    "overlay lower file": _mounted_layer_file("lower"),
    "entry-point cache": lambda s: next(p for p in Path(s.c.env["CAPSA_CACHE_DIR"]).iterdir() if p.is_file()),
}


def corrupt(path: Path, mode: str) -> None:
    if path.is_symlink():
        path.unlink()
        os.symlink(LINKS[mode] or ".", path)
        return
    path.write_bytes(MODES[mode](path.read_bytes()))


def answers_clearly(r: subprocess.CompletedProcess[str], what: str) -> None:
    """Exit 0, or exit 125 with one ``Error:`` line and a hint; never an internal error."""
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, f"{what}: {r.stderr}"
    if r.returncode != 0:
        assert r.returncode == 125, f"{what}: exit {r.returncode}: {r.stderr}"
        errors = [line for line in r.stderr.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1 and "\n" not in errors[0], f"{what}: {r.stderr}"
        assert "Hint" in r.stderr or "hint" in r.stderr or "capsa " in r.stderr, f"{what} has no hint: {r.stderr}"


@pytest.fixture
def store(capsa: Capsa, tmp_path: Path) -> Iterator[Store]:
    s = Store(capsa, tmp_path)
    try:
        yield s
    finally:
        capsa("system", "reset", "--force", timeout=120)


@pytest.mark.parametrize("record", list(RECORDS))
def test_a_corrupt_record_file_is_answered_clearly_and_repaired(store: Store, record: str) -> None:
    c = store.c
    for mode in MODES:
        store.ensure()
        path = RECORDS[record](store)
        assert path.exists() or path.is_symlink(), f"{record}: {path} is not there to corrupt"
        corrupt(path, mode)
        what = f"{record} ({mode})"
        for args in (("ps", "-a"), ("images",), ("inspect", "running1"), ("inspect", "bb"), ("volume", "ls"),
                     ("volume", "inspect", "v1"), ("system", "check"), ("rm", "-f", "exited1"), ("rmi", "spare")):
            answers_clearly(c(*args), f"{what}: {' '.join(args)}")
        ps = c("ps", "-a", "--format", "{{.Names}} {{.State}}")
        if ps.returncode == 0:  # a container with an unreadable record is shown, not hidden
            assert "running1" in ps.stdout and "created1" in ps.stdout, f"{what}: {ps.stdout}"
        answers_clearly(c("rm", "-f", "running1", timeout=60), f"{what}: rm -f running1")
        repair = c("system", "check", "--repair", timeout=120)
        assert repair.returncode == 0, f"{what}: system check --repair: {repair.stdout}{repair.stderr}"
        assert "Traceback" not in repair.stderr
        check = c("system", "check")
        assert (check.returncode, check.stdout) == (0, "No problems found\n"), f"{what}: after repair: {check.stdout}{check.stderr}"
        if c("image", "exists", "bb").returncode != 0:  # its records were lost: a new import works
            assert c("import", str(store.rootfs), "bb").returncode == 0
        run = c("run", "--rm", "bb", "sh", "-c", "echo ok")
        assert (run.returncode, run.stdout) == (0, "ok\n"), f"{what}: run after repair: {run.stderr}"
        after = c("system", "check")
        assert (after.returncode, after.stdout) == (0, "No problems found\n"), f"{what}: after run: {after.stdout}{after.stderr}"


@pytest.mark.parametrize("text", [b'{"status":"exi', b'{"a": [1, {"b": ', b"", b"\xff\xfe\x00", b"[1,", b'"abc'])
def test_torn_json_is_a_value_error_never_a_system_error(text: bytes) -> None:
    """capsa's JSON reader (the C scanner called directly) reports torn input as json does."""
    from capsa.fastpath.jsonio import loads

    with pytest.raises(ValueError):
        loads(text)
    with pytest.raises(ValueError):
        loads(text.decode("latin-1"))


def test_a_layer_is_synced_before_its_record_says_it_is_complete(capsa: Capsa, tmp_path: Path) -> None:
    """syncfs(2) of the layer's filesystem comes between the record that announces the layer
    (incomplete) and the one that completes it, and before the image is recorded."""
    import shutil

    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    tar = make_rootfs_tar(tmp_path / "r.tar", {"etc/x": "x\n"}, busybox=False)
    trace = tmp_path / "trace.txt"
    r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=syncfs,sync,rename", "-o", str(trace), str(CAPSA),
                        "--root", str(capsa.root), "--runroot", str(capsa.runroot), "import", str(tar), "x"],
                       capture_output=True, text=True, env=capsa.env, timeout=60)
    assert r.returncode == 0, r.stderr
    events = record_events(trace.read_text().splitlines())
    assert events == ["layers.json", "sync", "layers.json", "images.json"], events


def record_events(lines: list[str]) -> list[str]:
    """From an ``strace -e trace=syncfs,sync,rename`` of capsa: its syncs and the renames that
    write layers.json and images.json, in order."""
    events = []
    for line in lines:
        if "syncfs(" in line or " sync(" in line:
            events.append("sync")
        elif "rename(" in line and "layers.json\"" in line:
            events.append("layers.json")
        elif "rename(" in line and "images.json\"" in line:
            events.append("images.json")
    return events
