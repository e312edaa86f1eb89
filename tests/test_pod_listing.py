"""What pod commands show, with real pods and containers, in podman 4.3's shapes: ``pod ps``
(columns, flags, filters, ``--format``), ``pod inspect``, ``pod top``, ``pod logs``, and
``ps --pod`` / ``ps --filter pod=``."""
from __future__ import annotations

import datetime
import json
import re
import time

import pytest

from conftest import CAPSA, Capsa
from containers import store_fixtures

store, c = store_fixtures("podlisting")


def ok(capsa: Capsa, *args: str, timeout: float = 60) -> str:
    r = capsa(*args, timeout=timeout)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def fails(capsa: Capsa, *args: str) -> str:
    """The first line of a command's error (it must exit 125 and print nothing)."""
    r = capsa(*args)
    assert (r.returncode, r.stdout) == (125, ""), (args, r.stdout, r.stderr)
    return r.stderr.splitlines()[0]


def two_pods(capsa: Capsa) -> tuple[str, str]:
    """web (running: infra and web-a; labelled) and db (created: its infra and db-a)."""
    web = ok(capsa, "pod", "create", "--name", "web", "--label", "tier=front", "--label", "x=1").strip()
    ok(capsa, "run", "-d", "--pod", "web", "--name", "web-a", "busybox", "sleep", "1000")
    time.sleep(0.01)
    db = ok(capsa, "pod", "create", "--name", "db").strip()
    ok(capsa, "create", "--pod", "db", "--name", "db-a", "busybox", "sleep", "1000")
    return web, db


def infra_of(capsa: Capsa, pod: str) -> str:
    return ok(capsa, "pod", "inspect", "--format", "{{.InfraContainerID}}", pod).strip()


def cid(capsa: Capsa, name: str) -> str:
    return ok(capsa, "inspect", "--format", "{{.Id}}", name).strip()


# -- pod ps ---------------------------------------------------------------------------------------

def test_pod_ps_default_columns_are_podmans(c: Capsa) -> None:
    web, db = two_pods(c)
    lines = ok(c, "pod", "ps").splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["POD ID", "NAME", "STATUS", "CREATED", "INFRA ID", "# OF CONTAINERS"]
    assert re.split(r"\s{2,}", lines[1])[:3] == [db[:12], "db", "Created"]  # newest first
    assert re.split(r"\s{2,}", lines[1])[4:] == [infra_of(c, "db")[:12], "2"]
    assert re.split(r"\s{2,}", lines[2])[:3] == [web[:12], "web", "Running"]
    assert re.split(r"\s{2,}", lines[2])[3].endswith("ago")
    assert len(lines) == 3
    for alias in ("ls", "list"):
        assert re.split(r"\s{2,}", ok(c, "pod", alias).splitlines()[0]) == re.split(r"\s{2,}", lines[0])
    lines = ok(c, "pod", "ps", "--ctr-names", "--ctr-ids", "--ctr-status", "--ns").splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == ["POD ID", "NAME", "STATUS", "CREATED", "INFRA ID", "IDS", "NAMES",
                                                     "STATUS", "CGROUP", "NAMESPACES"]
    infra = infra_of(c, "web")
    assert f"{infra[:12]},{cid(c, 'web-a')[:12]}" in lines[2]
    assert f"{web[:12]}-infra,web-a" in lines[2] and "running,running" in lines[2]
    lines = ok(c, "pod", "ps", "--ctr-names").splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == ["POD ID", "NAME", "STATUS", "CREATED", "INFRA ID", "NAMES"]
    lines = ok(c, "pod", "ps", "--no-trunc", "--ctr-ids").splitlines()
    assert lines[2].startswith(web) and f"{infra},{cid(c, 'web-a')}" in lines[2]
    assert [line.split()[:2] for line in ok(c, "pod", "ps", "--noheading").splitlines()] == [[db[:12], "db"], [web[:12], "web"]]
    assert ok(c, "pod", "ps", "-q").split() == [db, web]  # full ids, as podman 4.3
    assert ok(c, "pod", "ps", "-q", "--sort", "name").split() == [db, web]
    assert ok(c, "pod", "ps", "-q", "--sort", "id").split() == sorted([db, web])
    assert ok(c, "pod", "ps", "-q", "--sort", "status").split() == [db, web]  # Created < Running
    ok(c, "create", "--pod", "web", "--name", "web-b", "busybox", "true")
    assert ok(c, "pod", "ps", "-q", "--sort", "number").split() == [db, web]  # 2 < 3 containers
    assert ok(c, "pod", "ps", "-q", "-l").split() == [db]
    assert fails(c, "pod", "ps", "--sort", "bogus") == "Error: invalid option for --sort, options are: id, names, or number"
    assert fails(c, "pod", "ps", "-q", "--format", "{{.ID}}") == "Error: quiet and format cannot be used together"


def test_pod_ps_format_fields_and_json(c: Capsa) -> None:
    web, db = two_pods(c)
    infra = infra_of(c, "web")
    out = ok(c, "pod", "ps", "--filter", "name=web", "--format",
             "{{.ID}}|{{.Id}}|{{.Name}}|{{.Status}}|{{.InfraID}}|{{.InfraId}}|{{.NumberOfContainers}}|{{.Labels.tier}}|"
             "{{.Networks}}|{{.ContainerNames}}|{{.ContainerIds}}|{{.ContainerStatuses}}|{{.Namespace}}")
    assert out == (f"{web[:12]}|{web[:12]}|web|Running|{infra[:12]}|{infra[:12]}|2|front|capsa|{web[:12]}-infra,web-a|"
                   f"{infra[:12]},{cid(c, 'web-a')[:12]}|running,running|\n")
    assert ok(c, "pod", "ps", "--filter", "name=web", "--format", "{{.Created}}").strip().endswith("ago")
    assert ok(c, "pod", "ps", "--no-trunc", "--filter", "name=web", "--format", "{{.ID}} {{.InfraID}}") == f"{web} {infra}\n"
    lines = ok(c, "pod", "ps", "--format", "table {{.Id}} {{.Name}} {{.Labels}} {{.Networks}}").splitlines()
    assert lines[0].split() == ["POD", "ID", "NAME", "LABELS", "NETWORKS"]
    assert lines[2].split()[:3] == [web[:12], "web", "map[tier:front"]
    assert ok(c, "pod", "ps", "--noheading", "--format", "table {{.Name}}").split() == ["db", "web"]
    for fmt in ("json", "{{json .}}"):
        reports = json.loads(ok(c, "pod", "ps", "--format", fmt))
        assert [list(r) for r in reports] == [["Cgroup", "Containers", "Created", "Id", "InfraId", "Name", "Namespace",
                                               "Networks", "Status", "Labels"]] * 2
        web_report = reports[1]
        assert web_report["Id"] == web and web_report["InfraId"] == infra and web_report["Status"] == "Running"
        assert web_report["Labels"] == {"tier": "front", "x": "1"} and web_report["Networks"] == ["capsa"]
        assert web_report["Containers"] == [{"Id": infra, "Names": f"{web[:12]}-infra", "Status": "running"},
                                            {"Id": cid(c, "web-a"), "Names": "web-a", "Status": "running"}]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", web_report["Created"])
    assert fails(c, "pod", "ps", "--format", "{{.Bogus}}").startswith("Error: template:")


def test_pod_ps_filters_are_podmans(c: Capsa) -> None:
    web, db = two_pods(c)
    empty = ok(c, "pod", "create", "--name", "nothing", "--infra=false").strip()

    def names(*filters: str) -> list[str]:
        args = [a for f in filters for a in ("--filter", f)]
        return sorted(ok(c, "pod", "ps", *args, "--format", "{{.Name}}").split())

    assert names("name=web") == ["web"]
    assert names("name=^(web|db)$") == ["db", "web"]  # a regular expression, as podman
    assert names("id=" + web[:6]) == ["web"]
    assert names("id=" + web[:6], "id=" + db) == ["db", "web"]  # one key's values: any
    assert names("label=tier=front") == ["web"] and names("label=tier") == ["web"] and names("label=tier=back") == []
    assert names("status=running") == ["web"]
    assert names("status=created") == ["db", "nothing"]
    assert names("ctr-names=web-a") == ["web"] and names("ctr-names=-infra$") == ["db", "web"]
    assert names("ctr-ids=" + cid(c, "db-a")[:10]) == ["db"]
    assert names("ctr-number=2") == ["db", "web"] and names("ctr-number=0") == ["nothing"]
    assert names("ctr-status=created") == ["db"] and names("ctr-status=running") == ["web"]
    assert names("network=capsa") == ["db", "web"] and names("network=nonet") == []
    assert names("until=2000-01-01T00:00:00Z") == [] and names("until=0s") == ["db", "nothing", "web"]
    assert names("status=created", "name=db") == ["db"]  # keys: all of them
    ok(c, "pod", "stop", "-t", "0", "web")
    assert names("status=exited") == ["web"] and names("ctr-status=stopped") == ["web"]
    assert empty in ok(c, "pod", "ps", "-q", "--filter", "name=nothing")
    assert fails(c, "pod", "ps", "--filter", "bogus") == "Error: filter input must be in the form of filter=value: bogus is invalid"
    assert fails(c, "pod", "ps", "--filter", "bogus=1") == "Error: bogus is an invalid filter"
    assert fails(c, "pod", "ps", "--filter", "status=bogus") == "Error: bogus is not a valid pod status"
    assert fails(c, "pod", "ps", "--filter", "ctr-status=bogus") == "Error: bogus is not a valid status"


# -- pod inspect ----------------------------------------------------------------------------------

def test_pod_inspect_is_podmans_document(c: Capsa) -> None:
    web, db = two_pods(c)
    infra = infra_of(c, "web")
    text = ok(c, "pod", "inspect", "web")
    assert text.startswith('{\n     "Id": ')  # one pod: an object, five spaces of indent (podman 4.3)
    doc = json.loads(text)
    assert list(doc) == ["Id", "Name", "Created", "CreateCommand", "ExitPolicy", "State", "Hostname", "Labels",
                         "CreateCgroup", "CreateInfra", "InfraContainerID", "InfraConfig", "SharedNamespaces",
                         "NumContainers", "Containers"]
    assert (doc["Id"], doc["Name"], doc["State"], doc["ExitPolicy"], doc["CreateInfra"]) == (web, "web", "Running", "continue", True)
    assert doc["CreateCommand"][-7:] == ["create", "--name", "web", "--label", "tier=front", "--label", "x=1"]
    assert doc["Labels"] == {"tier": "front", "x": "1"} and doc["InfraContainerID"] == infra
    assert sorted(doc["SharedNamespaces"]) == ["ipc", "net", "uts"]
    assert doc["NumContainers"] == 2
    assert doc["Containers"] == [{"Id": infra, "Name": f"{web[:12]}-infra", "State": "running"},
                                 {"Id": cid(c, "web-a"), "Name": "web-a", "State": "running"}]
    assert list(doc["InfraConfig"]) == ["PortBindings", "HostNetwork", "StaticIP", "StaticMAC", "NoManageResolvConf",
                                        "DNSServer", "DNSSearch", "DNSOption", "NoManageHosts", "HostAdd", "Networks",
                                        "NetworkOptions", "pid_ns", "userns", "uts_ns"]
    assert doc["InfraConfig"]["Networks"] == ["capsa"] and doc["InfraConfig"]["HostNetwork"] is False
    both = json.loads(ok(c, "pod", "inspect", "web", db[:8]))
    assert [d["Name"] for d in both] == ["web", "db"]  # several: a list
    assert ok(c, "pod", "inspect", "--format", "{{.Name}} {{.State}} {{.NumContainers}}", "web", "db") == "web Running 2\ndb Created 2\n"
    assert ok(c, "pod", "inspect", "-f", "{{.Name}}", "-l") == "db\n"
    r = c("pod", "inspect", "web", "nope")
    assert r.returncode == 125 and json.loads(r.stdout)["Name"] == "web"
    assert r.stderr.startswith("Error: inspecting object: no such pod nope\n")
    r = c("pod", "inspect", "nope")
    assert (r.returncode, r.stdout) == (125, "[]\n")
    assert fails(c, "pod", "inspect") == "Error: no names or ids specified"
    assert fails(c, "pod", "inspect", "-l", "web") == "Error: --latest and arguments cannot be used together"


def test_pod_inspect_of_an_empty_pod_and_of_published_ports(c: Capsa) -> None:
    ok(c, "pod", "create", "--name", "bare", "--infra=false", "--label", "a=b")
    doc = json.loads(ok(c, "pod", "inspect", "bare"))
    assert list(doc) == ["Id", "Name", "Created", "CreateCommand", "ExitPolicy", "State", "Hostname", "Labels",
                         "CreateCgroup", "CreateInfra", "NumContainers"]  # podman's omitempty
    assert (doc["State"], doc["CreateInfra"], doc["NumContainers"]) == ("Created", False, 0)
    ok(c, "pod", "create", "--name", "pub", "-p", "127.0.0.1:18931:80", "--hostname", "hh")
    doc = json.loads(ok(c, "pod", "inspect", "pub"))
    assert doc["Hostname"] == "hh"
    assert doc["InfraConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18931"}]}


# -- pod top --------------------------------------------------------------------------------------

def test_pod_top_lists_the_processes_of_every_running_container(c: Capsa) -> None:
    two_pods(c)
    lines = ok(c, "pod", "top", "web").splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == ["USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND"]
    commands = sorted(re.split(r"\s{2,}", line.strip())[-1] for line in lines[1:])
    assert commands == ["/catatonit -P", "sleep 1000"]
    lines = ok(c, "pod", "top", "web", "pid", "args,user").splitlines()
    assert lines[0].split() == ["PID", "COMMAND", "USER"]
    assert sorted(line.split()[0] for line in lines[1:]) == ["1", "1"]  # each in its own pid namespace
    assert ok(c, "pod", "top", "db") == ""  # nothing runs: nothing printed, as podman 4.3
    assert ok(c, "pod", "top", "-l", "comm") == ""  # the latest pod: db
    assert fails(c, "pod", "top", "web", "bogus") == "Error: 'bogus': unknown descriptor"
    assert fails(c, "pod", "top", "web", "-eo", "pid") == "Error: '-eo': unknown descriptor"
    assert fails(c, "pod", "top") == "Error: you must provide the name or id of a running pod"
    assert fails(c, "pod", "top", "nope") == ("Error: unable to look up requested container: "
                                            "no pod with name or ID nope found: no such pod")  # (podman 4.3's words)


# -- pod logs -------------------------------------------------------------------------------------

def test_pod_logs_merge_the_containers_output(c: Capsa) -> None:
    pod_id = ok(c, "pod", "create", "--name", "lg").strip()
    ok(c, "run", "--pod", "lg", "--name", "lg-a", "busybox", "sh", "-c", "echo a1; echo a2 >&2")
    ok(c, "run", "--pod", "lg", "--name", "lg-b", "busybox", "sh", "-c", "echo b1; echo b2")
    a, b = cid(c, "lg-a")[:12], cid(c, "lg-b")[:12]
    r = c("pod", "logs", "lg")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{a} a1\n{b} b1\n{b} b2\n", f"{a} a2\n")
    assert ok(c, "pod", "logs", "--names", "lg") == "lg-a a1\nlg-b b1\nlg-b b2\n"
    assert ok(c, "pod", "logs", "-n", pod_id[:8]) == "lg-a a1\nlg-b b1\nlg-b b2\n"
    assert ok(c, "pod", "logs", "-c", "lg-b", "--names", "lg") == "b1\nb2\n"  # one container: no prefix
    assert ok(c, "pod", "logs", "--container", cid(c, "lg-b"), "lg") == "b1\nb2\n"
    r = c("pod", "logs", "--tail", "1", "--names", "lg")  # each container's last line
    assert (r.returncode, r.stdout, r.stderr) == (0, "lg-b b2\n", "lg-a a2\n")
    stamped = ok(c, "pod", "logs", "-t", "-c", "lg-a", "lg")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\S* a1\n", stamped)
    assert ok(c, "pod", "logs", "--since", "1h", "--names", "lg") == "lg-a a1\nlg-b b1\nlg-b b2\n"
    assert ok(c, "pod", "logs", "--until", "1h", "lg") == ""  # all written after an hour ago
    until = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # (after every line)
    assert ok(c, "pod", "logs", "--since", "2000-01-01T00:00:00Z", "--until", until, "-c", "lg-a", "lg") == "a1\n"
    assert ok(c, "pod", "logs", "--until", "2000-01-01T00:00:00Z", "lg") == ""
    assert ok(c, "pod", "logs", "-l", "--names") == "lg-a a1\nlg-b b1\nlg-b b2\n"
    assert fails(c, "pod", "logs", "-c", "nope", "lg") == "Error: container nope is not in pod lg: no such container"
    assert fails(c, "pod", "logs", "nope") == "Error: no pod with name or ID nope found: no such pod"
    assert fails(c, "pod", "logs") == "Error: specify at least one pod name or ID to log"
    assert fails(c, "pod", "logs", "-l", "lg") == "Error: --latest and pods cannot be used together"
    assert fails(c, "pod", "logs", "--color", "lg").startswith("Error: --color is not supported")


def test_pod_logs_follow_goes_on_until_the_pod_stops(c: Capsa) -> None:
    import subprocess

    ok(c, "pod", "create", "--name", "fl")
    ok(c, "run", "-d", "--pod", "fl", "--name", "fl-a", "busybox", "sh", "-c", "for i in 1 2 3; do echo n$i; sleep 0.3; done")
    argv = [str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot), "pod", "logs", "-f", "--names", "fl"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=c.env)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]  # written while it follows
        assert lines == ["fl-a n1\n", "fl-a n2\n", "fl-a n3\n"]
        time.sleep(0.3)
        assert proc.poll() is None  # the infra runs on: so does the follow (as podman's)
        ok(c, "pod", "stop", "fl")
        assert proc.wait(timeout=15) == 0
        assert proc.stdout.read() == "" and proc.stderr is not None and proc.stderr.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- ps --pod and ps --filter pod= ----------------------------------------------------------------

def test_ps_pod_columns_and_filter(c: Capsa) -> None:
    web, db = two_pods(c)
    ok(c, "run", "-d", "--name", "solo", "busybox", "sleep", "1000")
    lines = ok(c, "ps", "--pod").splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS",
                                                     "NAMES", "POD ID", "PODNAME"]
    row = next(line for line in lines if " web-a " in line)
    assert re.split(r"\s{2,}", row.strip())[-3:] == ["web-a", web[:12], "web"]
    assert re.split(r"\s{2,}", next(line for line in lines if " solo" in line).strip())[-1] == "solo"
    lines = ok(c, "ps", "-a", "-p", "--no-trunc").splitlines()
    assert re.split(r"\s{2,}", next(line for line in lines if " db-a " in line).strip())[-2:] == [db, "db"]
    out = ok(c, "ps", "-a", "--filter", "pod=db", "--format", "{{.Names}} {{.Pod}} [{{.PodName}}]")
    assert sorted(out.splitlines()) == sorted([f"db-a {db[:12]} []", f"{db[:12]}-infra {db[:12]} []"])  # PodName: with --pod only
    out = ok(c, "ps", "-a", "--pod", "--filter", f"pod={web[:7]}", "--format", "{{.Names}} {{.PodName}}")
    assert sorted(out.splitlines()) == sorted(["web-a web", f"{web[:12]}-infra web"])
    out = ok(c, "ps", "-a", "--filter", "pod=web", "--filter", f"pod={db}", "--format", "{{.Names}}")
    assert len(out.split()) == 4
    assert ok(c, "ps", "-a", "--filter", "pod=nope", "--format", "{{.Names}}") == ""
    docs = json.loads(ok(c, "ps", "-a", "--pod", "--filter", "pod=web", "--format", "json"))
    assert {(d["Pod"], d["PodName"]) for d in docs} == {(web, "web")}
    assert sorted((d["Names"][0], d["IsInfra"]) for d in docs) == [(f"{web[:12]}-infra", True), ("web-a", False)]  # podman's key
    assert sorted(ok(c, "ps", "-a", "--filter", "pod=db", "--format", "{{.Names}} {{.IsInfra}}").splitlines()) == sorted([
        f"{db[:12]}-infra true", "db-a false"])
    assert ok(c, "ps", "--filter", "name=solo", "--format", "[{{.Pod}}]") == "[]\n"


@pytest.mark.parametrize("argv", [["pod", "ps", "--bogus"], ["pod", "stop", "--bogus"], ["pod", "logs", "--bogus"]])
def test_unknown_flags_are_podmans_error(c: Capsa, argv: list[str]) -> None:
    r = c(*argv)
    assert (r.returncode, r.stdout) == (125, "")
    assert r.stderr == f"Error: unknown flag: --bogus\nSee 'capsa {' '.join(argv[:2])} --help'\n"
