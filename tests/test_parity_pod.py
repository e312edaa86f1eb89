"""Parity with podman 4.3: ``pod`` commands, light (shapes, exit codes, the flags the sweep added;
see tests/parity.py)."""
from __future__ import annotations

from parity import Case, parity_fixtures

REFUSED = "capsa refuses it (docs/cli.md, refused flags)"

CASES = [
    Case("ps-columns", "pod ps", header=("POD ID", "NAME", "STATUS", "CREATED", "INFRA ID", "# OF CONTAINERS")),
    Case("ps-namespace", "pod ps --namespace",
         header=("POD ID", "NAME", "STATUS", "CREATED", "INFRA ID", "CGROUP", "NAMESPACES", "# OF CONTAINERS")),
    Case("ps-noheading", "pod ps --noheading", setup=("pod create --name pp1",), stdout=r"\A[0-9a-f]{12} +pp1 +Created "),
    Case("create-net", "pod create --net none --name pp1", stdout=r"\A[0-9a-f]{64}\n\Z"),
    Case("create-net-used", "pod ps --format '{{.Name}} {{.Status}}'", setup=("pod create --net none --name pp1",),
         stdout=r"\App1 Created\n\Z"),
    Case("create-refused", "pod create --memory 1g --name pp1", code=125,
         stderr=r"^Error: --memory is not supported: ", podman_skip=REFUSED),
    Case("rm-unknown", "pod rm nosuchpod", code=1, stderr=r"^Error: no pod with name or ID nosuchpod found"),
    Case("exists-not", "pod exists nosuchpod", code=1, stdout=r"\A\Z"),
    Case("inspect-unknown", "pod inspect nosuchpod", code=125, stdout=r"\A\[\]\n\Z", stderr=r"^Error: inspecting object: no such pod nosuchpod"),
]

store, podman_store, test_parity = parity_fixtures("pod", CASES)
