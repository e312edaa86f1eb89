"""Parity with podman 4.3 for ``info``/``system info`` and ``version`` (podman-info(1),
podman-version(1)): the template fields scripts read, the JSON key trees, the exit codes."""
from __future__ import annotations

import json
import subprocess
from typing import Any

from parity import Case, parity_fixtures

# podman 4.3's `info --format json` keys (graphStatus's, which depend on the storage driver, aside)
INFO_KEYS = {
    "host": {"arch", "buildahVersion", "cgroupControllers", "cgroupManager", "cgroupVersion", "conmon", "cpuUtilization",
             "cpus", "distribution", "eventLogger", "hostname", "idMappings", "kernel", "linkmode", "logDriver",
             "memFree", "memTotal", "networkBackend", "ociRuntime", "os", "remoteSocket", "security",
             "serviceIsRemote", "slirp4netns", "swapFree", "swapTotal", "uptime"},
    "host.ociRuntime": {"name", "package", "path", "version"},
    "host.security": {"apparmorEnabled", "capabilities", "rootless", "seccompEnabled", "seccompProfilePath", "selinuxEnabled"},
    "host.distribution": {"distribution", "version"},
    "host.conmon": {"package", "path", "version"},
    "host.cpuUtilization": {"userPercent", "systemPercent", "idlePercent"},
    "host.idMappings": {"gidmap", "uidmap"},
    "store": {"configFile", "containerStore", "graphDriverName", "graphOptions", "graphRoot", "graphRootAllocated",
              "graphRootUsed", "graphStatus", "imageCopyTmpDir", "imageStore", "runRoot", "volumePath"},
    "store.containerStore": {"number", "paused", "running", "stopped"},
    "store.imageStore": {"number"},
    "plugins": {"authorization", "log", "network", "volume"},
    "version": {"APIVersion", "Built", "BuiltTime", "GitCommit", "GoVersion", "OsArch", "Os", "Version"},
}
VERSION_KEYS = {"APIVersion", "Version", "GoVersion", "GitCommit", "BuiltTime", "Built", "OsArch", "Os"}


def _at(doc: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        doc = doc[part]
    return doc


def _info_keys(r: subprocess.CompletedProcess[str]) -> None:
    doc = json.loads(r.stdout)
    assert {"host", "store", "registries", "plugins", "version"} <= set(doc)
    for path, keys in INFO_KEYS.items():
        missing = keys - set(_at(doc, path))
        assert not missing, f"{path}: {sorted(missing)}"


def _counts(r: subprocess.CompletedProcess[str]) -> None:
    assert r.stdout.split() == ["2", "1", "0", "1"], r.stdout


CASES = [
    Case("info-json-keys", "info --format json", check=_info_keys),
    Case("system-info-json-keys", "system info --format json", check=_info_keys),
    Case("info-default-is-yaml", "info", stdout=r"^host:$"),
    Case("info-oci-runtime-name", "info --format {{.Host.OCIRuntime.Name}}", stdout=r"\A\S+\n\Z"),
    Case("info-oci-runtime-crun", "--runtime crun info --format {{.Host.OCIRuntime.Name}}:{{.Host.OCIRuntime.Path}}",
         stdout=r"\Acrun:/\S+/crun\n\Z"),
    Case("info-log-driver", "info --format {{.Host.LogDriver}}", stdout=r"\Ak8s-file\n\Z"),
    Case("info-event-logger", "info --format {{.Host.EventLogger}}", stdout=r"\A(file|journald|none)\n\Z"),
    Case("info-rootless", "info --format {{.Host.Security.Rootless}}", stdout=r"\Afalse\n\Z"),
    Case("info-distribution", "info --format {{.Host.Distribution.Distribution}}/{{.Host.Distribution.Version}}",
         stdout=r"\Adebian/\d+\n\Z"),
    Case("info-graph-options", "info --format {{.Store.GraphOptions}}", stdout=r"\Amap\[\]\n\Z"),
    Case("info-graph-root", "info --format {{.Store.GraphRoot}}", stdout=r"\A/\S+/root\n\Z"),
    Case("info-volume-path", "info --format {{.Store.VolumePath}}", stdout=r"\A/\S+/volumes\n\Z"),
    Case("info-run-root", "info --format {{.Store.RunRoot}}", stdout=r"\A/\S+/run\n\Z"),
    Case("info-image-count", "info --format {{.Store.ImageStore.Number}}", stdout=r"\A1\n\Z"),
    Case("info-container-counts", "info --format '{{.Store.ContainerStore.Number}} {{.Store.ContainerStore.Running}} "
         "{{.Store.ContainerStore.Paused}} {{.Store.ContainerStore.Stopped}}'",
         setup=("create {image} true", "run -d {image} sleep 60"), check=_counts),
    Case("info-arch-os", "info --format {{.Host.OS}}/{{.Host.Arch}}", stdout=r"\Alinux/(amd64|arm64)\n\Z"),
    Case("info-json-field", 'info --format "{{json .Host.Security}}"', stdout=r'^\{.*"rootless":false'),
    Case("info-bad-field", "info --format {{.Nope}}", code=125, stderr=r"^Error: .*Nope"),
    Case("info-extra-argument", "info extra", code=125, stderr=r"^Error: `(podman|capsa) info` takes no arguments$"),
    Case("info-f-short", "info -f {{.Host.OS}}", stdout=r"\Alinux\n\Z"),
    Case("version-json-keys", "version --format json", check=lambda r: _version_keys(r)),
    Case("version-client-version", "version --format {{.Client.Version}}", stdout=r"\A\d+\.\d+\.\d+\n\Z"),
    Case("version-client-api", "version --format {{.Client.APIVersion}}", stdout=r"\A\d+\.\d+\.\d+\n\Z"),
    Case("version-os-arch", "version --format {{.Client.OsArch}}", stdout=r"\Alinux/(amd64|arm64)\n\Z"),
    Case("version-human", "version", stdout=r"^Version: +\d+\.\d+\.\d+$"),
    Case("version-human-api", "version", stdout=r"^API Version: +\d+\.\d+\.\d+$"),
    Case("version-f-short", "version -f {{.Client.Os}}", stdout=r"\Alinux\n\Z"),
    Case("version-bad-field", "version --format {{.Nope}}", code=125, stderr=r"^Error: "),
    Case("version-extra-argument", "version extra", code=125, stderr=r"^Error: `(podman|capsa) version` takes no arguments$"),
]
store, podman_store, test_parity = parity_fixtures("info", CASES)


def _version_keys(r: subprocess.CompletedProcess[str]) -> None:
    doc = json.loads(r.stdout)
    missing = VERSION_KEYS - set(doc["Client"])
    assert not missing, sorted(missing)
