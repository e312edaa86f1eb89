"""``kube generate`` (and ``generate kube``): real containers, pods and volumes made with many
flags, their YAML read back with yaml.safe_load and checked field by field against what podman
4.3 writes for the same flags (docs/kube-generate.md)."""
from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import Capsa
from containers import store_fixtures

store, c = store_fixtures("kubegen")

HEADER = ("# Save the output of this file and use kubectl create -f to import\n# it into Kubernetes.\n#\n"
          "# Created with capsa-")
DEFAULT_DROP = ["CAP_MKNOD", "CAP_NET_RAW", "CAP_AUDIT_WRITE"]  # podman's: the default 11 against runtime-tools' 14
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ok(r: Any) -> str:
    assert r.returncode == 0, r.stderr
    return str(r.stdout)


def generate(c: Capsa, *args: str) -> tuple[str, list[dict[str, Any]]]:
    text = ok(c("kube", "generate", *args))
    assert text.startswith(HEADER)
    return text, [d for d in yaml.safe_load_all(text) if d is not None]


def only(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, docs
    return found[0]


@pytest.fixture
def paths(tmp_path: Path) -> tuple[Path, Path]:
    d, f = tmp_path / "data", tmp_path / "file"
    d.mkdir()
    f.write_text("x")
    return d, f


@pytest.fixture
def volume(c: Capsa) -> Iterator[str]:
    ok(c("volume", "create", "kgvol"))
    yield "kgvol"
    c("rm", "-a", "-f")
    c("volume", "rm", "-f", "kgvol")


def test_a_container_with_many_flags_is_written_field_by_field(c: Capsa, paths: tuple[Path, Path], volume: str) -> None:
    d, f = paths
    tcp, udp = free_port(), free_port(socket.SOCK_DGRAM)
    ok(c("create", "--name", "kg_web", "-e", "FOO=bar", "-e", "PATH=/usr/bin", "-e", "TERM=xterm",
         "-w", "/tmp", "-p", f"{tcp}:80", "-p", f"127.0.0.1:{udp}:90/udp",
         "-v", f"{d}:/data", "-v", f"{f}:/f:ro", "-v", f"{volume}:/vol:ro", "--tmpfs", "/scratch",
         "--memory", "64m", "--cpus", "1.5", "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN", "--user", "alice",
         "--read-only", "--restart", "on-failure", "--hostname", "hh", "--label", "io.containers.autoupdate=local",
         "--entrypoint", "/bin/sh", "busybox", "-c", "sleep 1000"))
    text, docs = generate(c, "kg_web")
    assert "# NOTE: If you generated this yaml from an unprivileged and rootless podman container" in text
    assert [d["kind"] for d in docs] == ["Pod"]
    pod = docs[0]
    assert pod["apiVersion"] == "v1"
    meta = pod["metadata"]
    assert meta["name"] == "kgweb-pod"  # podman's: underscores removed, -pod added
    assert meta["labels"] == {"app": "kgweb-pod"}
    assert TIMESTAMP.match(meta["creationTimestamp"])
    assert meta["annotations"] == {
        "io.kubernetes.cri-o.TTY/kgweb": "false", "io.podman.annotations.autoremove/kgweb": "FALSE",
        "io.podman.annotations.init/kgweb": "FALSE", "io.podman.annotations.privileged/kgweb": "FALSE",
        "io.podman.annotations.publish-all/kgweb": "FALSE", "io.containers.autoupdate/kgweb": "local"}
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False and spec["enableServiceLinks"] is False
    assert spec["hostname"] == "hh"
    assert spec["restartPolicy"] == "OnFailure"
    assert "shareProcessNamespace" not in spec and "hostNetwork" not in spec
    [ctr] = spec["containers"]
    assert set(ctr) == {"name", "image", "command", "args", "env", "workingDir", "ports", "resources",
                        "securityContext", "volumeMounts"}
    assert ctr["name"] == "kgweb"
    assert ctr["image"] == "localhost/busybox:latest"
    assert ctr["command"] == ["/bin/sh"]
    assert ctr["args"] == ["-c", "sleep 1000"]
    assert ctr["env"] == [{"name": "FOO", "value": "bar"}, {"name": "PATH", "value": "/usr/bin"}]  # TERM=xterm is a default
    assert ctr["workingDir"] == "/tmp"
    assert ctr["ports"] == [{"containerPort": 80, "hostPort": tcp},
                            {"containerPort": 90, "hostPort": udp, "hostIP": "127.0.0.1", "protocol": "UDP"}]
    assert ctr["resources"] == {"limits": {"memory": "64Mi", "cpu": "1500m"}}
    assert ctr["securityContext"] == {
        "capabilities": {"add": ["CAP_NET_ADMIN"], "drop": ["CAP_CHOWN", *DEFAULT_DROP]},
        "readOnlyRootFilesystem": True, "runAsUser": 1000, "runAsGroup": 1000}
    from capsa.kube.generate import volume_label  # (pytest's paths have _: not a DNS label as they are)

    data, file_ = (volume_label(f"{str(d).strip('/').replace('/', '-')}-host-0"),
                   volume_label(f"{str(f).strip('/').replace('/', '-')}-host-1"))
    assert ctr["volumeMounts"] == [
        {"mountPath": "/data", "name": data},
        {"mountPath": "/f", "name": file_, "readOnly": True},
        {"mountPath": "/scratch", "name": "tmpfs-2"},
        {"mountPath": "/vol", "name": "kgvol-pvc", "readOnly": True}]
    assert spec["volumes"] == [
        {"name": data, "hostPath": {"path": str(d), "type": "Directory"}},
        {"name": file_, "hostPath": {"path": str(f), "type": "File"}},
        {"name": "tmpfs-2", "emptyDir": {"medium": "Memory"}},
        {"name": "kgvol-pvc", "persistentVolumeClaim": {"claimName": "kgvol", "readOnly": True}}]
    assert "status" not in pod


def test_a_default_container_writes_only_what_it_sets(c: Capsa) -> None:
    ok(c("create", "--name", "kgplain", "busybox"))
    ok(c("run", "-d", "--name", "kgsleep", "busybox", "sleep", "100"))
    text, docs = generate(c, "kgplain")
    assert "NOTE" not in text and "---" not in text
    [ctr] = docs[0]["spec"]["containers"]
    # the image's own command (CMD /bin/sh) is not repeated; no env, ports, limits or mounts
    assert ctr == {"name": "kgplain", "image": "localhost/busybox:latest",
                   "securityContext": {"capabilities": {"drop": DEFAULT_DROP}}}
    spec = docs[0]["spec"]
    assert spec["restartPolicy"] == "Never"
    assert "hostname" not in spec and "volumes" not in spec
    # a command of its own is the command; two containers make one Pod named after the first
    _, docs = generate(c, "kgsleep", "kgplain")
    assert [d["kind"] for d in docs] == ["Pod"]
    assert docs[0]["metadata"]["name"] == "kgsleep-pod"
    assert [x["name"] for x in docs[0]["spec"]["containers"]] == ["kgsleep", "kgplain"]
    assert docs[0]["spec"]["containers"][0]["command"] == ["sleep", "100"]
    assert "args" not in docs[0]["spec"]["containers"][0]


def test_privileged_tty_and_numeric_user(c: Capsa) -> None:
    ok(c("create", "--name", "kgpriv", "--privileged", "-i", "-t", "--security-opt", "no-new-privileges",
         "--restart", "always", "-u", "1234", "--init", "busybox", "sh"))
    _, docs = generate(c, "kgpriv")
    pod = docs[0]
    [ctr] = pod["spec"]["containers"]
    assert ctr["securityContext"] == {"privileged": True, "allowPrivilegeEscalation": False,
                                      "runAsUser": 1234, "runAsGroup": 0}
    assert ctr["stdin"] is True and ctr["tty"] is True
    assert ctr["command"] == ["sh"] and "args" not in ctr  # not the image's /bin/sh: written
    assert pod["spec"]["restartPolicy"] == "Always"
    ann = pod["metadata"]["annotations"]
    assert ann["io.kubernetes.cri-o.TTY/kgpriv"] == "true"
    assert ann["io.podman.annotations.privileged/kgpriv"] == "TRUE"
    assert ann["io.podman.annotations.init/kgpriv"] == "TRUE"
    assert ann["io.podman.annotations.autoremove/kgpriv"] == "FALSE"
    ok(c("create", "--name", "kgrm", "--rm", "busybox"))
    _, docs = generate(c, "kgrm")
    assert docs[0]["metadata"]["annotations"]["io.podman.annotations.autoremove/kgrm"] == "TRUE"


def test_service_and_generate_kube_spelling(c: Capsa) -> None:
    tcp, udp = free_port(), free_port(socket.SOCK_DGRAM)
    ok(c("create", "--name", "kgsvc", "-p", f"{tcp}:8080", "-p", f"{udp}:53/udp", "busybox", "sleep", "5"))
    text = ok(c("generate", "kube", "-s", "kgsvc"))
    docs = list(yaml.safe_load_all(text))
    assert [d["kind"] for d in docs] == ["Service", "Pod"]  # podman's (helm's) order
    svc = docs[0]
    assert svc["apiVersion"] == "v1"
    assert svc["metadata"]["name"] == "kgsvc-pod" and svc["metadata"]["labels"] == {"app": "kgsvc-pod"}
    assert "annotations" not in svc["metadata"] and TIMESTAMP.match(svc["metadata"]["creationTimestamp"])
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["selector"] == {"app": "kgsvc-pod"}
    ports = svc["spec"]["ports"]
    nodes = [p.pop("nodePort") for p in ports]
    assert all(30000 <= n <= 32767 for n in nodes) and len(set(nodes)) == 2
    assert ports == [{"name": "8080", "port": 8080, "targetPort": 8080},
                     {"name": "53", "port": 53, "targetPort": 53, "protocol": "UDP"}]
    # without ports, a Service has none either
    ok(c("create", "--name", "kgnoports", "busybox"))
    _, docs = generate(c, "--service", "kgnoports")
    assert "ports" not in only(docs, "Service")["spec"]


def test_a_named_volume_is_a_persistent_volume_claim(c: Capsa) -> None:
    ok(c("volume", "create", "--label", "tier=db", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", "kgpvc"))
    try:
        _, docs = generate(c, "kgpvc")
        assert docs == [{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "metadata": {"name": "kgpvc", "labels": {"tier": "db"},
                                      "creationTimestamp": docs[0]["metadata"]["creationTimestamp"],
                                      "annotations": {"volume.podman.io/driver": "local",
                                                      "volume.podman.io/type": "tmpfs",
                                                      "volume.podman.io/device": "tmpfs",
                                                      "volume.podman.io/mount-options": "size=1m"}},
                         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                         "status": {}}]
    finally:
        c("volume", "rm", "-f", "kgpvc")


def test_errors_and_the_output_file(c: Capsa, tmp_path: Path) -> None:
    r = c("kube", "generate", "nosuch")
    assert r.returncode == 125 and r.stderr.startswith('Error: name or ID "nosuch" not found'), r.stderr
    r = c("kube", "generate")
    assert r.returncode == 125 and "requires at least 1 arg(s), only received 0" in r.stderr
    ok(c("create", "--name", "kgfile", "busybox"))
    out = tmp_path / "pod.yaml"
    assert ok(c("kube", "generate", "-f", str(out), "kgfile")) == ""
    doc = yaml.safe_load(out.read_text().split("\n", 4)[4])
    assert doc["metadata"]["name"] == "kgfile-pod"
    before = out.read_text()
    r = c("kube", "generate", "--filename", str(out), "kgfile")
    assert r.returncode == 125 and f'Error: cannot write to "{out}"; file exists' in r.stderr
    assert out.read_text() == before
    r = c("kube", "generate", "--type", "deployment", "kgfile")  # podman 4.4's flag: unknown in 4.3
    assert r.returncode == 125 and "unknown flag: --type" in r.stderr


def test_a_pod_is_written_with_its_members_and_never_its_infra(c: Capsa, paths: tuple[Path, Path]) -> None:
    d, _ = paths
    tcp = free_port()
    pod_id = ok(c("pod", "create", "--name", "kg_pod", "-p", f"{tcp}:80", "--hostname", "podhost", "--label", "x=y",
                  "--add-host", "db.local:10.1.2.3", "--dns", "10.0.0.9", "--dns-search", "example.com",
                  "--dns-option", "ndots:2")).strip()
    r = c("kube", "generate", "kg_pod")
    assert r.returncode == 125 and f"Error: pod {pod_id} only has an infra container" in r.stderr
    ok(c("run", "-d", "--pod", "kg_pod", "--name", "kgm1", "--restart", "always", "-e", "A=1", "--memory", "32m",
         "busybox", "sleep", "1000"))
    ok(c("create", "--pod", "kg_pod", "--name", "kgm2", "-v", f"{d}:/d:ro", "-u", "alice", "--cap-add", "SYS_ADMIN",
         "busybox", "sleep", "999"))
    text, docs = generate(c, "kg_pod")
    assert "NOTE" not in text  # the default sharing; podman writes no SELinux note for pods
    pod = only(docs, "Pod")
    assert pod["metadata"]["name"] == "kg_pod" and pod["metadata"]["labels"] == {"app": "kgpod"}
    assert pod["status"] == {}
    ann = pod["metadata"]["annotations"]
    for name in ("kgm1", "kgm2"):
        assert ann[f"io.kubernetes.cri-o.ContainerType/{name}"] == "container"
        assert ann[f"io.kubernetes.cri-o.SandboxID/{name}"] == pod_id[:63]
    assert not any("infra" in key for key in ann)
    spec = pod["spec"]
    assert spec["hostname"] == "podhost"
    assert spec["restartPolicy"] == "Always"  # the first member's
    assert spec["hostAliases"] == [{"hostnames": ["db.local"], "ip": "10.1.2.3"}]
    assert spec["dnsConfig"] == {"nameservers": ["10.0.0.9"], "searches": ["example.com"],
                                 "options": [{"name": "ndots", "value": "2"}]}
    assert "shareProcessNamespace" not in spec and "hostNetwork" not in spec
    first, second = spec["containers"]  # the infra is not one of them
    assert first == {"name": "kgm1", "image": "localhost/busybox:latest", "command": ["sleep", "1000"],
                     "env": [{"name": "A", "value": "1"}], "ports": [{"containerPort": 80, "hostPort": tcp}],
                     "resources": {"limits": {"memory": "32Mi"}},
                     "securityContext": {"capabilities": {"drop": DEFAULT_DROP}}}
    from capsa.kube.generate import volume_label

    volume = volume_label(f"{str(d).strip('/').replace('/', '-')}-host-0")
    assert second == {"name": "kgm2", "image": "localhost/busybox:latest", "command": ["sleep", "999"],
                      "resources": {},
                      "securityContext": {"capabilities": {"add": ["CAP_SYS_ADMIN"], "drop": DEFAULT_DROP},
                                          "runAsUser": 1000, "runAsGroup": 1000},
                      "volumeMounts": [{"mountPath": "/d", "name": volume, "readOnly": True}]}
    assert spec["volumes"] == [{"name": volume, "hostPath": {"path": str(d), "type": "Directory"}}]
    # podman warns of each value cut to 63 characters (the pod id, once per member), on stderr
    r = c("kube", "generate", "kg_pod")
    warning = (f'Warning: Truncation Annotation: "{pod_id}" to "{pod_id[:63]}": '
               "Kubernetes only allows 63 characters")
    assert r.returncode == 0 and r.stderr.splitlines() == [warning, warning], r.stderr
    # a member alone is refused, as podman
    r = c("kube", "generate", "kgm1")
    assert r.returncode == 125 and "is associated with pod" in r.stderr and "use generate on the pod itself" in r.stderr
    # -s: the pod's published ports as a NodePort Service, before the Pod
    _, docs = generate(c, "-s", "kg_pod")
    assert [x["kind"] for x in docs] == ["Service", "Pod"]
    [port] = docs[0]["spec"]["ports"]
    assert 30000 <= port.pop("nodePort") <= 32767
    assert port == {"name": "80", "port": 80, "targetPort": 80}
    assert docs[0]["spec"]["selector"] == {"app": "kgpod"}


def test_pod_sharing_pid_and_other_sharing(c: Capsa) -> None:
    ok(c("pod", "create", "--name", "kgpid", "--share", "ipc,net,uts,pid"))
    ok(c("create", "--pod", "kgpid", "--name", "kgpm", "--restart", "on-failure:3", "busybox", "sleep", "9"))
    text, docs = generate(c, "kgpid")
    assert "NOTE" not in text
    spec = docs[0]["spec"]
    assert spec["shareProcessNamespace"] is True
    assert spec["hostname"] == "kgpid"  # no --hostname: the pod's name
    assert spec["restartPolicy"] == "OnFailure"
    ok(c("pod", "create", "--name", "kgnet", "--share", "net"))
    ok(c("create", "--pod", "kgnet", "--name", "kgnm", "busybox", "sleep", "9"))
    text, docs = generate(c, "kgnet", "kgpid")
    assert "# NOTE: The namespace sharing for a pod has been modified by the user" in text
    assert [x["metadata"]["name"] for x in docs] == ["kgnet", "kgpid"]
    assert "shareProcessNamespace" not in docs[0]["spec"]
    # without uts shared each member has a hostname of its own, not the pod's: none is written
    ok(c("start", "kgnm"))
    assert ok(c("exec", "kgnm", "hostname")).strip() != "kgnet"
    assert "hostname" not in docs[0]["spec"]
    # a pod, a container outside pods and a volume at once: PVC, then the pods
    ok(c("create", "--name", "kgalone", "busybox"))
    ok(c("volume", "create", "kgmix"))
    try:
        _, docs = generate(c, "kgalone", "kgpid", "kgmix")
        assert [(x["kind"], x["metadata"]["name"]) for x in docs] == [
            ("PersistentVolumeClaim", "kgmix"), ("Pod", "kgpid"), ("Pod", "kgalone-pod")]
    finally:
        c("volume", "rm", "-f", "kgmix")


def test_quantities_and_the_command_split_as_kubernetes_reads_them() -> None:
    from capsa.container.model import ContainerConfig
    from capsa.kube.generate import bytes_quantity, command_and_args, cpu_quantity

    assert [bytes_quantity(n) for n in (64 << 20, 1 << 30, 1536, 1000000)] == ["64Mi", "1Gi", "1536", "1000000"]
    assert [cpu_quantity(x) for x in (1.5, 2.0, 0.5, 0.0001)] == ["1500m", "2", "500m", None]

    def split(image: dict[str, Any], **flags: Any) -> tuple[list[str], list[str]]:
        return command_and_args(ContainerConfig(id="x", name="x", image_id="i", image_name="i", **flags), image)

    ep_image = {"Entrypoint": ["/ep"], "Cmd": ["default"]}
    assert split(ep_image) == ([], ["default"])  # podman: the image's entrypoint is left out, its Cmd is args
    assert split(ep_image, cmd=["x"]) == ([], ["x"])
    assert split(ep_image, entrypoint=["/other"]) == (["/other"], [])  # --entrypoint drops the image's Cmd
    assert split(ep_image, entrypoint=["/ep"]) == (["/ep"], [])  # kept: without it Kubernetes would add Cmd
    assert split(ep_image, entrypoint=[""], cmd=["sh"]) == (["sh"], [])
    cmd_image = {"Cmd": ["/bin/sh"]}
    assert split(cmd_image) == ([], [])
    assert split(cmd_image, entrypoint=["/bin/sh"], cmd=["-c", "x"]) == (["/bin/sh"], ["-c", "x"])


def test_what_differs_from_the_image_is_written_even_when_it_is_a_default(c: Capsa) -> None:
    # an image whose WorkingDir is /srv and TERM dumb: -w / and -e TERM=xterm change what runs,
    # so the YAML must say them (Kubernetes would run in /srv with TERM=dumb otherwise)
    ok(c("create", "--name", "kgwdbase", "busybox"))
    ok(c("commit", "-q", "-c", "WORKDIR /srv", "-c", "ENV TERM=dumb", "kgwdbase", "kgwd"))
    try:
        ok(c("create", "--name", "kgwd1", "-w", "/", "-e", "TERM=xterm", "kgwd", "sh", "-c", "pwd; echo $TERM"))
        r = c("start", "-a", "kgwd1")
        assert r.stdout.split() == ["/", "xterm"], r.stderr  # what the container really runs
        _, docs = generate(c, "kgwd1")
        [ctr] = docs[0]["spec"]["containers"]
        assert ctr["workingDir"] == "/"
        assert ctr["env"] == [{"name": "TERM", "value": "xterm"}]
        # the image's own values are still left out
        ok(c("create", "--name", "kgwd2", "-w", "/srv", "-e", "TERM=dumb", "kgwd", "sh"))
        _, docs = generate(c, "kgwd2")
        [ctr] = docs[0]["spec"]["containers"]
        assert "workingDir" not in ctr and "env" not in ctr
    finally:
        c("rm", "-a", "-f")
        c("rmi", "-f", "kgwd")


def test_volumes_of_different_containers_never_share_a_name(c: Capsa, tmp_path: Path) -> None:
    # each member's --tmpfs is its own; two host paths whose names read alike stay two volumes
    (tmp_path / "a-b").mkdir()
    (tmp_path / "a" / "b").mkdir(parents=True)
    ok(c("pod", "create", "--name", "kgvols"))
    ok(c("create", "--pod", "kgvols", "--name", "kgv1", "--tmpfs", "/scratch", "-v", f"{tmp_path}/a-b:/x",
         "busybox", "sleep", "9"))
    ok(c("create", "--pod", "kgvols", "--name", "kgv2", "--tmpfs", "/scratch", "-v", f"{tmp_path}/a/b:/x",
         "busybox", "sleep", "9"))
    _, docs = generate(c, "kgvols")
    spec = docs[0]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert len(volumes) == len(spec["volumes"]) == 4
    mounts = [{m["mountPath"]: volumes[m["name"]] for m in ctr["volumeMounts"]} for ctr in spec["containers"]]
    assert mounts[0]["/scratch"]["name"] != mounts[1]["/scratch"]["name"]
    assert mounts[0]["/scratch"]["emptyDir"] == mounts[1]["/scratch"]["emptyDir"] == {"medium": "Memory"}
    assert mounts[0]["/x"]["hostPath"]["path"] == f"{tmp_path}/a-b"
    assert mounts[1]["/x"]["hostPath"]["path"] == f"{tmp_path}/a/b"


DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # Kubernetes' rule for a volume's name


def test_volume_names_are_names_kubernetes_accepts(c: Capsa, tmp_path: Path) -> None:
    # an anonymous volume (64 hex digits + -pvc) and a host path with capitals, _ and dots
    # gave names Kubernetes refuses (a DNS-1123 label: [a-z0-9-], at most 63 characters)
    odd = tmp_path / "My_Data.d"
    odd.mkdir()
    ok(c("create", "--name", "kgnames", "-v", "/anon", "-v", f"{odd}:/odd", "-v", f"{tmp_path}:/plain",
         "busybox", "sleep", "9"))
    try:
        _, docs = generate(c, "kgnames")
        spec = docs[0]["spec"]
        names = [v["name"] for v in spec["volumes"]]
        assert all(DNS_LABEL.match(n) for n in names), names
        assert len(set(names)) == 3
        [ctr] = spec["containers"]
        by_name = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["mountPath"]: by_name[m["name"]] for m in ctr["volumeMounts"]}
        assert mounts["/odd"]["hostPath"]["path"] == str(odd)
        assert mounts["/plain"]["hostPath"]["path"] == str(tmp_path)
        assert len(mounts["/anon"]["persistentVolumeClaim"]["claimName"]) == 64  # the claim keeps the volume's name
    finally:
        c("rm", "-a", "-f", "-v")
