"""Parity with podman 4.3: ``ps`` (``container ls``/``list``): its flags, columns, JSON keys and
template fields (see tests/parity.py)."""
from __future__ import annotations

from parity import Case, parity_fixtures

RUN = "run -d --name up1 {image} sleep 60"
EXITED = "run --name ex1 {image} true"
COLUMNS = ("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES")
JSON_KEYS = frozenset({"AutoRemove", "Command", "CreatedAt", "Exited", "ExitedAt", "ExitCode", "Id", "Image", "ImageID",
                       "IsInfra", "Labels", "Mounts", "Names", "Namespaces", "Networks", "Pid", "Pod", "PodName",
                       "Ports", "Size", "StartedAt", "State", "Status", "Created"})

CASES = [
    Case("columns", "ps -a", header=COLUMNS),
    Case("container-ls", "container ls -a", header=COLUMNS),
    Case("container-list", "container list -a", header=COLUMNS),
    Case("noheading", "ps -a --noheading", setup=(EXITED,), stdout=r"\A[0-9a-f]{12}  .*ex1\n\Z"),
    Case("noheading-empty", "ps -a --noheading", stdout=r"\A\Z"),
    # without -a only running containers, a name filter too (it showed exited ones)
    Case("filter-name-running-only", "ps --filter name=ex1 --format {{.Names}}", setup=(EXITED,), stdout=r"\A\Z"),
    Case("filter-name-all", "ps -a --filter name=ex1 --format {{.Names}}", setup=(EXITED,), stdout=r"\Aex1\n\Z"),
    Case("filter-status-without-a", "ps --filter status=exited --format {{.Names}}", setup=(EXITED,),
         stdout=r"\Aex1\n\Z"),
    Case("filter-id", "ps -a --filter id={cid12} --format {{.Names}}", setup=(EXITED, "create --name c1 {image}"),
         stdout=r"\Ac1\n\Z"),
    Case("filter-label", "ps -a --filter label=k=v --format {{.Names}}",
         setup=(EXITED, "create --label k=v --name lab {image}"), stdout=r"\Alab\n\Z"),
    Case("filter-exited", "ps -a --filter exited=3 --format {{.Names}}",
         setup=(EXITED, "create --name three {image} sh -c 'exit 3'", "start three", "wait three"), stdout=r"\Athree\n\Z"),
    Case("filter-ancestor", "ps -a --filter ancestor=localhost/busybox:latest --format {{.Names}}", setup=(EXITED,), stdout=r"\Aex1\n\Z"),
    Case("plain-running-only", "ps --format {{.Names}}", setup=(EXITED, RUN), stdout=r"\Aup1\n\Z"),
    Case("sort-names", "ps -a --sort names --format {{.Names}}", setup=("create --name b2 {image}", "create --name a1 {image}",
                                                                       "create --name c3 {image}"),
         stdout=r"\Aa1\nb2\nc3\n\Z"),
    Case("sort-bogus", "ps --sort bogus", code=125, stderr=r'^Error: invalid argument "bogus" for "--sort" flag'),
    Case("last", "ps --last 1 --format {{.Names}}", setup=("create --name old {image}", "create --name new {image}"),
         stdout=r"\A(new|old)\n\Z"),
    Case("last-short", "ps -n 2 --format {{.Names}}", setup=("create --name old {image}", "create --name new {image}"),
         lines=2),
    Case("latest", "ps -l --format {{.Names}}", setup=("create --name old {image}", "create --name new {image}"),
         stdout=r"\Anew\n\Z"),
    Case("external", "ps -a --external --format {{.Names}}", setup=(EXITED,), stdout=r"^ex1$"),
    Case("size-column", "ps -a --size", setup=(EXITED,), header=COLUMNS + ("SIZE",),
         stdout=r"ex1\s+\S+B \(virtual \S+B\)$"),
    Case("size-short", "ps -a -s --format {{.Size}}", setup=(EXITED,), code=0),
    Case("namespace", "ps -a --ns", setup=(RUN,),
         header=("CONTAINER ID", "NAMES", "PID", "CGROUPNS", "IPC", "MNT", "NET", "PIDNS", "USERNS", "UTS"),
         stdout=r"up1\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+$"),
    Case("namespace-ns", "ps -a --namespace --noheading --format {{.Names}}", setup=(RUN,), stdout=r"\Aup1\n\Z"),
    Case("sync", "ps -a --sync --format {{.Names}}", setup=(EXITED,), stdout=r"\Aex1\n\Z"),
    Case("watch-quiet", "ps --watch 1 -q", stdout=r"\A\Z"),  # (once: podman does not watch a quiet listing)
    Case("quiet", "ps -a -q", setup=(EXITED,), stdout=r"\A[0-9a-f]{12}\n\Z"),
    Case("quiet-no-trunc", "ps -a -q --no-trunc", setup=(EXITED,), stdout=r"\A[0-9a-f]{64}\n\Z"),
    Case("json-keys", "ps -a --format json", setup=(EXITED, RUN), keys=JSON_KEYS,
         check=lambda r: __import__("json").loads(r.stdout)[0]["Names"] in (["up1"], ["ex1"])),
    # ExitCode of a running container is 0, whatever its previous run exited with (podman resets it)
    Case("json-exitcode-running-again", "ps --format json",
         setup=("create --name rr {image} sh -c '[ -f /x ] && sleep 60; touch /x; exit 3'", "start rr", "wait rr",
                "start rr"),
         check=lambda r: [(d["State"], d["ExitCode"]) for d in __import__("json").loads(r.stdout)] == [("running", 0)]),
    Case("template-exitcode-running-again", "inspect --format {{.State.ExitCode}} rr",
         setup=("create --name rr {image} sh -c '[ -f /x ] && sleep 60; touch /x; exit 3'", "start rr", "wait rr",
                "start rr"), stdout=r"\A0\n\Z"),
    # Size and Namespaces only when asked (--size, --ns): they cost a walk of each container's layer
    Case("json-no-size-unless-asked", "ps -a --format json", setup=(EXITED, RUN),
         check=lambda r: all(d["Size"] is None and d["Namespaces"] == {} for d in __import__("json").loads(r.stdout))),
    Case("json-size-when-asked", "ps -a --size --format json", setup=(EXITED,),
         check=lambda r: set(__import__("json").loads(r.stdout)[0]["Size"]) == {"rwSize", "rootFsSize"}),
    # a template's .State is podman's human state (JSON's State stays the plain word)
    Case("template-state", "ps -a --format '{{.Names}} {{.State}}'", setup=(EXITED, RUN, "create --name cr1 {image}"),
         check=lambda r: bool(__import__("re").fullmatch(r"cr1 Created\nex1 Exited \(0\) \S.* ago\nup1 Up \S.* ago",
                                                         "\n".join(sorted(r.stdout.splitlines()))))),  # (any order)
    Case("json-empty", "ps --format json", stdout=r"\A\[\]\n\Z"),
    Case("template-fields", "ps -a --format '{{.ID}} {{.Image}} {{.Names}} {{.State}} {{.Pod}}|{{.Labels}}'",
         setup=(EXITED,), stdout=r"\A[0-9a-f]{12} localhost/busybox:latest ex1 \S.*\|.*\n\Z"),
    Case("template-command-createdat", "ps -a --format '{{.Command}}/{{.CreatedAt}}/{{.RunningFor}}/{{.Status}}'",
         setup=(EXITED,), stdout=r"\Atrue/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d.* ago/Exited \(0\) .*ago\n\Z"),
    Case("pod-columns", "ps -a --pod", header=COLUMNS + ("POD ID", "PODNAME")),
    Case("bad-filter", "ps --filter nosuch=1", code=125, stderr=r"^Error: "),
]

store, podman_store, test_parity = parity_fixtures("ps", CASES)
