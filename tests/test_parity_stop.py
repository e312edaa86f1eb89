"""Parity with podman 4.3: ``stop`` and ``kill`` (also under ``container``): their flags,
what they print (what the user typed, or full ids), their messages and exit codes (see
tests/parity.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from parity import ENGINES, Case, capsa_cleanup, parity_fixtures, podman_cleanup

RUN = "run -d --name up1 {image} sleep 60"
TRAP = "run -d --name trap {image} sh -c 'trap \"\" TERM; while :; do sleep 0.1; done'"
NOSUCH = r'^Error: no container with name or ID "nosuch" found: no such container$'

CASES = [
    # stop
    Case("stop-name", "stop -t 0 up1", setup=(RUN,), stdout=r"\Aup1\n\Z"),
    Case("stop-short-id", "stop -t 0 {cid12}", setup=(RUN,), stdout=r"\A[0-9a-f]{12}\n\Z"),
    Case("stop-timeout-alias", "stop --timeout 0 up1", setup=(RUN,), stdout=r"\Aup1\n\Z"),
    Case("stop-all", "stop --all -t 0", setup=(RUN,), stdout=r"\A[0-9a-f]{64}\n\Z"),
    Case("stop-latest", "stop --latest -t 0", setup=(RUN,), stdout=r"\A[0-9a-f]{64}\n\Z"),
    Case("stop-filter", "stop --filter name=up1 -t 0", setup=(RUN, "run -d --name other {image} sleep 60"),
         stdout=r"\A[0-9a-f]{64}\n\Z"),
    Case("stop-ignore", "stop -i nosuch", stdout=r"\A\Z"),
    Case("stop-ignore-short", "stop --ignore -t 0 nosuch up1", setup=(RUN,), stdout=r"\Aup1\n\Z"),
    Case("stop-unknown", "stop nosuch", code=125, stderr=NOSUCH),
    Case("stop-all-and-name", "stop --all up1", code=125, stderr=r"^Error: no arguments are needed with --all$"),
    Case("stop-latest-and-name", "stop --latest up1", code=125,
         stderr=r"^Error: --latest and containers cannot be used together$"),
    Case("stop-nothing", "stop", code=125, stderr=r"^Error: you must provide at least one name or id$"),
    Case("stop-filter-and-name", "stop --filter name=x up1", code=125, stderr=r"^Error: --filter takes no arguments$"),
    Case("stop-sigkill-warning", "stop -t 1 trap", setup=(TRAP,), stdout=r"\Atrap\n\Z",
         stderr=r'level=warning msg="StopSignal SIGTERM failed to stop container trap in 1 seconds, resorting to SIGKILL"'),
    Case("stop-exited", "stop ex1", setup=("run --name ex1 {image} true",), stdout=r"\Aex1\n\Z"),
    # kill
    Case("kill-name", "kill up1", setup=(RUN,), stdout=r"\Aup1\n\Z"),
    Case("kill-signal", "kill -s TERM {cid12}", setup=(RUN,), stdout=r"\A[0-9a-f]{12}\n\Z"),
    Case("kill-signal-zero", "kill -s 0 up1", setup=(RUN,), code=125, stderr=r"^Error: invalid signal: 0$"),
    Case("kill-latest", "kill --latest", setup=(RUN,), stdout=r"\A[0-9a-f]{64}\n\Z"),
    Case("kill-all", "kill --all", setup=(RUN, "run --name ex1 {image} true"), stdout=r"\A[0-9a-f]{64}\n\Z"),
    Case("kill-unknown", "kill nosuch", code=125, stderr=NOSUCH),
    Case("kill-exited", "kill ex1", setup=("run --name ex1 {image} true",), code=125,
         stderr=r"^Error: can only kill running containers\. [0-9a-f]{64} is in state exited: container state improper$"),
    Case("container-stop", "container stop -t 0 up1", setup=(RUN,), stdout=r"\Aup1\n\Z"),
    Case("container-kill", "container kill up1", setup=(RUN,), stdout=r"\Aup1\n\Z"),
]

store, podman_store, test_parity = parity_fixtures("stop", CASES)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("command", ["stop -t 0", "kill", "rm -f -t 0"])
def test_cidfile(command: str, engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """``--cidfile FILE``: the container whose id the file holds (as ``run --cidfile`` writes
    it), printed by its full id; a file that is missing is an error (exit 125)."""
    runner = request.getfixturevalue("store" if engine == "capsa" else "podman_store")
    try:
        cid = runner("run", "-d", "busybox", "sleep", "60").stdout.strip()
        (tmp_path / "cid").write_text(cid)
        r = runner(*command.split(), "--cidfile", str(tmp_path / "cid"))
        assert (r.returncode, r.stdout) == (0, f"{cid}\n"), r.stderr
        r = runner(*command.split(), "--cidfile", str(tmp_path / "nosuch"))
        assert r.returncode == 125 and r.stderr.startswith("Error: reading CIDFile"), r.stderr
    finally:
        if engine == "capsa":
            assert capsa_cleanup(runner) == []
        else:
            podman_cleanup(runner)


def test_a_stopping_container_is_stopping_in_inspect(store) -> None:  # type: ignore[no-untyped-def]
    """While ``stop`` waits for the stop signal to work, ``inspect`` says ``stopping``."""
    import subprocess
    import time

    from conftest import CAPSA

    c = store
    assert c("run", "-d", "--name", "trap", "busybox", "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done").returncode == 0
    stopping = subprocess.Popen([str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot), "stop", "-t", "3", "trap"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=c.env)
    try:
        seen = set()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and stopping.poll() is None:
            seen.add(c("inspect", "--format", "{{.State.Status}}", "trap").stdout.strip())
            time.sleep(0.1)
        assert "stopping" in seen, seen
        stopping.wait(30)
        assert c("inspect", "--format", "{{.State.Status}}", "trap").stdout.strip() == "exited"
    finally:
        stopping.wait(30)
        assert capsa_cleanup(c) == []
