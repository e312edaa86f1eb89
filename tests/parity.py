"""Parity with podman 4.3, command by command: one table of cases per command, each run in capsa
and, where podman is installed, in podman with the same arguments, each against a store of its
own, and both held to the same recorded expectation (exit code, and the output's shape: column
titles, JSON keys, a pattern for stdout or stderr).

The expectations were recorded from podman 4.3.1 on this kind of host; where podman is installed
its run of every case checks that the recording is still podman's, so a case cannot drift from
podman unnoticed. Without podman the capsa runs alone check capsa against the recording.

A test module declares its cases and gets its test from :func:`parity_test`::

    CASES = [
        Case("ps-noheading", "ps -a --noheading", stdout=r""),
        Case("ps-columns", "ps -a", header=("CONTAINER ID", "IMAGE", "COMMAND", ...)),
        Case("stop-unknown", "stop nosuch", code=125, stderr=r"^Error: no container with name or ID"),
    ]
    store, podman_store, test_parity = parity_fixtures("ps", CASES)

Command lines are split as a shell would (:func:`shlex.split`) after ``{image}`` (the busybox
image both stores have) and ``{tmp}`` (a scratch directory of the case) are replaced; Go
templates (``{{.ID}}``) are written as they are.
``setup`` lines run first (each must succeed); ``{cid}`` in later lines is the id the last
setup line printed, ``{cid12}`` its first 12 characters.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

from conftest import Capsa
from containers import busybox_rootfs, busybox_store, cleanup

# (CAPSA_PARITY_PODMAN=0: check capsa alone against the recording, as where podman is absent)
PODMAN = shutil.which("podman") if os.environ.get("CAPSA_PARITY_PODMAN", "1") != "0" else None
IMAGE = "busybox"
ENGINES = ["capsa", "podman"]


class Engine(Protocol):
    def __call__(self, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]: ...


@dataclass(frozen=True)
class Case:
    """One command line and what podman 4.3 does with it.

    ``code``: the exit code. ``stdout``/``stderr``: a regular expression searched for in the
    stream (``re.M``; anchor it with ``^...$`` or ``\\A...\\Z`` to match all of it). ``header``: the
    column titles of stdout's first line (split on runs of two or more spaces). ``keys``: JSON
    keys stdout must have (an object, or every element of a list). ``lines``: the number of
    lines of stdout. ``check``: any further check, called with the result (it asserts, or returns
    a truth: a result of False fails the case). ``podman_only_skip``:
    a reason the podman run of this case is not done (for example it needs a network podman's
    store does not have); use sparingly.
    """

    id: str
    argv: str
    code: int = 0
    stdout: str | None = None
    stderr: str | None = None
    header: tuple[str, ...] | None = None
    keys: frozenset[str] | Sequence[str] | None = None
    lines: int | None = None
    setup: tuple[str, ...] = ()
    input: str | None = None
    check: Callable[[subprocess.CompletedProcess[str]], Any] | None = None
    podman_skip: str | None = None
    timeout: float = 60
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Podman:
    """podman with a store of its own under ``tmp`` (root, runroot, tmpdir, volumes)."""

    tmp: Path

    def argv(self) -> list[str]:
        t = self.tmp
        return [str(PODMAN), "--root", str(t / "root"), "--runroot", str(t / "run"), "--tmpdir", str(t / "libpod"),
                "--volumepath", str(t / "volumes"), "--cgroup-manager", "cgroupfs", "--events-backend", "file"]

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", **(env or {})}
        return subprocess.run(self.argv() + list(args), capture_output=True, text=True, input=input,
                              timeout=timeout, env=full_env)

    def reset(self) -> None:
        """Remove everything this store has, its mounts included."""
        self("pod", "rm", "-a", "-f", "-t", "0", timeout=120)
        self("rm", "-a", "-f", "-t", "0", timeout=120)
        self("system", "reset", "-f", timeout=120)
        unmount_under(self.tmp)


def unmount_under(path: Path) -> None:
    """Unmount whatever is mounted at or below ``path`` (deepest first)."""
    with open("/proc/self/mountinfo") as fh:
        points = [line.split()[4] for line in fh]
    for point in sorted({p for p in points if p == str(path) or p.startswith(f"{path}/")}, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def podman_busybox_store(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Podman]:
    """A podman store with the same busybox image the capsa stores get (containers.busybox_rootfs,
    imported with the same changes), reset at the end."""
    if PODMAN is None:
        pytest.skip("podman is not installed: the recorded expectations are checked against capsa alone")
    import tempfile

    # (short: podman refuses a runroot path longer than 50 characters)
    tmp = Path(tempfile.mkdtemp(prefix=f"pp-{name[:8]}-", dir="/tmp"))
    podman = Podman(tmp)
    root = busybox_rootfs(tmp / "bb-rootfs")
    tar = tmp / "busybox.tar"
    subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True)
    r = podman("import", "-c", 'CMD ["/bin/sh"]', "-c", "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin", str(tar), IMAGE)
    assert r.returncode == 0, r.stderr
    try:
        yield podman
    finally:
        podman.reset()
        shutil.rmtree(tmp, ignore_errors=True)


def extra_images(listing: str) -> list[str]:
    """What to remove of an ``images`` listing (``ID REPOSITORY:TAG`` lines) to keep only the
    busybox image: other names of busybox's image by name (its id would remove busybox too),
    other images by id."""
    rows = [line.split() for line in listing.split("\n") if line.strip()]
    keep = {row[0] for row in rows if row[1].endswith(f"/{IMAGE}:latest")}
    return [row[1] if row[0] in keep else row[0] for row in rows if not row[1].endswith(f"/{IMAGE}:latest")]


def podman_cleanup(podman: Podman) -> None:
    """Between cases: no pods, containers or volumes, and only the busybox image."""
    podman("pod", "rm", "-a", "-f", "-t", "0", timeout=120)
    podman("rm", "-a", "-f", "-t", "0", timeout=120)
    podman("volume", "rm", "-a", "-f", timeout=120)
    extra = extra_images(podman("images", "-a", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}").stdout)
    if extra:
        podman("rmi", "-f", *extra, timeout=120)


def capsa_cleanup(capsa: Capsa) -> list[str]:
    """Between cases: no pods, containers or volumes, and only the busybox image; what was left.
    (The volumes go first: a volume with mount options stays mounted after its containers
    stopped, until ``volume rm``; see docs/volumes.md.)"""
    capsa("volume", "rm", "-a", "-f", timeout=120)
    left = cleanup(capsa)
    capsa("volume", "rm", "-a", "-f", timeout=120)
    extra = extra_images(capsa("images", "-a", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}").stdout)
    if extra:
        capsa("rmi", "-f", *extra, timeout=120)
    return left


def expand(line: str, tmp: Path, cid: str) -> list[str]:
    """``line`` split as a shell would, its placeholders replaced (Go templates are left alone)."""
    for key, value in (("{image}", IMAGE), ("{tmp}", str(tmp)), ("{cid12}", cid[:12]), ("{cid}", cid)):
        line = line.replace(key, value)
    return shlex.split(line)


def run_case(engine: Engine, case: Case, tmp: Path, name: str) -> subprocess.CompletedProcess[str]:
    """Run ``case``'s setup lines, then its command line, in ``engine``; assert the expectation."""
    tmp.mkdir(parents=True, exist_ok=True)
    cid = ""
    for line in case.setup:
        r = engine(*expand(line, tmp, cid), timeout=case.timeout)
        assert r.returncode == 0, f"[{name}] setup `{line}` failed ({r.returncode}): {r.stderr}"
        out = r.stdout.strip().split("\n")[-1].strip() if r.stdout.strip() else ""
        cid = out or cid
    kwargs: dict[str, Any] = {"input": case.input, "timeout": case.timeout}
    if case.env:
        kwargs["env"] = case.env
    r = engine(*expand(case.argv, tmp, cid), **kwargs)
    check_result(case, r, name)
    return r


def header_of(text: str) -> tuple[str, ...]:
    first = text.split("\n", 1)[0]
    return tuple(t for t in re.split(r"\s{2,}", first.strip()) if t)


def json_keys(value: Any) -> list[set[str]]:
    items = value if isinstance(value, list) else [value]
    return [set(item) for item in items if isinstance(item, dict)]


def check_result(case: Case, r: subprocess.CompletedProcess[str], name: str) -> None:
    where = f"[{name}] `{case.argv}`\nstdout: {r.stdout[:2000]}\nstderr: {r.stderr[:2000]}"
    assert r.returncode == case.code, f"exit {r.returncode}, expected {case.code}: {where}"
    if case.stdout is not None:
        assert re.search(case.stdout, r.stdout, re.M), f"stdout does not match {case.stdout!r}: {where}"
    if case.stderr is not None:
        assert re.search(case.stderr, r.stderr, re.M), f"stderr does not match {case.stderr!r}: {where}"
    if case.header is not None:
        assert header_of(r.stdout) == tuple(case.header), f"header {header_of(r.stdout)} != {case.header}: {where}"
    if case.keys is not None:
        data = json.loads(r.stdout)
        found = json_keys(data)
        assert found, f"no JSON object in stdout: {where}"
        for keys in found:
            missing = set(case.keys) - keys
            assert not missing, f"JSON keys missing: {sorted(missing)}: {where}"
    if case.lines is not None:
        n = len(r.stdout.splitlines())
        assert n == case.lines, f"{n} lines, expected {case.lines}: {where}"
    if case.check is not None:  # (it asserts, or returns a truth: False fails too)
        assert case.check(r) is not False, f"check failed: {where}"


def parity_fixtures(name: str, cases: Sequence[Case]) -> tuple[Any, Any, Any]:
    """``store`` (a capsa busybox store), ``podman_store`` (podman's, or a skip) and the test
    ``test_parity``, parametrised over ``cases`` and the two engines. A module assigns all three
    at its top level: ``store, podman_store, test_parity = parity_fixtures("ps", CASES)``."""
    ids = [c.id for c in cases]
    assert len(set(ids)) == len(ids), f"duplicate case ids in {name}: {sorted(i for i in ids if ids.count(i) > 1)}"

    @pytest.fixture(scope="module")
    def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
        yield from busybox_store(tmp_path_factory, f"parity-{name}")

    @pytest.fixture(scope="module")
    def podman_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
        yield from podman_busybox_store(tmp_path_factory, name)

    @pytest.mark.parametrize("engine", ENGINES)
    @pytest.mark.parametrize("case", cases, ids=ids)
    def test_parity(case: Case, engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        if engine == "podman" and case.podman_skip:
            pytest.skip(case.podman_skip)
        runner = request.getfixturevalue("store" if engine == "capsa" else "podman_store")
        try:
            run_case(runner, case, tmp_path / "case", engine)
        finally:
            if engine == "capsa":
                left = capsa_cleanup(runner)
                assert left == [], f"left behind: {left}"
            else:
                podman_cleanup(runner)

    return store, podman_store, test_parity


def wait_for(predicate: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
