"""Parity with podman 4.3: ``volume create|ls|inspect|rm|prune|exists|export|import|mount|unmount|reload``
(see tests/parity.py)."""
from __future__ import annotations

import re

from parity import Case, parity_fixtures

JSON_KEYS = ("Name", "Driver", "Mountpoint", "CreatedAt", "Labels", "Scope", "Options", "MountCount",
             "NeedsCopyUp", "NeedsChown")
IN_USE = r"^Error: volume pvu is being used by the following container\(s\): [0-9a-f]{64}: volume is being used"


def _tar_has_f(r) -> None:  # type: ignore[no-untyped-def]
    assert re.match(r"f\x00", r.stdout), r.stdout[:100]


CASES = [
    # -- ls
    Case("ls-columns", "volume ls", setup=("volume create pv1",), header=("DRIVER", "VOLUME NAME")),
    Case("ls-noheading", "volume ls --noheading", setup=("volume create pv1",), stdout=r"\Alocal +pv1\n\Z"),
    Case("ls-quiet", "volume ls -q", setup=("volume create pv1",), stdout=r"\Apv1\n\Z"),
    Case("ls-format", "volume ls --format '{{.Name}} {{.Driver}} {{.Scope}}'", setup=("volume create pv1",),
         stdout=r"\Apv1 local local\n\Z"),
    Case("ls-format-table-noheading", "volume ls --noheading --format 'table {{.Name}}'", setup=("volume create pv1",),
         stdout=r"\Apv1\n\Z"),
    Case("ls-json", "volume ls --format json", setup=("volume create pv1",), keys=JSON_KEYS,
         stdout=r'"NeedsCopyUp": true'),
    Case("ls-filter-name-regex", "volume ls -q --filter name=^pva", setup=("volume create pva1", "volume create pvb2"),
         stdout=r"\Apva1\n\Z"),
    Case("ls-filter-name-search", "volume ls -q -f name=b", setup=("volume create pva1", "volume create pvb2"),
         stdout=r"\Apvb2\n\Z"),
    Case("ls-filter-name-or", "volume ls -q --filter name=a1 --filter name=b2",
         setup=("volume create pva1", "volume create pvb2", "volume create pvc3"), lines=2),
    Case("ls-filter-label", "volume ls -q --filter label=k=v", setup=("volume create --label k=v pvl", "volume create pvn"),
         stdout=r"\Apvl\n\Z"),
    Case("ls-filter-label-key", "volume ls -q --filter label=k", setup=("volume create --label k=v pvl", "volume create pvn"),
         stdout=r"\Apvl\n\Z"),
    Case("ls-filter-driver", "volume ls -q --filter driver=local", setup=("volume create pv1",), stdout=r"\Apv1\n\Z"),
    Case("ls-filter-driver-other", "volume ls -q --filter driver=other", setup=("volume create pv1",), stdout=r"\A\Z"),
    Case("ls-filter-scope", "volume ls -q --filter scope=local", setup=("volume create pv1",), stdout=r"\Apv1\n\Z"),
    Case("ls-filter-opt", "volume ls -q --filter opt=type=tmpfs",
         setup=("volume create -o type=tmpfs -o device=tmpfs pvt", "volume create pvn"), stdout=r"\Apvt\n\Z"),
    Case("ls-filter-until", "volume ls -q --filter until=2020-01-01", setup=("volume create pv1",), stdout=r"\A\Z"),
    Case("ls-filter-until-future", "volume ls -q --filter until=2099-01-01", setup=("volume create pv1",),
         stdout=r"\Apv1\n\Z"),
    Case("ls-filter-dangling", "volume ls -q --filter dangling=true",
         setup=("volume create pvd", "create --name pc -v pvu:/d {image} true"), stdout=r"\Apvd\n\Z"),
    Case("ls-filter-dangling-false", "volume ls -q --filter dangling=false",
         setup=("volume create pvd", "create --name pc -v pvu:/d {image} true"), stdout=r"\Apvu\n\Z"),
    Case("ls-filter-dangling-bad", "volume ls --filter dangling=maybe", code=125,
         stderr=r'^Error: "maybe" is not a valid value for the "dangling" filter - must be true or false'),
    Case("ls-filter-bad", "volume ls --filter bogus=1", code=125, stderr=r'^Error: "bogus" is an invalid volume filter'),
    Case("list-alias", "volume list -q", setup=("volume create pv1",), stdout=r"\Apv1\n\Z"),
    # -- inspect
    Case("inspect-mountpoint", "volume inspect --format '{{.Mountpoint}}' pv1", setup=("volume create pv1",),
         stdout=r"\A/\S+/pv1/_data\n\Z"),
    Case("inspect-json", "volume inspect pv1", setup=("volume create pv1",), keys=JSON_KEYS),
    Case("inspect-all", "volume inspect -a --format '{{.Name}}'", setup=("volume create pv1", "volume create pv2"),
         stdout=r"\Apv1\npv2\n\Z"),
    Case("inspect-all-long", "volume inspect --all", setup=("volume create pv1",), keys=JSON_KEYS),
    Case("inspect-none", "volume inspect", code=125, stderr=r"^Error: provide one or more volume names or use --all"),
    Case("inspect-unknown", "volume inspect nosuch", code=125, stderr=r"^Error: inspecting object: no such volume nosuch"),
    Case("inspect-some-unknown", "volume inspect --format '{{.Name}}' pv1 nosuch", setup=("volume create pv1",), code=125,
         stdout=r"\Apv1\n\Z", stderr=r"no such volume nosuch"),
    Case("inspect-labels-options", "volume inspect --format '{{.Labels.a}} {{.Options.type}} {{.Options.device}}' pvb",
         setup=("volume create --label a=b -o type=bind -o device=/tmp pvb",), stdout=r"\Ab bind /tmp\n\Z"),
    # -- rm
    Case("rm", "volume rm pv1", setup=("volume create pv1",), stdout=r"\Apv1\n\Z"),
    Case("rm-unknown", "volume rm nosuch", code=1, stderr=r'^Error: no volume with name "nosuch" found: no such volume'),
    Case("rm-some-unknown", "volume rm pv1 nosuch", setup=("volume create pv1",), code=1, stdout=r"\Apv1\n\Z",
         stderr=r'no volume with name "nosuch" found'),
    Case("rm-in-use", "volume rm pvu", setup=("create --name pc -v pvu:/d {image} true",), code=2, stderr=IN_USE),
    Case("rm-force-in-use", "volume rm -f -t 0 pvu", setup=("create --name pc -v pvu:/d {image} true",),
         stdout=r"\Apvu\n\Z"),
    Case("rm-force-gone-container", "ps -a -q", setup=("create --name pc -v pvu:/d {image} true", "volume rm --force --time 0 pvu"),
         stdout=r"\A\Z"),
    Case("rm-time", "volume rm -f --time 3 pv1", setup=("volume create pv1",), stdout=r"\Apv1\n\Z"),
    Case("rm-time-without-force", "volume rm -t 3 pv1", setup=("volume create pv1",), code=125,
         stderr=r"^Error: --force option must be specified to use the --time option"),
    Case("rm-all", "volume rm -a", setup=("volume create pv1", "volume create pv2"), lines=2),
    Case("rm-none", "volume rm", code=125, stderr=r"^Error: choose either one or more volumes or all"),
    Case("rm-names-and-all", "volume rm -a pv1", setup=("volume create pv1",), code=125,
         stderr=r"^Error: choose either one or more volumes or all"),
    # -- create
    Case("create", "volume create pv1", stdout=r"\Apv1\n\Z"),
    Case("create-random", "volume create", stdout=r"\A[0-9a-f]{64}\n\Z"),
    Case("create-exists", "volume create pv1", setup=("volume create pv1",), code=125,
         stderr=r"^Error: volume with name pv1 already exists: volume already exists"),
    Case("create-ignore", "volume create --ignore pv1", setup=("volume create pv1",), stdout=r"\Apv1\n\Z",
         podman_skip="podman 4.3's volume create has no --ignore (it came in 4.4); capsa takes it"),
    Case("create-driver-local", "volume create --driver local pv1", stdout=r"\Apv1\n\Z"),
    Case("create-driver-other", "volume create --driver other pv1", code=125,
         stderr=r"no volume plugin with name other available"),
    Case("create-label", "volume inspect --format '{{.Labels}}' pv1", setup=("volume create -l a=b --label c=d pv1",),
         stdout=r"\Amap\[a:b c:d\]\n\Z"),
    Case("create-bad-option", "volume create -o foo=bar pv1", code=125,
         stderr=r"^Error: invalid mount option foo for driver 'local': invalid argument"),
    Case("create-bind-missing", "volume create -o type=bind -o device=/nonexistent-pv pv1", code=125,
         stderr=r"^Error: invalid volume option device for driver 'local': stat /nonexistent-pv: no such file or directory"),
    Case("create-bind-used", "run --rm -v {tmp}:/h {image} cat /h/marker", setup=(
        "volume create -o type=bind -o device={tmp} pvb", "run --rm -v pvb:/d {image} sh -c 'echo bound > /d/marker'"),
         stdout=r"\Abound\n\Z"),
    Case("create-tmpfs-used", "run --rm -v pvt:/data {image} grep ' /data ' /proc/mounts",
         setup=("volume create -o type=tmpfs -o device=tmpfs -o o=nodev pvt",), stdout=r"^tmpfs /data tmpfs rw,\S*nodev"),
    # -- exists
    Case("exists", "volume exists pv1", setup=("volume create pv1",), stdout=r"\A\Z"),
    Case("exists-not", "volume exists nosuch", code=1, stdout=r"\A\Z"),
    Case("exists-none", "volume exists", code=125, stderr=r"^Error: accepts 1 arg\(s\), received 0"),
    # -- export, import
    Case("export-stdout", "volume export pve", setup=("run --rm -v pve:/d {image} sh -c 'echo hi > /d/f'",), check=_tar_has_f),
    Case("export-output", "run --rm -v pvi:/d {image} cat /d/f", setup=(
        "run --rm -v pve:/d {image} sh -c 'echo hi > /d/f'", "volume export pve -o {tmp}/v.tar", "volume create pvi",
        "volume import pvi {tmp}/v.tar"), stdout=r"\Ahi\n\Z"),
    Case("export-output-long", "volume import pvi {tmp}/v.tar", setup=(
        "run --rm -v pve:/d {image} sh -c 'echo hi > /d/f'", "volume export --output {tmp}/v.tar pve", "volume create pvi")),
    Case("export-unknown", "volume export nosuch", code=125, stderr=r"^Error: no such volume nosuch"),
    Case("export-two", "volume export pv1 pv2", code=125, stderr=r"^Error: accepts 1 arg\(s\), received 2"),
    Case("import-unknown", "volume import nosuch {tmp}/v.tar", code=125, stderr=r"^Error: no such volume nosuch",
         setup=("volume create pve", "volume export pve -o {tmp}/v.tar", "volume rm pve")),
    Case("import-missing-file", "volume import pv1 /nonexistent-pv.tar", setup=("volume create pv1",), code=125,
         stderr=r"^Error: open /nonexistent-pv.tar: no such file or directory"),
    # -- mount, unmount, reload
    Case("mount", "volume mount pvm", setup=("volume create pvm",), stdout=r"\A/\S+/pvm/_data\n\Z"),
    Case("mount-tmpfs", "volume inspect --format '{{.MountCount}}' pvm",
         setup=("volume create -o type=tmpfs -o device=tmpfs pvm", "volume mount pvm"), stdout=r"\A1\n\Z"),
    Case("unmount", "volume unmount pvm", setup=("volume create -o type=tmpfs -o device=tmpfs pvm", "volume mount pvm"),
         stdout=r"\Apvm\n\Z"),
    Case("unmount-count", "volume inspect --format '{{.MountCount}}' pvm",
         setup=("volume create -o type=tmpfs -o device=tmpfs pvm", "volume mount pvm", "volume unmount pvm"),
         stdout=r"\A0\n\Z"),
    Case("mount-unknown", "volume mount nosuch", code=125, stderr=r'^Error: no volume with name "nosuch" found'),
    Case("unmount-unknown", "volume unmount nosuch", code=125, stderr=r'^Error: no volume with name "nosuch" found'),
    Case("reload", "volume reload", stdout=r"\A\Z"),
    # -- prune
    Case("prune", "volume prune -f", setup=("volume create pv1", "create --name pc -v pvu:/d {image} true"),
         stdout=r"\Apv1\n\Z"),
    Case("prune-filter-label", "volume prune -f --filter label=k=v", setup=("volume create --label k=v pa", "volume create pb"),
         stdout=r"\Apa\n\Z"),
    Case("prune-filter-name", "volume prune -f --filter name=pa", setup=("volume create pa", "volume create pb"),
         stdout=r"\Apa\n\Z"),
    Case("prune-filter-not-label", "volume prune -f --filter label!=k=v", code=125,
         stderr=r'^Error: "label!" is an invalid volume filter'),
    Case("prune-filter-until", "volume prune -f --filter until=2020-01-01", setup=("volume create pv1",), stdout=r"\A\Z"),
    Case("prune-filter-bad", "volume prune -f --filter bogus=x", setup=("volume create pv1",), code=125,
         stderr=r'^Error: "bogus" is an invalid volume filter'),
    Case("prune-prompt", "volume prune", setup=("volume create pv1",), input="n\n",
         stdout=r"\AWARNING! This will remove all volumes not used by at least one container. "
                r"The following volumes will be removed:\npv1\nAre you sure you want to continue\? \[y/N\] \Z"),
]

store, podman_store, test_parity = parity_fixtures("volume", CASES)
