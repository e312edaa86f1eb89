"""Parity of health checks with podman 4.3: ``run --health-*``, ``healthcheck run`` (exit 0
healthy, 1 unhealthy, 125 error), ``State.Health`` and ``Config.Healthcheck`` in inspect, and
``(healthy)`` in ps's STATUS."""
from __future__ import annotations

import json
import re
import shlex
import subprocess

import pytest

from parity import ENGINES, IMAGE, Case, capsa_cleanup, parity_fixtures, podman_cleanup, wait_for

SLEEPER = "run -d --name hc --health-cmd 'test -e /tmp/ok' --health-interval 1h --health-retries 2 {image} sleep 300"
HEALTHY = "run -d --name hc --health-cmd true --health-interval 1h {image} sleep 300"


def _health(r: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(r.stdout)


CASES = [
    Case("run-healthy", "healthcheck run hc", setup=(HEALTHY,), stdout=r"\A\Z"),
    Case("run-unhealthy", "healthcheck run hc", setup=(SLEEPER,), code=1, stdout=r"\Aunhealthy\n\Z"),
    Case("run-unknown", "healthcheck run nosuch", code=125,
         stderr=r'^Error: unable to look up nosuch to perform a health check: no container with name or ID "nosuch" found'),
    Case("run-no-check", "healthcheck run {cid}", setup=("run -d {image} sleep 300",), code=125,
         stderr=r"^Error: container [0-9a-f]{64} has no defined healthcheck"),
    Case("run-not-running", "healthcheck run {cid}", setup=("create --health-cmd true {image} sleep 300",), code=125,
         stderr=r"^Error: container [0-9a-f]{64} is not running"),
    Case("run-no-healthcheck", "healthcheck run {cid}", setup=("run -d --no-healthcheck {image} sleep 300",), code=125,
         stderr=r"has no defined healthcheck"),
    Case("run-health-cmd-none", "healthcheck run {cid}", setup=("run -d --health-cmd none {image} sleep 300",),
         code=125, stderr=r"has no defined healthcheck"),
    Case("inspect-starting", "inspect hc --format '{{json .State.Health}}'", setup=(SLEEPER,),
         stdout=r'\A\{"Status":"starting","FailingStreak":0,"Log":null\}\n\Z'),
    Case("inspect-no-check", "inspect {cid} --format '{{json .State.Health}}'", setup=("run -d {image} sleep 300",),
         stdout=r'"Status":""'),
    Case("inspect-config", "inspect hc --format '{{json .Config.Healthcheck}}'", setup=(SLEEPER,),
         stdout=r'\A\{"Test":\["CMD-SHELL","test -e /tmp/ok"\],"Interval":3600000000000,"Timeout":30000000000,"Retries":2\}\n\Z'),
    Case("inspect-start-period", "inspect {cid} --format '{{json .Config.Healthcheck.StartPeriod}}'",
         setup=("run -d --health-cmd true --health-start-period 10s {image} sleep 300",), stdout=r"\A10000000000\n\Z"),
    Case("inspect-timeout", "inspect {cid} --format '{{json .Config.Healthcheck.Timeout}}'",
         setup=("run -d --health-cmd true --health-timeout 5s {image} sleep 300",), stdout=r"\A5000000000\n\Z"),
    Case("inspect-on-failure", "inspect {cid} --format '{{.Config.HealthcheckOnFailureAction}}'",
         setup=("run -d --health-cmd true --health-on-failure kill {image} sleep 300",), stdout=r"\Akill\n\Z"),
    Case("inspect-on-failure-default", "inspect {cid} --format '{{.Config.HealthcheckOnFailureAction}}'",
         setup=("run -d --health-cmd true {image} sleep 300",), stdout=r"\Anone\n\Z"),
    Case("ps-starting", "ps --format '{{.Status}}'", setup=(HEALTHY,), stdout=r"^Up .* \(starting\)$"),
    Case("ps-healthy", "ps --format '{{.Status}}'", setup=(HEALTHY, "healthcheck run hc"), stdout=r"^Up .* \(healthy\)$"),
    Case("on-failure-bogus", "run --rm --health-cmd true --health-on-failure bogus {image} true", code=125,
         stderr=r'^Error: invalid on-failure action "bogus" for health check: supported actions are none,kill,restart,stop'),
    Case("no-healthcheck-and-cmd", "run --rm --no-healthcheck --health-cmd true {image} true", code=125,
         stderr=r"^Error: cannot specify both --no-healthcheck and --health-cmd"),
    Case("retries-zero", "run --rm --health-cmd true --health-retries 0 {image} true", code=125,
         stderr=r"^Error: healthcheck-retries must be greater than 0"),
    Case("timeout-short", "run --rm --health-cmd true --health-timeout 0s {image} true", code=125,
         stderr=r"^Error: healthcheck-timeout must be at least 1 second"),
    Case("interval-bogus", "run --rm --health-cmd true --health-interval bogus {image} true", code=125,
         stderr=r'^Error: invalid healthcheck-interval: time: invalid duration "bogus"'),
    Case("options-without-cmd", "run --rm --health-interval 5s {image} true"),
    # --health-cmd's forms, podman's way: a shell test command starting with "[" is a shell command
    Case("cmd-bracket-shell", "inspect {cid} --format '{{json .Config.Healthcheck.Test}}'",
         setup=("create --health-cmd '[ -e /tmp/ok ]' {image} true",), stdout=r'\A\["CMD-SHELL","\[ -e /tmp/ok \]"\]\n\Z'),
    Case("cmd-json-one", "inspect {cid} --format '{{json .Config.Healthcheck.Test}}'",
         setup=("""create --health-cmd '["true"]' {image} true""",), stdout=r'\A\["CMD-SHELL","true"\]\n\Z'),
    Case("cmd-json-list", "inspect {cid} --format '{{json .Config.Healthcheck.Test}}'",
         setup=("""create --health-cmd '["echo","hi"]' {image} true""",), stdout=r'\A\["CMD","echo","hi"\]\n\Z'),
    Case("cmd-CMD-words", "inspect {cid} --format '{{json .Config.Healthcheck.Test}}'",
         setup=("create --health-cmd 'CMD true' {image} true",), stdout=r'\A\["CMD","true"\]\n\Z'),
    Case("cmd-json-empty", "create --health-cmd '[]' {image} true", code=125,
         stderr=r"^Error: must define a healthcheck command for all healthchecks"),
    Case("cmd-empty", "healthcheck run {cid}", setup=("run -d --health-cmd '' {image} sleep 300",), code=125,
         stderr=r"has no defined healthcheck"),
    Case("cmd-NONE", "inspect {cid} --format '{{json .Config.Healthcheck}}'",
         setup=("create --health-cmd NONE {image} true",),
         stdout=r'\A\{"Test":\["NONE"\],"Interval":30000000000,"Timeout":30000000000,"Retries":3\}\n\Z'),
]

store, podman_store, test_parity = parity_fixtures("health", CASES)


@pytest.mark.parametrize("engine", ENGINES)
def test_health_states(engine: str, request: pytest.FixtureRequest) -> None:
    """starting (a failure within the retries) -> unhealthy (Retries failures in a row, ps shows
    it) -> healthy (one success), with the Log of each run, the same in both engines."""
    runner = request.getfixturevalue("store" if engine == "capsa" else "podman_store")
    try:
        r = runner(*shlex.split(SLEEPER.replace("{image}", IMAGE)))
        assert r.returncode == 0, r.stderr

        def health() -> dict:
            r = runner("inspect", "hc", "--format", "{{json .State.Health}}")
            assert r.returncode == 0, r.stderr
            return json.loads(r.stdout)  # type: ignore[no-any-return]

        r = runner("healthcheck", "run", "hc")
        assert (r.returncode, r.stdout) == (1, "unhealthy\n"), r.stderr
        h = health()
        assert (h["Status"], h["FailingStreak"], len(h["Log"])) == ("starting", 1, 1), h
        assert set(h["Log"][0]) == {"Start", "End", "ExitCode", "Output"} and h["Log"][0]["ExitCode"] == 1, h
        r = runner("healthcheck", "run", "hc")
        assert r.returncode == 1, r.stderr
        h = health()
        assert (h["Status"], h["FailingStreak"]) == ("unhealthy", 2), h
        assert re.search(r"^Up .* \(unhealthy\)$", runner("ps", "--format", "{{.Status}}").stdout, re.M)
        assert runner("exec", "hc", "touch", "/tmp/ok").returncode == 0
        r = runner("healthcheck", "run", "hc")
        assert (r.returncode, r.stdout) == (0, ""), r.stderr
        h = health()
        assert (h["Status"], h["FailingStreak"], [e["ExitCode"] for e in h["Log"]]) == ("healthy", 0, [1, 1, 0]), h
    finally:
        if engine == "capsa":
            capsa_cleanup(runner)
        else:
            podman_cleanup(runner)


@pytest.mark.parametrize("engine", ENGINES)
def test_health_on_failure_kill(engine: str, request: pytest.FixtureRequest) -> None:
    """``--health-on-failure kill``: the container is killed once it turns unhealthy."""
    runner = request.getfixturevalue("store" if engine == "capsa" else "podman_store")
    try:
        r = runner("run", "-d", "--name", "hk", "--health-cmd", "false", "--health-retries", "1",
                   "--health-interval", "1h", "--health-on-failure", "kill", IMAGE, "sleep", "300")
        assert r.returncode == 0, r.stderr
        assert runner("healthcheck", "run", "hk").returncode == 1
        assert wait_for(lambda: runner("inspect", "hk", "--format", "{{.State.Status}}").stdout.strip() == "exited")
    finally:
        if engine == "capsa":
            capsa_cleanup(runner)
        else:
            podman_cleanup(runner)
