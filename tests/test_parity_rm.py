"""Parity with podman 4.3: ``rm`` (``container rm``), ``container prune`` and ``container
exists``: flags, what they print, messages and exit codes (see tests/parity.py)."""
from __future__ import annotations

from parity import Case, parity_fixtures

RUN = "run -d --name up1 {image} sleep 60"
EXITED = "run --name ex1 {image} true"

CASES = [
    Case("rm-name", "rm ex1", setup=(EXITED,), stdout=r"\Aex1\n\Z"),
    Case("rm-short-id", "rm {cid12}", setup=("create {image}",), stdout=r"\A[0-9a-f]{12}\n\Z"),
    Case("rm-unknown", "rm nosuch", code=1,
         stderr=r'^Error: no container with (name or ID|ID or name) "nosuch" found: no such container$'),
    # every name is looked up first: nothing is removed
    Case("rm-unknown-and-known", "rm nosuch ex1", setup=(EXITED,), code=1, stdout=r"\A\Z",
         stderr=r'"nosuch" found: no such container$'),
    Case("rm-ignore", "rm --ignore nosuch", stdout=r"\A\Z"),
    Case("rm-ignore-short", "rm -i nosuch ex1", setup=(EXITED,), stdout=r"\Aex1\n\Z"),
    Case("rm-force-unknown", "rm -f nosuch", stdout=r"\A\Z"),
    Case("rm-running", "rm up1", setup=(RUN,), code=2, stderr=r"^Error: "),
    Case("rm-force-time", "rm -f --time 0 up1", setup=(RUN,), stdout=r"\Aup1\n\Z"),
    Case("rm-force-t", "rm -f -t 0 up1", setup=(RUN,), stdout=r"\Aup1\n\Z"),
    Case("rm-all", "rm --all", setup=(EXITED,), stdout=r"\A[0-9a-f]{64}\n\Z"),
    Case("rm-latest", "rm --latest", setup=(EXITED, "create --name newest {image}"), stdout=r"\A[0-9a-f]{64}\n\Z",
         check=lambda r: None),
    Case("rm-filter", "rm --filter name=ex1", setup=(EXITED, "create --name other {image}"),
         stdout=r"\A[0-9a-f]{64}\n\Z"),
    Case("rm-filter-and-name", "rm --filter name=ex1 ex1", setup=(EXITED,), code=125,
         stderr=r"^Error: --filter takes no arguments$"),
    Case("rm-volumes", "rm -v ex1", setup=("run --name ex1 -v /data {image} true",), stdout=r"\Aex1\n\Z"),
    Case("rm-volumes-long", "rm --volumes ex1", setup=(EXITED,), stdout=r"\Aex1\n\Z"),
    Case("rm-depend", "rm --depend base", setup=("create --name base {image} sleep 60",
                                                 "create --name joined --network container:base {image}"),
         lines=2, stdout=r"\A[0-9a-f]{64}\n[0-9a-f]{64}\n\Z"),
    Case("rm-nothing", "rm", code=125, stderr=r"^Error: you must provide at least one name or id$"),
    Case("container-rm", "container rm ex1", setup=(EXITED,), stdout=r"\Aex1\n\Z"),
    # container prune
    Case("prune", "container prune -f", setup=(EXITED, RUN), stdout=r"\A[0-9a-f]{64}\n\Z"),
    Case("prune-filter-label", "container prune -f --filter label=k=v",
         setup=(EXITED, "run --label k=v --name lab {image} true"), stdout=r"\A[0-9a-f]{64}\n\Z"),
    Case("prune-filter-label-not", "container prune -f --filter label!=k",
         setup=("run --label k=v --name lab {image} true",), stdout=r"\A\Z"),
    Case("prune-filter-until", "container prune -f --filter until=2000-01-01T00:00:00Z", setup=(EXITED,),
         stdout=r"\A\Z"),
    # container exists
    Case("exists", "container exists ex1", setup=(EXITED,), stdout=r"\A\Z"),
    Case("exists-not", "container exists nosuch", code=1, stdout=r"\A\Z", stderr=r"\A\Z"),
    Case("exists-external", "container exists --external ex1", setup=(EXITED,)),
    Case("exists-external-not", "container exists --external nosuch", code=1),
]

store, podman_store, test_parity = parity_fixtures("rm", CASES)
