"""Parity with podman 4.3: ``start``, ``wait``, ``logs`` and ``inspect`` (also under
``container``): flags, what they print, messages and exit codes (see tests/parity.py)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from parity import ENGINES, Case, capsa_cleanup, parity_fixtures, podman_cleanup

CREATED = "create --name c1 {image} true"
RUN = "run -d --name up1 {image} sleep 60"
TWO = ("run --name l1 {image} sh -c 'echo one; sleep 0.2; echo two'", "run --name l2 {image} echo three")
NOSUCH = r'^Error: no container with name or ID "nosuch" found: no such container$'

CASES = [
    Case("start-name", "start c1", setup=(CREATED,), stdout=r"\Ac1\n\Z"),
    Case("start-short-id", "start {cid12}", setup=("create {image} true",), stdout=r"\A[0-9a-f]{12}\n\Z"),
    Case("start-two", "start c1 c2", setup=(CREATED, "create --name c2 {image} true"), stdout=r"\Ac1\nc2\n\Z"),
    Case("start-running", "start up1", setup=(RUN,), stdout=r"\A\Z"),
    Case("start-all", "start --all", setup=(CREATED, RUN), stdout=r"\A[0-9a-f]{64}\n\Z"),
    Case("start-all-and-name", "start --all c1", setup=(CREATED,), code=125,
         stderr=r"^Error: either start all containers or the container\(s\) provided in the arguments$"),
    Case("start-filter", "start --filter name=c1", setup=(CREATED, "create --name other {image} true"),
         stdout=r"\A[0-9a-f]{64}\n\Z"),
    Case("start-filter-short", "start -f name=c1", setup=(CREATED,), stdout=r"\A[0-9a-f]{64}\n\Z"),
    Case("start-latest", "start --latest", setup=(CREATED, "create --name newest {image} true"),
         stdout=r"\A[0-9a-f]{64}\n\Z"),
    Case("start-latest-short", "start -l", setup=(CREATED,), stdout=r"\A[0-9a-f]{64}\n\Z"),
    Case("start-nothing", "start", code=125, stderr=r"^Error: start requires at least one argument$"),
    Case("start-unknown", "start nosuch", code=125, stderr=NOSUCH),
    Case("start-attach", "start -a c1", setup=("create --name c1 {image} echo hi",), stdout=r"\Ahi\n\Z"),
    Case("start-attach-code", "start -a c1", setup=("create --name c1 {image} sh -c 'exit 4'",), code=4),
    Case("start-attach-stdin", "start -a -i c1", setup=("create -i --name c1 {image} cat",), input="in\n",
         stdout=r"\Ain\n\Z"),
    Case("container-start", "container start c1", setup=(CREATED,), stdout=r"\Ac1\n\Z"),
    # wait
    Case("wait", "wait ex1", setup=("create --name ex1 {image} sh -c 'exit 3'", "start ex1"), stdout=r"\A3\n\Z"),
    Case("wait-latest", "wait --latest", setup=("create --name ex1 {image} sh -c 'exit 5'", "start ex1"),
         stdout=r"\A5\n\Z"),
    Case("wait-latest-short", "wait -l", setup=("create --name ex1 {image} true", "start ex1"), stdout=r"\A0\n\Z"),
    Case("wait-condition-running", "wait --condition running up1", setup=(RUN,), stdout=r"\A-1\n\Z"),
    Case("wait-condition-exited", "wait --condition=exited ex1", setup=("run --name ex1 {image} true",),
         stdout=r"\A0\n\Z"),
    Case("wait-condition-created", "wait --condition created c1", setup=(CREATED,), stdout=r"\A-1\n\Z"),
    Case("wait-condition-bad", "wait --condition bogus c1", setup=(CREATED,), code=125,
         stderr=r"^Error: unknown container state: bogus: invalid argument$"),
    Case("wait-interval", "wait --interval 50ms ex1", setup=("run --name ex1 {image} true",), stdout=r"\A0\n\Z"),
    Case("wait-interval-short", "wait -i 100 ex1", setup=("run --name ex1 {image} true",), stdout=r"\A0\n\Z"),
    Case("wait-nothing", "wait", code=125, stderr=r'requires a name, id, or the "--latest" flag$'),
    Case("wait-unknown", "wait nosuch", code=125, stderr=NOSUCH),
    # logs
    Case("logs", "logs l1", setup=TWO, stdout=r"\Aone\ntwo\n\Z"),
    Case("logs-two", "logs l1 l2", setup=TWO, lines=3, stdout=r"^[0-9a-f]{12} one$"),  # (podman: in no fixed order)
    Case("logs-names", "logs --names l1 l2", setup=TWO, lines=3, stdout=r"^l1 one$"),
    Case("logs-names-one", "logs -n l1", setup=TWO, stdout=r"\Aone\ntwo\n\Z"),
    Case("logs-color", "logs --color l1", setup=TWO, stdout=r"\A\x1b\[37mone\x1b\[0m\n\x1b\[37mtwo\x1b\[0m\n\Z"),
    Case("logs-latest", "logs --latest", setup=TWO, stdout=r"\Athree\n\Z"),
    Case("logs-latest-short", "logs -l", setup=TWO, stdout=r"\Athree\n\Z"),
    Case("logs-until-past", "logs --until 2000-01-01T00:00:00Z l1", setup=TWO, stdout=r"\A\Z"),
    Case("logs-tail", "logs --tail 1 l1", setup=TWO, stdout=r"\Atwo\n\Z"),
    Case("logs-since-future", "logs --since 2099-01-01T00:00:00Z l1", setup=TWO, stdout=r"\A\Z"),
    Case("logs-nothing", "logs", code=125, stderr=r"^Error: specify at least one container name or ID to log$"),
    Case("logs-unknown", "logs nosuch", code=125, stderr=NOSUCH),
    Case("container-logs", "container logs l2", setup=TWO, stdout=r"\Athree\n\Z"),
    # inspect
    Case("inspect-size", "inspect --size --format '{{.SizeRw}} {{.SizeRootFs}}' c1", setup=(CREATED,),
         stdout=r"\A\d+ [1-9]\d*\n\Z"),
    Case("inspect-latest", "inspect -l --format {{.Name}}", setup=(CREATED, "create --name newest {image} true"),
         stdout=r"\Anewest\n\Z"),
    Case("inspect-latest-size", "inspect -l -s --format {{.SizeRootFs}}", setup=(CREATED,), stdout=r"\A[1-9]\d*\n\Z"),
    Case("inspect-type-container", "inspect --type container --format {{.Name}} c1", setup=(CREATED,),
         stdout=r"\Ac1\n\Z"),
    Case("inspect-type-bad", "inspect --type bogus c1", setup=(CREATED,), code=125,
         stderr=r'^Error: invalid type "bogus": must be '),
    # podman 4.3's other types: pod, network, volume (all: containers, images, volumes, networks, pods)
    Case("inspect-type-volume", "inspect --type volume --format {{.Name}} iv1", setup=("volume create iv1",),
         stdout=r"\Aiv1\n\Z"),
    Case("inspect-type-volume-json", "inspect --type volume iv1", setup=("volume create iv1",),
         check=lambda r: [d["Name"] for d in __import__("json").loads(r.stdout)] == ["iv1"]),
    Case("inspect-type-volume-unknown", "inspect --type volume c1", setup=(CREATED,), code=125,
         stderr=r"^Error: inspecting object: no such volume c1$"),
    Case("inspect-type-pod", "inspect --type pod --format {{.Name}} ip1", setup=("pod create --infra=false --name ip1",),
         stdout=r"\Aip1\n\Z"),
    Case("inspect-type-pod-json", "inspect --type pod ip1", setup=("pod create --infra=false --name ip1",),
         check=lambda r: [d["Name"] for d in __import__("json").loads(r.stdout)] == ["ip1"]),
    Case("inspect-type-pod-unknown", "inspect --type pod nosuch", code=125,
         stderr=r"^Error: inspecting object: no such pod nosuch$"),
    Case("inspect-type-network", "inspect --type network --format {{.Name}} in1", setup=("network create in1",),
         stdout=r"\Ain1\n\Z"),
    Case("inspect-type-network-unknown", "inspect --type network nosuch", code=125,
         stderr=r"^Error: inspecting object: network nosuch: "),
    Case("inspect-all-volume-pod", "inspect --format {{.Name}} iv2 ip2",
         setup=("volume create iv2", "pod create --infra=false --name ip2"), stdout=r"\Aiv2\nip2\n\Z"),
    Case("inspect-unknown", "inspect nosuch", code=125, stderr=r'^Error: inspecting object: no such object: "nosuch"$'),
    Case("container-inspect-unknown", "container inspect nosuch", code=125,
         stderr=r"^Error: inspecting object: no such container nosuch$"),
    Case("container-inspect-latest", "container inspect --latest --format {{.Name}}", setup=(CREATED,),
         stdout=r"\Ac1\n\Z"),
    Case("container-inspect-size", "container inspect -s --format {{.SizeRootFs}} c1", setup=(CREATED,),
         stdout=r"\A[1-9]\d*\n\Z"),
    Case("inspect-status", "inspect --format {{.State.Status}} c1", setup=(CREATED,), stdout=r"\Acreated\n\Z"),
]

store, podman_store, test_parity = parity_fixtures("start", CASES)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("stdin", ["/dev/null", "file"])
def test_start_attach_stdin_not_pollable(stdin: str, engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """``start -a -i`` with stdin from /dev/null or a regular file (which epoll refuses): the
    container reads it to its end and exits, as in podman."""
    runner = request.getfixturevalue("store" if engine == "capsa" else "podman_store")
    path = Path("/dev/null") if stdin == "/dev/null" else tmp_path / "in.txt"
    if stdin == "file":
        path.write_text("from a file\n")
    argv = ([str(__import__("conftest").CAPSA), "--root", str(runner.root), "--runroot", str(runner.runroot)]
            if engine == "capsa" else runner.argv())
    try:
        assert runner("create", "-i", "--name", "cat1", "busybox", "cat").returncode == 0
        with open(path, "rb") as fh:
            r = subprocess.run([*argv, "start", "-a", "-i", "cat1"], stdin=fh, capture_output=True, timeout=60,
                               env=runner.env if engine == "capsa" else None)
        assert r.returncode == 0, r.stderr
        assert r.stdout == (b"" if stdin == "/dev/null" else b"from a file\n")
    finally:
        if engine == "capsa":
            assert capsa_cleanup(runner) == []
        else:
            podman_cleanup(runner)
