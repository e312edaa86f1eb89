"""Parity with podman 4.3: ``network`` commands, light (shapes and exit codes; see tests/parity.py).

podman keeps its networks in /etc/containers/networks, shared by every store: each case that
makes a network uses a name of its own and removes it, and a case that would leave one behind
runs in capsa only."""
from __future__ import annotations

from parity import Case, parity_fixtures

SHARED = "it would leave a network in podman's shared /etc/containers/networks"

CASES = [
    Case("ls-columns", "network ls", header=("NETWORK ID", "NAME", "DRIVER")),
    Case("ls-noheading", "network ls --noheading", stdout=r"\A[0-9a-f]{12} +\S+ +bridge\n"),
    Case("ls-noheading-format", "network ls --noheading --format 'table {{.Driver}}'", stdout=r"\Abridge\n"),
    Case("list-alias", "network list --noheading", stdout=r"\A[0-9a-f]{12} +\S+ +bridge\n",
         podman_skip="podman 4.3's network list alias lacks --noheading (unknown flag), which its man page documents"),
    Case("create-rm", "network rm pvtn-parity1", setup=("network create pvtn-parity1",), stdout=r"\Apvtn-parity1\n\Z"),
    Case("create-ipam-host-local", "network rm pvtn-parity2", setup=("network create --ipam-driver host-local pvtn-parity2",),
         stdout=r"\Apvtn-parity2\n\Z"),
    Case("create-ipam-bogus", "network create --ipam-driver bogus pvtn-parity9", code=125,
         stderr=r'^Error: unsupported ipam driver "bogus"'),
    Case("rm-unknown", "network rm nosuchnet-pv", code=1,
         stderr=r"^Error: unable to find network with name or ID nosuchnet-pv: network not found"),
    Case("rm-in-use", "network rm pvtn-parity3", setup=("network create pvtn-parity3", "create --name pc --network pvtn-parity3 {image} true"),
         code=2, stderr=r'^Error: "pvtn-parity3" has associated containers with it\. Use -f to forcibly delete containers and pods: '
                        r"network is being used", podman_skip=SHARED),
    Case("rm-force-in-use", "network rm -f -t 0 pvtn-parity4",
         setup=("network create pvtn-parity4", "create --name pc --network pvtn-parity4 {image} true"), stdout=r"\Apvtn-parity4\n\Z"),
    Case("exists-not", "network exists nosuchnet-pv", code=1, stdout=r"\A\Z"),
    Case("inspect-unknown", "network inspect nosuchnet-pv", code=125, stdout=r"\A\[\]\n\Z",
         stderr=r"^Error: inspecting object: network nosuchnet-pv: unable to find network with name or ID nosuchnet-pv"),
    Case("inspect-format", "network rm pvtn-parity5", setup=("network create pvtn-parity5",), stdout=r"\Apvtn-parity5\n\Z"),
    Case("prune-filter", "network prune -f --filter label=pvtn-parity-label=1",
         setup=("network create --label pvtn-parity-label=1 pvtn-parity6",), stdout=r"\Apvtn-parity6\n\Z"),
    Case("create-exists", "network create pvtn-parity7", setup=("network create pvtn-parity7",), code=125,
         stderr=r"^Error: network name pvtn-parity7 already used: network already exists", podman_skip=SHARED),
]

store, podman_store, test_parity = parity_fixtures("network", CASES)
