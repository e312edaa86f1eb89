"""Pods, end to end: ``pod create`` (an infra container from the host's catatonit, no registry;
nothing started), containers joining with ``run``/``create --pod`` (shared net, uts, ipc, pid
namespaces held by the infra; localhost between members; the pod's hostname), podman's
refusals, ``--pod new:NAME``, ``pod rm`` (nothing left), and the helpers' pod cleanup."""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from conftest import Capsa
from containers import pod_ids, store_fixtures

store, c = store_fixtures("pods")
ID = re.compile(r"^[0-9a-f]{64}$")


def ok(r) -> str:  # type: ignore[no-untyped-def]
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return str(r.stdout)


def inspect(c: Capsa, ref: str) -> dict:
    return json.loads(ok(c("container", "inspect", ref)))[0]


def infra_of(c: Capsa, pod_id: str) -> dict:
    found = [inspect(c, cid) for cid in ok(c("ps", "-a", "-q", "--no-trunc")).split()]
    infras = [d for d in found if d["Pod"] == pod_id and d["IsInfra"]]
    assert len(infras) == 1, found
    return infras[0]


def ns(pid: int, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def test_pod_create_makes_a_record_and_an_infra_that_does_not_run(c: Capsa) -> None:
    out = ok(c("pod", "create", "--name", "web", "--label", "tier=front", "--infra-name", "web-infra"))
    pod_id = out.strip()
    assert ID.match(pod_id)
    assert pod_ids(c) == [pod_id]
    infra = inspect(c, "web-infra")
    assert infra["Pod"] == pod_id and infra["IsInfra"] is True
    assert infra["State"]["Status"] == "created"  # pod create starts nothing, as podman's
    assert infra["Config"]["Entrypoint"] == ["/catatonit", "-P"]
    assert infra["Config"]["Hostname"] == "web"
    record = json.loads((c.root / "pods" / pod_id / "config.json").read_text())
    assert record["share"] == ["ipc", "net", "uts"] and record["labels"] == {"tier": "front"}
    assert record["infra_id"] == infra["Id"]
    # a second pod reuses the infra root filesystem made once (no image, no registry)
    second = ok(c("pod", "create", "p2")).strip()
    assert infra_of(c, second)["Rootfs"] == infra["Rootfs"]
    assert ok(c("pod", "rm", "web", second)).split() == [pod_id, second]
    assert pod_ids(c) == [] and ok(c("ps", "-a", "-q")) == ""


def test_pod_create_bad_input_makes_nothing(c: Capsa) -> None:
    cases = [
        (["--share", "foo"], "invalid kernel namespace to share: foo. Options are: cgroup, ipc, net, pid, uts or none"),
        (["--infra=false", "-p", "8080:80"], "you must have an infra container to publish port bindings to the host"),
        (["--infra=false", "--share", "ipc"], "cannot set share(ipc) namespaces without an infra container"),
        (["--exit-policy", "sometimes"], 'invalid pod exit policy: "sometimes"'),
        (["--memory", "1g"], "--memory is not supported: pod-level resource limits need a pod cgroup"),
        (["--userns", "auto"], "--userns is not supported: capsa makes no user namespaces"),
        (["--name", "bad name"], "names must match"),
        (["-p", "notaport"], 'parsing container port: invalid port number: strconv.Atoi: parsing "notaport": invalid syntax'),
    ]
    for flags, message in cases:
        r = c("pod", "create", *flags)
        assert r.returncode == 125, (flags, r.stdout, r.stderr)
        assert r.stderr.startswith("Error: ") and message in r.stderr, (flags, r.stderr)
    assert pod_ids(c) == [] and ok(c("ps", "-a", "-q")) == ""
    ok(c("pod", "create", "--name", "dup"))
    r = c("pod", "create", "--name", "dup")
    assert r.returncode == 125 and 'Error: adding pod to state: name "dup" is in use: pod already exists' in r.stderr
    assert len(pod_ids(c)) == 1
    first = pod_ids(c)[0]
    new = ok(c("pod", "create", "--replace", "--name", "dup")).strip()  # --replace: the old one goes
    assert pod_ids(c) == [new] and new != first


def test_share_syntax_and_infra_false(c: Capsa) -> None:
    def share(*flags: str) -> list[str]:
        pod_id = ok(c("pod", "create", *flags)).strip()
        return list(json.loads((c.root / "pods" / pod_id / "config.json").read_text())["share"])

    assert share("--share", "+pid") == ["ipc", "net", "pid", "uts"]
    assert share("--share", "net,uts") == ["net", "uts"]
    assert share("--share", "none") == []
    assert share("--share", "") == []
    pod_id = ok(c("pod", "create", "--infra=false")).strip()
    assert json.loads((c.root / "pods" / pod_id / "config.json").read_text())["infra_id"] == ""
    cid = ok(c("run", "-d", "--pod", pod_id, "busybox", "sleep", "100")).strip()  # no infra: a plain member
    assert inspect(c, cid)["Pod"] == pod_id and inspect(c, cid)["HostConfig"]["UTSMode"] == "private"


def test_members_share_the_network_and_the_hostname(c: Capsa) -> None:
    pod_id = ok(c("pod", "create", "--name", "duo")).strip()
    ok(c("run", "-d", "--pod", "duo", "--name", "server", "busybox", "sh", "-c",
         "mkdir -p /www && echo hello-from-server > /www/index.html && httpd -f -p 127.0.0.1:8080 -h /www"))
    infra = infra_of(c, pod_id)
    assert infra["State"]["Status"] == "running"  # started with the first member
    server = inspect(c, "server")
    assert server["HostConfig"]["NetworkMode"] == f"container:{infra['Id']}"
    pid, ipid = server["State"]["Pid"], infra["State"]["Pid"]
    for kind in ("net", "uts", "ipc"):
        assert ns(pid, kind) == ns(ipid, kind) != ns(os.getpid(), kind), kind
    assert ns(pid, "pid") != ns(ipid, "pid")  # (pid is not shared by default)
    r = c("run", "--rm", "--pod", pod_id, "busybox", "sh", "-c",
          "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:8080/ && break; sleep 0.2; done;"
          " hostname; cat /etc/hostname; echo $HOSTNAME")
    assert ok(r).split() == ["hello-from-server", "duo", "duo", "duo"]


def test_shared_pid_namespace_reaps_orphans(c: Capsa) -> None:
    ok(c("pod", "create", "--name", "pids", "--share", "+pid"))
    ok(c("run", "-d", "--pod", "pids", "--name", "sleeper", "busybox", "sleep", "1000"))
    # an orphan (its parent exits at once) is reparented to the infra's catatonit, PID 1, and reaped
    r = c("run", "--rm", "--pod", "pids", "busybox", "sh", "-c",
          "sh -c 'sleep 1 & exit 0'; sleep 0.3; ps -o pid,ppid,stat,comm; echo ---; sleep 1.5; ps -o pid,ppid,stat,comm")
    before, after = ok(r).split("---")
    rows = [line.split() for line in before.strip().splitlines()[1:]]
    assert ["1", "0", "S", "catatonit"] in rows
    orphans = [row for row in rows if row[3] == "sleep" and row[1] == "1"]
    assert orphans, rows
    rows = [line.split() for line in after.strip().splitlines()[1:]]
    assert not [row for row in rows if row[0] == orphans[0][0]], rows  # reaped: no zombie left
    assert any(row[3] == "sleep" for row in rows)  # (the other member's)


def test_members_refuse_what_the_pod_decides(c: Capsa) -> None:
    ok(c("pod", "create", "--name", "strict"))
    cases = [
        (["-p", "8080:80"], "Error: invalid config provided: published or exposed ports must be defined when the pod "
                            "is created: network cannot be configured when it is shared with a pod"),
        (["--network", "none"], "networks must be defined when the pod is created"),
        (["--hostname", "foo"], "Error: invalid config provided: cannot set hostname when joining the pod UTS "
                                "namespace: invalid configuration"),
        (["--dns", "10.1.1.1"], "--dns must be set when the pod is created"),
    ]
    for flags, message in cases:
        r = c("run", "-d", "--pod", "strict", *flags, "busybox", "true")
        assert r.returncode == 125 and message in r.stderr, (flags, r.stderr)
        assert "capsa pod create" in r.stderr or "pod" in r.stderr
    r = c("run", "--pod", "nosuch", "busybox", "true")
    assert r.returncode == 125 and "Error: no pod with name or ID nosuch found: no such pod" in r.stderr
    assert len(ok(c("ps", "-a", "-q")).split()) == 1  # (the infra only: nothing was made)


def test_infra_container_goes_only_with_its_pod(c: Capsa) -> None:
    pod_id = ok(c("pod", "create", "--name", "keep")).strip()
    ok(c("create", "--pod", "keep", "--name", "member", "busybox", "true"))
    infra = infra_of(c, pod_id)
    r = c("rm", "-f", infra["Id"])
    assert r.returncode == 125
    assert (f"Error: container {infra['Id']} is the infra container of pod {pod_id} and cannot be removed without "
            "removing the pod") in r.stderr
    assert "capsa pod rm" in r.stderr
    ok(c("rm", "-a"))  # rm -a leaves a pod's infra to its pod
    assert ok(c("ps", "-a", "-q", "--no-trunc")).split() == [infra["Id"]]


def test_start_of_a_member_starts_the_infra_and_restart_rejoins(c: Capsa) -> None:
    pod_id = ok(c("pod", "create", "--name", "lazy", "--share", "+pid")).strip()
    ok(c("create", "--pod", "lazy", "--name", "m", "busybox", "sleep", "1000"))
    infra = infra_of(c, pod_id)
    assert infra["State"]["Status"] == "created" and inspect(c, "m")["State"]["Status"] == "created"
    ok(c("start", "m"))
    infra = infra_of(c, pod_id)
    assert infra["State"]["Status"] == "running"
    pid = inspect(c, "m")["State"]["Pid"]
    for kind in ("net", "uts", "ipc", "pid"):
        assert ns(pid, kind) == ns(infra["State"]["Pid"], kind)
    # the infra restarted (new process, new namespaces): a member restarted joins the new ones
    ok(c("stop", "m"))
    ok(c("restart", infra["Id"]))
    new_infra = infra_of(c, pod_id)
    assert new_infra["State"]["Pid"] != infra["State"]["Pid"]
    ok(c("start", "m"))
    pid = inspect(c, "m")["State"]["Pid"]
    for kind in ("net", "uts", "ipc", "pid"):
        assert ns(pid, kind) == ns(new_infra["State"]["Pid"], kind), kind


def test_pod_new_moves_network_flags_to_the_pod(c: Capsa) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cid = ok(c("run", "-d", "--pod", "new:fresh", "-p", f"127.0.0.1:{port}:8080", "--hostname", "fresh-host",
               "--name", "web", "busybox", "sh", "-c",
               "mkdir -p /www && echo published > /www/index.html && httpd -f -p 8080 -h /www")).strip()
    doc = inspect(c, cid)
    pod_id = doc["Pod"]
    record = json.loads((c.root / "pods" / pod_id / "config.json").read_text())
    assert record["name"] == "fresh" and record["publish"] == [f"127.0.0.1:{port}:8080"]
    assert record["hostname"] == "fresh-host" and doc["Config"]["Hostname"] == "fresh-host"
    assert not doc["NetworkSettings"]["Ports"]  # the infra publishes them
    assert infra_of(c, pod_id)["NetworkSettings"]["Ports"]
    deadline, body = time.monotonic() + 10, b""
    while time.monotonic() < deadline and b"published" not in body:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
                body = conn.recv(4096)
        except OSError:
            time.sleep(0.1)
    assert b"published" in body
    r = c("run", "--pod", "new:fresh", "busybox", "true")  # the name is taken now
    assert r.returncode == 125 and 'name "fresh" is in use' in r.stderr


def test_pod_rm_refuses_a_running_pod_and_removes_everything_with_force(c: Capsa) -> None:
    pod_id = ok(c("pod", "create", "--name", "busy", "--pod-id-file", str(c.tmp / "busy.id"))).strip()
    assert (c.tmp / "busy.id").read_text().strip() == pod_id
    r = c("pod", "create", "--pod-id-file", str(c.tmp / "busy.id"))
    assert r.returncode == 125 and "pod id file exists" in r.stderr
    ok(c("run", "-d", "--pod-id-file", str(c.tmp / "busy.id"), "--name", "worker", "busybox", "sleep", "1000"))
    ok(c("create", "--pod", "busy", "--name", "idle", "busybox", "true"))
    r = c("pod", "rm", "busy")
    assert r.returncode == 125
    assert (f"cannot remove container {inspect(c, 'worker')['Id']} as it is running - running or paused containers "
            "cannot be removed without force: container state improper") in r.stderr
    # podman 4.3's second error: the infra, which the running member depends on
    assert r.stderr.startswith("Error: 2 errors occurred:\n\t* removing container ")
    assert (f"removing container {infra_of(c, pod_id)['Id']} from pod {pod_id}: a container that depends on container "
            f"{infra_of(c, pod_id)['Id']} still exists: dependency exists") in r.stderr
    assert len(ok(c("ps", "-a", "-q")).split()) == 3  # nothing was removed
    r = c("pod", "rm", "nosuch")
    assert r.returncode == 1 and r.stderr.startswith("Error: no pod with name or ID nosuch found: no such pod")
    r = c("pod", "rm", "busy", "nosuch")
    assert r.returncode == 1 and pod_ids(c) == [pod_id]  # every name is looked up first
    assert ok(c("pod", "rm", "-i", "nosuch")) == ""
    assert ok(c("pod", "rm", "-f", "-t", "0", "--pod-id-file", str(c.tmp / "busy.id"))).split() == [pod_id]
    assert pod_ids(c) == [] and ok(c("ps", "-a", "-q")) == ""
    assert not (c.runroot / "pods" / pod_id).exists()
    # (the fixture then checks that no mount, cgroup, monitor, netns or bridge is left)


def test_pod_rm_all_and_latest(c: Capsa) -> None:
    first = ok(c("pod", "create")).strip()
    time.sleep(0.01)
    second = ok(c("pod", "create")).strip()
    ok(c("run", "-d", "--pod", first, "busybox", "sleep", "1000"))
    assert ok(c("pod", "rm", "--latest")).split() == [second]
    r = c("pod", "rm", "-a", "--latest")
    assert r.returncode == 125
    assert ok(c("pod", "rm", "-a", "-f")).split() == [first]
    assert pod_ids(c) == []


def test_ipc_and_cgroup_sharing_follow_share(c: Capsa) -> None:
    pod_id = ok(c("pod", "create", "--name", "own", "--share", "net")).strip()
    ok(c("run", "-d", "--pod", "own", "--name", "solo", "busybox", "sleep", "1000"))
    infra = infra_of(c, pod_id)
    pid, ipid = inspect(c, "solo")["State"]["Pid"], infra["State"]["Pid"]
    assert ns(pid, "net") == ns(ipid, "net")
    assert ns(pid, "ipc") != ns(ipid, "ipc") and ns(pid, "uts") != ns(ipid, "uts")
    ok(c("run", "--rm", "--pod", "own", "--hostname", "mine", "busybox", "true"))  # uts not shared: allowed


def test_cleanup_helper_removes_pods(store: Capsa) -> None:
    from containers import cleanup

    ok(store("pod", "create", "--name", "left"))
    ok(store("run", "-d", "--pod", "left", "busybox", "sleep", "1000"))
    assert cleanup(store) == []
    assert pod_ids(store) == []


@pytest.mark.parametrize("kind", ["oci"])
def test_pod_on_the_oci_driver(tmp_path_factory: pytest.TempPathFactory, kind: str) -> None:
    """The bundle a member gets (namespace paths, no hostname of its own) runs under crun too."""
    from containers import cleanup, oci_busybox_store

    for oc in oci_busybox_store(tmp_path_factory, "pods-oci"):
        try:
            pod_id = ok(oc("pod", "create", "--name", "crunpod", "--share", "+pid")).strip()
            ok(oc("run", "-d", "--pod", "crunpod", "--name", "srv", "busybox", "sh", "-c",
                  "mkdir -p /www && echo via-crun > /www/index.html && httpd -f -p 127.0.0.1:8080 -h /www"))
            r = oc("run", "--rm", "--pod", "crunpod", "busybox", "sh", "-c",
                   "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:8080/ && break; sleep 0.2; done;"
                   " hostname; ps -o pid,comm | grep -c catatonit")
            assert ok(r).split() == ["via-crun", "crunpod", "1"]
            infra = infra_of(oc, pod_id)
            pid = inspect(oc, "srv")["State"]["Pid"]
            for kind_ in ("net", "uts", "ipc", "pid"):
                assert ns(pid, kind_) == ns(infra["State"]["Pid"], kind_)
            ok(oc("pod", "rm", "-f", "crunpod"))
        finally:
            assert cleanup(oc) == []


def test_exit_policy_stop_stops_the_infra_after_the_last_member(c: Capsa) -> None:
    stop_id = ok(c("pod", "create", "--name", "stopper", "--exit-policy", "stop")).strip()
    keep_id = ok(c("pod", "create", "--name", "keeper")).strip()
    for pod in ("stopper", "keeper"):
        ok(c("run", "-d", "--pod", pod, "--name", f"{pod}-long", "busybox", "sleep", "1000"))
        ok(c("run", "--pod", pod, "busybox", "true"))  # one member exits: another still runs
    assert infra_of(c, stop_id)["State"]["Status"] == "running"
    ok(c("stop", "-t", "0", "stopper-long", "keeper-long"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and infra_of(c, stop_id)["State"]["Status"] != "exited":
        time.sleep(0.05)
    assert infra_of(c, stop_id)["State"]["Status"] == "exited"
    assert infra_of(c, keep_id)["State"]["Status"] == "running"  # continue (the default) keeps it


def test_restart_policy_rejoins_a_restarted_infra(c: Capsa) -> None:
    """A member's monitor restarting it (--restart always) after the infra restarted joins the
    infra's new namespaces (netattach.rejoin, generalized to every joined kind)."""
    pod_id = ok(c("pod", "create", "--name", "again")).strip()  # (not pid: its end would end the member)
    ok(c("run", "-d", "--pod", "again", "--name", "phoenix", "--restart", "always", "busybox", "sleep", "1000"))
    old = infra_of(c, pod_id)["State"]["Pid"]
    ok(c("restart", infra_of(c, pod_id)["Id"]))
    new = infra_of(c, pod_id)["State"]["Pid"]
    assert new != old
    ok(c("kill", "phoenix"))  # (its process ends: its monitor restarts it)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        doc = inspect(c, "phoenix")
        if doc["RestartCount"] >= 1 and doc["State"]["Status"] == "running" and doc["State"]["Pid"]:
            break
        time.sleep(0.1)
    pid = inspect(c, "phoenix")["State"]["Pid"]
    for kind in ("net", "uts", "ipc"):
        assert ns(pid, kind) == ns(new, kind), kind


def test_container_prune_leaves_pod_infras(c: Capsa) -> None:
    pod_id = ok(c("pod", "create", "--name", "pruned")).strip()
    ok(c("create", "--pod", "pruned", "--name", "stopped-member", "busybox", "true"))
    ok(c("container", "prune", "-f"))
    assert [d["Name"] for d in map(lambda i: inspect(c, i), ok(c("ps", "-a", "-q")).split())] == [f"{pod_id[:12]}-infra"]


def test_no_member_is_recorded_in_a_pod_removed_meanwhile(c: Capsa, tmp_path: Path) -> None:
    """pod rm racing a member's create: a member joined (``join``) before the pod was removed
    and recorded after is refused (the pod's not-found error) and leaves no container behind."""
    from containers import store_session

    from capsa.container.model import ContainerConfig
    from capsa.engine import containers, pods
    from capsa.pod.records import PodNotFound

    pod_id = ok(c("pod", "create", "gone")).strip()
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    sess = store_session(c)
    try:
        config = ContainerConfig(id=os.urandom(32).hex(), name="late", image_id=None, image_name=str(rootfs),
                                 rootfs=str(rootfs), cmd=["true"])
        pod = pods.join(sess, config, "gone", {})
        assert config.pod == pod_id
        pods.remove(sess, pod, force=True, timeout=0)  # (another command's pod rm -f, in between)
        with pytest.raises(PodNotFound):
            containers.create(sess, config)
    finally:
        sess.close()
    assert ok(c("ps", "-a", "-q")) == "" and pod_ids(c) == []
    assert not [p for p in os.listdir(c.root / "pods") if p.startswith(f".{pod_id}")]


def test_pod_rm_and_create_usage_errors_are_podmans(c: Capsa) -> None:
    """podman 4.3's words (exit 125, nothing removed) for pod rm's conflicting arguments and
    pod create's option errors."""
    ok(c("pod", "create", "--name", "kept"))
    missing = str(c.tmp / "no.id")
    cases = [
        ([], "Error: you must provide at least one name or id"),
        (["-a", "kept"], "Error: no arguments are needed with --all"),
        (["-a", "-l"], "Error: --all and --latest cannot be used together"),
        (["-l", "kept"], "Error: --latest and containers cannot be used together"),
        (["--pod-id-file", missing, "kept"], "Error: no arguments are needed with --latest or --pod-id-file"),
        (["-a", "--pod-id-file", missing], "Error: --all, --latest, and --pod-id-file cannot be used together"),
        (["-a", "-l", "--pod-id-file", missing], "Error: --all, --latest, and --pod-id-file cannot be used together"),
        (["--pod-id-file", missing], f"Error: reading pod ID file: open {missing}: no such file or directory"),
    ]
    for flags, message in cases:
        r = c("pod", "rm", *flags)
        assert r.returncode == 125 and r.stderr.startswith(message + "\n"), (flags, r.stderr)
    assert len(pod_ids(c)) == 1
    for flags, message in ((["--exit-policy", "bad"], 'Error: running pod create option: invalid pod exit policy: "bad"'),
                           (["--name", "bad name"], "Error: running pod create option: names must match "
                                                    "[a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument")):
        r = c("pod", "create", *flags)
        assert r.returncode == 125 and r.stderr.startswith(message + "\n"), (flags, r.stderr)
    assert len(pod_ids(c)) == 1


def test_run_pod_id_file_errors_are_podmans(c: Capsa) -> None:
    missing = str(c.tmp / "no.id")
    r = c("run", "--pod-id-file", missing, "busybox", "true")
    assert r.returncode == 125 and r.stderr.startswith(f"Error: reading pod ID file: open {missing}: no such file or directory\n")
    r = c("create", "--pod", "x", "--pod-id-file", missing, "busybox", "true")
    assert r.returncode == 125 and r.stderr.startswith("Error: cannot specify both --pod and --pod-id-file\n")
    assert ok(c("ps", "-a", "-q")) == "" and pod_ids(c) == []


def test_pod_create_network_hostname_and_infra_command(c: Capsa) -> None:
    """pod create's --network (the members are on it, through the infra), --hostname and
    --infra-command (with --infra-image: a local image's infra)."""
    ok(c("network", "create", "--subnet", "10.231.7.0/24", "podnet"))
    try:
        pod_id = ok(c("pod", "create", "--name", "netpod", "--network", "podnet", "--hostname", "pod-host",
                      "--infra-image", "busybox", "--infra-command", "sleep 1001")).strip()
        r = c("run", "--rm", "--pod", "netpod", "busybox", "sh", "-c", "hostname; ip -4 -o addr show")
        out = ok(r)
        assert out.splitlines()[0] == "pod-host"
        assert "inet 10.231.7." in out, out
        infra = infra_of(c, pod_id)
        assert infra["State"]["Status"] == "running"
        with open(f"/proc/{infra['State']['Pid']}/cmdline", "rb") as fh:
            assert fh.read().split(b"\0")[:2] == [b"sleep", b"1001"]
        ok(c("pod", "rm", "-f", "-t", "0", "netpod"))
    finally:
        c("pod", "rm", "-f", "-t", "0", "netpod")
        ok(c("network", "rm", "podnet"))


def test_pod_create_replace_with_bad_input_keeps_the_old_pod(c: Capsa) -> None:
    """--replace removes the old pod only once the new one can be made: an infra name taken by
    another container is refused first (bad input changes nothing)."""
    old = ok(c("pod", "create", "--name", "dup", "--infra-name", "dup-infra")).strip()
    ok(c("create", "--name", "taken", "busybox", "true"))
    r = c("pod", "create", "--replace", "--name", "dup", "--infra-name", "taken")
    assert r.returncode == 125 and "taken" in r.stderr, r.stderr
    assert pod_ids(c) == [old]
    new = ok(c("pod", "create", "--replace", "--name", "dup", "--infra-name", "dup-infra")).strip()  # (its own old name)
    assert pod_ids(c) == [new] != [old]
    assert inspect(c, "dup-infra")["Pod"] == new


def test_pod_rm_force_ignores_a_missing_pod_and_time_needs_force(c: Capsa) -> None:
    """podman 4.3: ``pod rm -f`` ignores a pod that does not exist (exit 0, as -i); ``-t``
    without ``-f`` is its error (exit 125)."""
    pod_id = ok(c("pod", "create", "--name", "here")).strip()
    r = c("pod", "rm", "-t", "0", "here")
    assert r.returncode == 125 and r.stderr.startswith("Error: --force option must be specified to use the --time option\n")
    assert pod_ids(c) == [pod_id]
    assert ok(c("pod", "rm", "-f", "nosuch")) == ""
    for flag in ("-i", "-f"):  # (neither ignores an unreadable --pod-id-file: podman's 125)
        r = c("pod", "rm", flag, "--pod-id-file", str(c.tmp / "no.id"))
        assert r.returncode == 125 and r.stderr.startswith("Error: reading pod ID file: open "), (flag, r.stderr)
    assert ok(c("pod", "rm", "-f", "nosuch", "here")).split() == [pod_id]
    assert pod_ids(c) == []


def test_pod_create_name_flag_and_argument_conflict(c: Capsa) -> None:
    for args in (["--name", "a", "b"], ["--name", "a", "a"]):  # (podman 4.3 refuses both, even the same)
        r = c("pod", "create", *args)
        assert r.returncode == 125 and r.stderr.startswith("Error: cannot specify --name and NAME at the same time\n")
    assert pod_ids(c) == []
