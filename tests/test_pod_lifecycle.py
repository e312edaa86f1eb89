"""A pod's life with real pods and containers: its status following its members (podman 4.3's
rule), ``pod start``/``stop``/``restart``/``kill``/``pause``/``unpause``/``exists``/``prune``
and their podman output, errors and exit codes. ``pod ps``, ``inspect``, ``top``, ``logs`` and
``ps --pod``: tests/test_pod_listing.py."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import Capsa
from containers import store_fixtures

from capsa.pod.status import ctr_status_matches, pod_status

# a member that ends at once on SIGTERM (busybox sleep as PID 1 ignores it)
TERM_OK = ["sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.1; done"]


store, c = store_fixtures("podlife")


def ok(capsa: Capsa, *args: str, timeout: float = 60) -> str:
    r = capsa(*args, timeout=timeout)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def new_pod(capsa: Capsa, name: str, *flags: str) -> str:
    return ok(capsa, "pod", "create", "--name", name, *flags).strip()


def status(capsa: Capsa, pod: str) -> str:
    return ok(capsa, "pod", "inspect", "--format", "{{.State}}", pod).strip()


def ctr_statuses(capsa: Capsa, pod: str) -> dict[str, str]:
    doc = json.loads(ok(capsa, "pod", "inspect", pod))
    return {c["Name"]: c["State"] for c in doc.get("Containers", [])}


def state_of(capsa: Capsa, name: str, field: str) -> str:
    return ok(capsa, "inspect", "--format", "{{.State." + field + "}}", name).strip()


def wait_status(capsa: Capsa, pod: str, wanted: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while True:
        got = status(capsa, pod)
        if got == wanted or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


# -- the status rule (pure) -----------------------------------------------------------------------

@pytest.mark.parametrize("statuses, expected", [
    ([], "Created"),  # an empty pod (--infra=false, no member)
    (["created"], "Created"),
    (["created", "created"], "Created"),
    (["running", "running"], "Running"),
    (["running", "created"], "Degraded"),
    (["running", "exited"], "Degraded"),
    (["running", "paused"], "Degraded"),
    (["paused", "paused"], "Paused"),
    (["exited", "exited"], "Exited"),
    (["exited", "created"], "Stopped"),
    (["paused", "exited"], "Stopped"),
    (["created", "paused"], "Created"),
    (["unknown", "created"], "Error"),
    (["removing"], "Error"),
    (["restarting", "running"], "Running"),  # capsa's restart-policy pause counts as running
    (["stopping", "exited"], "Exited"),  # capsa's stopping: exited, being torn down
])
def test_pod_status_follows_podmans_rule(statuses: list[str], expected: str) -> None:
    assert pod_status(statuses) == expected


def test_ctr_status_filter_words_are_podmans() -> None:
    assert ctr_status_matches("exited", "stopped") and ctr_status_matches("exited", "exited")
    assert ctr_status_matches("configured", "created") and not ctr_status_matches("running", "paused")


# -- status of real pods --------------------------------------------------------------------------

def test_a_pods_status_follows_its_containers(c: Capsa) -> None:
    new_pod(c, "st")
    assert status(c, "st") == "Created"  # only its infra, created
    assert ok(c, "pod", "ps", "--format", "{{.Name}} {{.Status}} {{.NumberOfContainers}}").strip() == "st Created 1"
    ok(c, "run", "-d", "--pod", "st", "--name", "st-a", "busybox", *TERM_OK)
    assert status(c, "st") == "Running"  # infra started first, then the member
    ok(c, "create", "--pod", "st", "--name", "st-b", "busybox", "true")
    assert status(c, "st") == "Degraded"  # one created beside running ones
    ok(c, "start", "st-b")
    ok(c, "wait", "st-b")
    assert status(c, "st") == "Degraded"  # one member exited
    pod_id = ok(c, "pod", "inspect", "--format", "{{.Id}}", "st").strip()
    assert ctr_statuses(c, "st") == {f"{pod_id[:12]}-infra": "running", "st-a": "running", "st-b": "exited"}
    ok(c, "pod", "pause", "st")
    assert status(c, "st") == "Stopped"  # paused ones beside an exited one: podman's Stopped
    ok(c, "pod", "unpause", "st")
    ok(c, "rm", "st-b")
    assert status(c, "st") == "Running"
    ok(c, "pod", "pause", "st")
    assert status(c, "st") == "Paused"
    ok(c, "pod", "unpause", "st")
    ok(c, "pod", "stop", "st")
    assert status(c, "st") == "Exited"


def test_an_empty_pod_is_created(c: Capsa) -> None:
    new_pod(c, "empty", "--infra=false")
    assert status(c, "empty") == "Created"
    assert ok(c, "pod", "ps", "--format", "{{.Status}} {{.NumberOfContainers}} [{{.InfraID}}]").strip() == "Created 0 []"
    assert ok(c, "pod", "start", "empty").strip() == ok(c, "pod", "inspect", "--format", "{{.Id}}", "empty").strip()
    assert status(c, "empty") == "Created"


# -- start and stop -------------------------------------------------------------------------------

def test_start_and_stop_print_the_pod_id_infra_first_and_last(c: Capsa) -> None:
    pod_id = new_pod(c, "ord")
    ok(c, "create", "--pod", "ord", "--name", "ord-a", "busybox", *TERM_OK)
    ok(c, "create", "--pod", "ord", "--name", "ord-b", "busybox", *TERM_OK)
    infra = ok(c, "pod", "inspect", "--format", "{{.InfraContainerID}}", "ord").strip()
    r = c("pod", "start", "ord")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{pod_id}\n", "")
    assert status(c, "ord") == "Running"
    started = {n: state_of(c, n, "StartedAt") for n in (infra, "ord-a", "ord-b")}
    assert started[infra] < started["ord-a"] and started[infra] < started["ord-b"]
    r = c("pod", "stop", "ord")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{pod_id}\n", "")
    finished = {n: state_of(c, n, "FinishedAt") for n in (infra, "ord-a", "ord-b")}
    assert finished[infra] > finished["ord-a"] and finished[infra] > finished["ord-b"]
    assert state_of(c, "ord-a", "ExitCode") == "3"  # its stop signal, handled
    assert status(c, "ord") == "Exited"
    # again: nothing to do, the id all the same (as podman)
    assert ok(c, "pod", "stop", "ord") == f"{pod_id}\n"
    assert ok(c, "pod", "start", pod_id[:10]) == f"{pod_id}\n"
    assert ok(c, "pod", "start", "ord") == f"{pod_id}\n"
    assert status(c, "ord") == "Running"


def test_stop_time_then_sigkill_with_podmans_warning(c: Capsa) -> None:
    pod_id = new_pod(c, "tm")
    ok(c, "run", "-d", "--pod", "tm", "--name", "tm-a", "busybox", "sleep", "1000")  # PID 1 ignores SIGTERM
    ok(c, "run", "-d", "--pod", "tm", "--name", "tm-b", "busybox", "sleep", "1000")
    began = time.monotonic()
    r = c("pod", "stop", "-t", "1", "tm")
    took = time.monotonic() - began
    assert (r.returncode, r.stdout) == (0, f"{pod_id}\n")
    assert 1 <= took < 6, took  # both members at once: one timeout, not two
    assert sorted(r.stderr.splitlines()) == [
        f"Warning: StopSignal SIGTERM failed to stop container tm-{x} in 1 seconds, resorting to SIGKILL" for x in "ab"]
    assert status(c, "tm") == "Exited"
    assert state_of(c, "tm-a", "ExitCode") == "137"
    ok(c, "pod", "start", "tm")
    r = c("pod", "stop", "--time", "0", "tm")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{pod_id}\n", "")  # -t 0: SIGKILL at once, no warning
    assert status(c, "tm") == "Exited"


def test_stop_and_start_errors_and_target_selection(c: Capsa, tmp_path: Path) -> None:
    a = new_pod(c, "sa")
    b = new_pod(c, "sb")
    ok(c, "create", "--pod", "sa", "--name", "sa-1", "busybox", *TERM_OK)
    r = c("pod", "stop", "nope")
    assert (r.returncode, r.stdout, r.stderr) == (125, "", "Error: no pod with name or ID nope found: no such pod\nsee 'capsa pod ps'\n")
    r = c("pod", "start", "sa", "nope")  # every pod is looked up before any starts
    assert (r.returncode, r.stdout) == (125, "")
    assert "no pod with name or ID nope found: no such pod" in r.stderr
    assert status(c, "sa") == "Created"
    r = c("pod", "stop", "--ignore", "nope", "sb")
    assert (r.returncode, r.stdout) == (0, f"{b}\n")
    idfile = tmp_path / "pod.id"
    idfile.write_text(a + "\n")
    assert ok(c, "pod", "start", "--pod-id-file", str(idfile)) == f"{a}\n"
    assert status(c, "sa") == "Running"
    assert ok(c, "pod", "stop", "-l") == f"{b}\n"  # the latest pod: sb
    assert sorted(ok(c, "pod", "stop", "-a").split()) == sorted([a, b])
    assert status(c, "sa") == "Exited"
    assert ok(c, "pod", "stop", "--pod-id-file", str(idfile)) == f"{a}\n"
    for argv, message in [
        (["start"], "you must provide at least one name or id"),
        (["stop"], "you must provide at least one name or id"),
        (["start", "-a", "sa"], "no arguments are needed with --all"),
        (["stop", "-a", "-l"], "--all and --latest cannot be used together"),
        (["start", "-l", "sa"], "--latest and containers cannot be used together"),
        (["stop", "--pod-id-file", str(idfile), "sa"], "no arguments are needed with --latest or --pod-id-file"),
        (["start", "-a", "--pod-id-file", str(idfile)], "--all, --latest, and --pod-id-file cannot be used together"),
        (["stop", "-a", "-l", "--pod-id-file", str(idfile)], "--all, --latest, and --pod-id-file cannot be used together"),
        (["stop", "--pod-id-file", str(tmp_path / "none")], f"reading pod ID file: open {tmp_path / 'none'}: no such file or directory"),
        (["pause"], "you must provide at least one name or id"),
        (["kill", "-a", "sa"], "no arguments are needed with --all"),
        (["restart", "-a", "-l"], "--all and --latest cannot be used together"),
    ]:
        r = c("pod", *argv)
        assert (r.returncode, r.stdout) == (125, ""), argv
        assert r.stderr.startswith(f"Error: {message}\n"), (argv, r.stderr)


def test_starting_a_pod_whose_infra_cannot_start_fails_as_podman(c: Capsa) -> None:
    new_pod(c, "bad", "--infra-command", "/nonexistent")
    ok(c, "create", "--pod", "bad", "--name", "bad-a", "busybox", "sleep", "100")
    infra = ok(c, "pod", "inspect", "--format", "{{.InfraContainerID}}", "bad").strip()
    member = ok(c, "inspect", "--format", "{{.Id}}", "bad-a").strip()
    r = c("pod", "start", "bad")
    assert (r.returncode, r.stdout) == (125, "")
    lines = r.stderr.splitlines()
    assert lines[0].startswith(f"Error: starting container {infra}: "), r.stderr
    assert lines[1] == (f"Error: starting container {member}: a dependency of container {member} failed to start: "
                        "container state improper")
    assert state_of(c, "bad-a", "Status") != "running"


def test_restart_stops_then_starts_every_container(c: Capsa) -> None:
    pod_id = new_pod(c, "rs")
    ok(c, "run", "-d", "--pod", "rs", "--name", "rs-a", "busybox", *TERM_OK)
    ok(c, "create", "--pod", "rs", "--name", "rs-b", "busybox", *TERM_OK)
    assert status(c, "rs") == "Degraded"
    before = state_of(c, "rs-a", "StartedAt")
    assert ok(c, "pod", "restart", "rs") == f"{pod_id}\n"
    assert status(c, "rs") == "Running"  # the created one started too
    assert state_of(c, "rs-a", "StartedAt") > before
    assert state_of(c, "rs-a", "ExitCode") == "0"  # running again: its previous exit code is not shown (as podman)
    ok(c, "pod", "stop", "rs")
    assert ok(c, "pod", "restart", "-l") == f"{pod_id}\n"  # a stopped pod is started
    assert status(c, "rs") == "Running"
    r = c("pod", "restart", "nope")
    assert (r.returncode, r.stderr.splitlines()[0]) == (125, "Error: no pod with name or ID nope found: no such pod")


# -- kill, pause, unpause -------------------------------------------------------------------------

def test_kill_sends_the_signal_to_every_running_container(c: Capsa) -> None:
    pod_id = new_pod(c, "kl")
    ok(c, "run", "-d", "--pod", "kl", "--name", "kl-a", "busybox", *TERM_OK)
    ok(c, "run", "-d", "--pod", "kl", "--name", "kl-b", "busybox", "sleep", "1000")
    r = c("pod", "kill", "-s", "BOGUS", "kl")
    assert (r.returncode, r.stdout, r.stderr.splitlines()[0]) == (125, "", "Error: invalid signal: BOGUS")
    assert status(c, "kl") == "Running"
    assert ok(c, "pod", "kill", "--signal", "TERM", "kl") == f"{pod_id}\n"
    ok(c, "wait", "kl-a")
    assert state_of(c, "kl-a", "ExitCode") == "3"  # its trap ran: SIGTERM, not SIGKILL
    assert state_of(c, "kl-b", "Status") == "running"  # sleep as PID 1 ignores SIGTERM
    assert ok(c, "pod", "kill", "kl") == f"{pod_id}\n"  # SIGKILL by default
    assert wait_status(c, "kl", "Exited") == "Exited"
    assert state_of(c, "kl-b", "ExitCode") == "137"
    assert ok(c, "pod", "kill", "kl") == f"{pod_id}\n"  # nothing runs: nothing to do, as podman 4.3
    r = c("pod", "kill", "nope")
    assert (r.returncode, r.stdout) == (125, "")


def frozen(capsa: Capsa, name: str) -> bool:
    """Whether the kernel froze the container's cgroup (v1 ``freezer.state``, else v2
    ``cgroup.events``), not only its recorded status."""
    pid = state_of(capsa, name, "Pid")
    groups = dict(line.split(":", 2)[1:] for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines())
    mounts = {(f[2], f[3]): f[1] for f in (line.split() for line in Path("/proc/mounts").read_text().splitlines())}
    v1 = next((m for (kind, opts), m in mounts.items() if kind == "cgroup" and "freezer" in opts.split(",")), None)
    if v1 and groups.get("freezer"):
        return Path(f"{v1}{groups['freezer']}/freezer.state").read_text().strip() == "FROZEN"
    v2 = next(m for (kind, _), m in mounts.items() if kind == "cgroup2")
    return "frozen 1" in Path(f"{v2}{groups['']}/cgroup.events").read_text().splitlines()


def test_pause_and_unpause_freeze_and_thaw_the_running_containers(c: Capsa) -> None:
    pod_id = new_pod(c, "pz")
    ok(c, "run", "-d", "--pod", "pz", "--name", "pz-a", "busybox", "sh", "-c", "while :; do date +%s%N > /tmp/t; sleep 0.05; done")
    assert ok(c, "pod", "pause", "pz") == f"{pod_id}\n"
    assert status(c, "pz") == "Paused"
    assert set(ctr_statuses(c, "pz").values()) == {"paused"}
    assert frozen(c, "pz-a") and frozen(c, ok(c, "pod", "inspect", "--format", "{{.InfraContainerID}}", "pz").strip())
    assert ok(c, "pod", "ps", "--format", "{{.ContainerStatuses}}").strip() == "paused,paused"
    assert ok(c, "pod", "pause", "pz") == f"{pod_id}\n"  # nothing running: the id all the same
    r = c("pod", "stop", "pz")  # podman 4.3: a paused container is not stopped
    assert (r.returncode, r.stdout) == (0, f"{pod_id}\n")
    assert status(c, "pz") == "Paused"
    assert ok(c, "pod", "unpause", "pz") == f"{pod_id}\n"
    assert status(c, "pz") == "Running"
    assert not frozen(c, "pz-a")
    assert ok(c, "pod", "unpause", "pz") == ""  # nothing paused: nothing done, nothing printed (podman)
    assert ok(c, "pod", "pause", "-l") == f"{pod_id}\n"
    assert ok(c, "pod", "unpause", "--all") == f"{pod_id}\n"
    assert status(c, "pz") == "Running"
    r = c("pod", "unpause", "nope")
    assert (r.returncode, r.stdout) == (125, "")


# -- exists, prune --------------------------------------------------------------------------------

def test_exists_answers_with_its_exit_code(c: Capsa) -> None:
    pod_id = new_pod(c, "ex")
    for ref in ("ex", pod_id, pod_id[:8]):
        r = c("pod", "exists", ref)
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), ref
    r = c("pod", "exists", "nope")
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "")
    assert c("pod", "exists").returncode == 125


def test_prune_removes_the_stopped_and_exited_pods(c: Capsa) -> None:
    exited = new_pod(c, "pr-exited")
    ok(c, "run", "-d", "--pod", "pr-exited", "--name", "pr-e1", "busybox", "true")
    ok(c, "wait", "pr-e1")
    ok(c, "pod", "stop", "pr-exited")  # the infra too: Exited
    stopped = new_pod(c, "pr-stopped")
    ok(c, "create", "--pod", "pr-stopped", "--name", "pr-s1", "busybox", "true")
    ok(c, "run", "-d", "--pod", "pr-stopped", "--name", "pr-s2", "busybox", "true")
    ok(c, "wait", "pr-s2")
    ok(c, "pod", "stop", "pr-stopped")  # exited ones beside a created one: Stopped
    assert status(c, "pr-stopped") == "Stopped"
    new_pod(c, "pr-created")
    new_pod(c, "pr-empty", "--infra=false")
    new_pod(c, "pr-running")
    ok(c, "run", "-d", "--pod", "pr-running", "--name", "pr-r1", "busybox", "sleep", "100")
    r = c("pod", "prune", input="n\n")
    assert r.returncode == 0 and r.stdout.startswith("WARNING! This will remove all stopped/exited pods..\n")
    assert len(ok(c, "pod", "ps", "-q").split()) == 5
    r = c("pod", "prune", "-f")
    assert (r.returncode, sorted(r.stdout.split()), r.stderr) == (0, sorted([exited, stopped]), "")
    assert sorted(ok(c, "pod", "ps", "--format", "{{.Name}}").split()) == ["pr-created", "pr-empty", "pr-running"]
    names = ok(c, "ps", "-a", "--format", "{{.Names}}").split()
    assert not [n for n in names if n.startswith(("pr-e", "pr-s"))]
    assert c("pod", "prune", input="y\n").stdout == "WARNING! This will remove all stopped/exited pods..\nAre you sure you want to continue? [y/N] "


def test_pod_start_beside_run_pod_starts_the_infra_once(c: Capsa) -> None:
    """``pod start`` while ``run --pod`` starts the pod's infra: the infra is started under the
    pod's lock by both, so neither starts it a second time (which hung: the second monitor waits
    for the first one's lock for as long as the infra runs)."""
    from concurrent.futures import ThreadPoolExecutor

    for round_ in range(4):
        name = f"race{round_}"
        pod_id = new_pod(c, name)
        ok(c, "create", "--pod", name, "--name", f"{name}-a", "busybox", *TERM_OK)
        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = list(pool.map(lambda argv: c(*argv, timeout=30), [
                ("pod", "start", name), ("run", "-d", "--pod", name, "--name", f"{name}-c", "busybox", *TERM_OK)]))
        assert (runs[0].returncode, runs[0].stdout, runs[0].stderr) == (0, f"{pod_id}\n", ""), runs[0]
        assert runs[1].returncode == 0, runs[1]
        assert status(c, name) == "Running"
        ok(c, "pod", "rm", "-f", "-t", "0", name)
