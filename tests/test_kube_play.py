"""``kube play`` / ``play kube`` / ``kube down`` with real pods and containers: every document
kind and field capsa reads, warnings, errors with paths and nothing left behind, --replace,
--start=false, kube down (podman 4.3's output)."""
from __future__ import annotations

import json
import os
import re
import socket
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Capsa
from containers import busybox_store, cleanup

ID = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    yield from busybox_store(tmp_path_factory, "kubeplay")


def pods_of(capsa: Capsa) -> list[object]:
    from capsa.pod.records import PodRecords

    return PodRecords(capsa.root, capsa.runroot).all()


def volumes_of(capsa: Capsa) -> list[str]:
    r = capsa("volume", "ls", "-q")
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


@pytest.fixture
def c(store: Capsa) -> Iterator[Capsa]:
    """The store, emptied after the test (pods, containers, volumes) and checked for leftovers."""
    yield store
    for pod in pods_of(store):
        store("pod", "rm", "-f", pod.id, timeout=120)  # type: ignore[attr-defined]
    left = cleanup(store)
    for name in volumes_of(store):
        store("volume", "rm", "-f", name)
    assert left == [], f"left behind: {left}"


def play(c: Capsa, yaml_text: str, *flags: str, check: bool = True):  # type: ignore[no-untyped-def]
    path = c.tmp / "play.yaml"
    path.write_text(textwrap.dedent(yaml_text))
    r = c("kube", "play", *flags, str(path), timeout=120)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def inspect(c: Capsa, name: str) -> dict:  # type: ignore[type-arg]
    r = c("container", "inspect", name)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]  # type: ignore[no-any-return]


def sh(c: Capsa, name: str, script: str) -> str:
    r = c("exec", name, "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    return r.stdout


def state(c: Capsa, name: str) -> str:
    return str(inspect(c, name)["State"]["Status"])


POD = """
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: cfg}
    data: {COLOR: blue, SIZE: "3"}
    ---
    apiVersion: v1
    kind: Pod
    metadata:
      name: web
      labels: {app: web}
    spec:
      hostname: webhost
      containers:
      - name: app
        image: busybox
        command: [sh, -c]
        args: ["echo started; exec sleep 300"]
        workingDir: /tmp
        env:
        - {name: PLAIN, value: "1"}
        - name: FROM_MAP
          valueFrom: {configMapKeyRef: {name: cfg, key: COLOR}}
        - name: MISSING_OK
          valueFrom: {configMapKeyRef: {name: nope, key: X, optional: true}}
        envFrom:
        - configMapRef: {name: cfg}
          prefix: CM_
        livenessProbe: {exec: {command: ["true"]}}
      - name: side
        image: busybox
        command: [sleep, "300"]
"""


def test_a_pod_is_created_and_started_with_podmans_output_and_kube_down_removes_it(c: Capsa) -> None:
    r = play(c, POD)
    lines = r.stdout.split("\n")
    assert lines[0] == "Pod:" and ID.match(lines[1]) and lines[2] == "Containers:", r.stdout
    assert ID.match(lines[3]) and ID.match(lines[4]) and lines[5:] == ["", ""], r.stdout
    # the unsupported field is named once, with its path
    assert r.stderr.count("spec.containers[0].livenessProbe is not supported by capsa: ignored") == 1, r.stderr
    (pod,) = pods_of(c)
    assert (pod.name, pod.id, pod.labels) == ("web", lines[1], {"app": "web"})  # type: ignore[attr-defined]
    app, side = inspect(c, "web-app"), inspect(c, "web-side")
    assert [app["Id"], side["Id"]] == lines[3:5]
    assert state(c, "web-app") == "running" and state(c, "web-side") == "running"
    env = sh(c, "web-app", "env").split("\n")
    for item in ("PLAIN=1", "FROM_MAP=blue", "CM_COLOR=blue", "CM_SIZE=3"):
        assert item in env
    assert not [e for e in env if e.startswith("MISSING_OK")]
    assert sh(c, "web-app", "pwd").strip() == "/tmp"
    assert sh(c, "web-app", "hostname").strip() == sh(c, "web-side", "hostname").strip() == "webhost"
    assert app["Config"]["Entrypoint"] in (["sh", "-c"], "sh -c") or app["Path"] == "sh"
    logs = c("logs", "web-app")
    assert logs.stdout.strip() == "started"
    # the members share the pod's network: one reaches the other on localhost
    sh(c, "web-side", "true")
    r = c("kube", "down", str(c.tmp / "play.yaml"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"Pods stopped:\n{pod.id}\nPods removed:\n{pod.id}\n"  # type: ignore[attr-defined]
    assert pods_of(c) == [] and c("ps", "-a", "-q").stdout == ""
    r = c("kube", "down", str(c.tmp / "play.yaml"))  # gone: podman's error
    assert r.returncode == 125 and "no pod with name or ID web found: no such pod" in r.stderr, r.stderr


def test_a_deployments_replicas_become_pods_named_as_podman(c: Capsa) -> None:
    r = play(c, """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: dep}
        spec:
          replicas: 2
          selector: {matchLabels: {app: x}}
          template:
            metadata: {labels: {app: x}}
            spec:
              containers: [{name: c, image: busybox, command: [sleep, "300"]}]
    """, "--start=false")
    assert r.stdout.count("Pod:\n") == 2 and r.stdout.count("Container:\n") == 2
    assert sorted(p.name for p in pods_of(c)) == ["dep-pod-0", "dep-pod-1"]  # type: ignore[attr-defined]
    # --start=false: created, not started
    assert state(c, "dep-pod-0-c") == "created" and state(c, "dep-pod-1-c") == "created"
    r = c("play", "kube", "--down", str(c.tmp / "play.yaml"))  # (the older spelling, and --down)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Pods stopped:\n") and r.stdout.count("\n") == 6
    assert pods_of(c) == []


def test_volumes_hostpath_types_emptydir_and_claims(c: Capsa, tmp_path: Path) -> None:
    existing = tmp_path / "dir"
    existing.mkdir()
    (existing / "hello").write_text("hi\n")
    made_dir, made_file = tmp_path / "new" / "dir", tmp_path / "new" / "file"
    r = play(c, f"""
        kind: PersistentVolumeClaim
        apiVersion: v1
        metadata: {{name: claim1}}
        spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}
        ---
        kind: Pod
        apiVersion: v1
        metadata: {{name: vols}}
        spec:
          volumes:
          - {{name: d, hostPath: {{path: {existing}, type: Directory}}}}
          - {{name: nd, hostPath: {{path: {made_dir}, type: DirectoryOrCreate}}}}
          - {{name: nf, hostPath: {{path: {made_file}, type: FileOrCreate}}}}
          - {{name: scratch, emptyDir: {{}}}}
          - {{name: mem, emptyDir: {{medium: Memory}}}}
          - {{name: db, persistentVolumeClaim: {{claimName: claim1}}}}
          containers:
          - name: a
            image: busybox
            command: [sleep, "300"]
            volumeMounts:
            - {{name: d, mountPath: /d, readOnly: true}}
            - {{name: nd, mountPath: /nd}}
            - {{name: nf, mountPath: /nf}}
            - {{name: scratch, mountPath: /scratch}}
            - {{name: mem, mountPath: /mem}}
            - {{name: db, mountPath: /db}}
          - name: b
            image: busybox
            command: [sleep, "300"]
            volumeMounts: [{{name: scratch, mountPath: /shared}}]
    """)
    assert r.stdout.startswith("Volumes:\nclaim1\nPod:\n"), r.stdout
    assert made_dir.is_dir() and made_file.is_file()
    assert sh(c, "vols-a", "cat /d/hello") == "hi\n"
    assert c("exec", "vols-a", "touch", "/d/x").returncode != 0  # readOnly
    sh(c, "vols-a", "echo new > /nd/f; echo file > /nf; echo s > /scratch/s; echo db > /db/x")
    assert (made_dir / "f").read_text() == "new\n" and made_file.read_text() == "file\n"
    assert sh(c, "vols-b", "cat /shared/s") == "s\n"  # one emptyDir, shared by the pod's containers
    assert "tmpfs" in sh(c, "vols-a", "grep ' /mem ' /proc/mounts")
    assert "claim1" in volumes_of(c) and "vols-scratch" in volumes_of(c)
    r = c("kube", "down", str(c.tmp / "play.yaml"))
    assert r.returncode == 0, r.stderr
    assert volumes_of(c) == ["claim1"]  # the claim stays, as podman's; the emptyDir goes with its pod


def test_an_emptydir_starts_empty_with_each_new_pod(c: Capsa) -> None:
    """An emptyDir lives and dies with its pod (Kubernetes', podman's): a pod played again
    after ``pod rm -f``, or with ``--replace``, does not see the old pod's files."""
    text = """
        kind: Pod
        metadata: {name: scratchy}
        spec:
          volumes: [{name: s, emptyDir: {}}]
          containers: [{name: a, image: busybox, command: [sleep, "300"], volumeMounts: [{name: s, mountPath: /s}]}]
    """
    play(c, text)
    sh(c, "scratchy-a", "echo old > /s/f")
    play(c, text, "--replace")
    assert sh(c, "scratchy-a", "ls /s") == ""
    sh(c, "scratchy-a", "echo old > /s/f")
    assert c("pod", "rm", "-f", "scratchy", timeout=120).returncode == 0
    play(c, text)
    assert sh(c, "scratchy-a", "ls /s") == ""


def test_kube_down_leaves_an_emptydir_another_container_uses(c: Capsa) -> None:
    """kube down removes the pod's emptyDir volumes, not a container outside the pod that
    mounts one of them (nor the volume while it does)."""
    play(c, """
        kind: Pod
        metadata: {name: shared}
        spec:
          volumes: [{name: s, emptyDir: {}}]
          containers: [{name: a, image: busybox, command: [sleep, "300"], volumeMounts: [{name: s, mountPath: /s}]}]
    """)
    r = c("create", "--name", "outsider", "-v", "shared-s:/s", "busybox", "true")
    assert r.returncode == 0, r.stderr
    r = c("kube", "down", str(c.tmp / "play.yaml"))
    assert r.returncode == 0, r.stderr
    assert c("container", "exists", "outsider").returncode == 0
    assert "shared-s" in volumes_of(c)
    assert c("rm", "outsider").returncode == 0


def test_resources_security_context_and_restart_policy(c: Capsa) -> None:
    play(c, """
        kind: Pod
        metadata: {name: sec}
        spec:
          restartPolicy: OnFailure
          containers:
          - name: a
            image: busybox
            command: [sleep, "300"]
            resources: {limits: {memory: 64Mi, cpu: 500m}}
            securityContext:
              runAsUser: 1000
              runAsGroup: 10
              readOnlyRootFilesystem: true
              allowPrivilegeEscalation: false
              capabilities: {add: [NET_ADMIN], drop: [CHOWN]}
          - name: p
            image: busybox
            command: [sleep, "300"]
            securityContext: {privileged: true}
    """)
    doc = inspect(c, "sec-a")
    host = doc["HostConfig"]
    assert host["Memory"] == 64 * 1024 ** 2
    assert host["NanoCpus"] == 500_000_000
    assert host["ReadonlyRootfs"] is True
    assert host["RestartPolicy"]["Name"] == "on-failure"
    assert sh(c, "sec-a", "id -u; id -g").split() == ["1000", "10"]
    assert c("exec", "sec-a", "touch", "/x").returncode != 0
    caps = int(sh(c, "sec-a", "grep CapBnd /proc/self/status").split()[1], 16)
    assert caps & (1 << 12) and not caps & 1  # NET_ADMIN added, CHOWN dropped
    assert "no-new-privileges" in json.dumps(host.get("SecurityOpt") or []) or \
        sh(c, "sec-a", "grep NoNewPrivs /proc/self/status").split()[1] == "1"
    assert inspect(c, "sec-p")["HostConfig"]["Privileged"] is True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(port: int) -> bytes:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
                body = b""
                while chunk := s.recv(4096):
                    body += chunk
                if body:
                    return body
        except OSError:
            pass
        time.sleep(0.2)
    return b""


def test_published_ports_are_the_pods(c: Capsa) -> None:
    port, extra = free_port(), free_port()
    play(c, f"""
        kind: Pod
        metadata: {{name: ports}}
        spec:
          containers:
          - name: web
            image: busybox
            command: [sh, -c, "echo hello > /tmp/index.html; httpd -p 8081 -h /tmp; exec httpd -f -p 8080 -h /tmp"]
            ports: [{{containerPort: 8080, hostPort: {port}, hostIP: 127.0.0.1}}]
    """, "--publish", f"127.0.0.1:{extra}:8081")
    assert b"hello" in http_get(port)  # the YAML's hostPort
    assert b"hello" in http_get(extra)  # --publish: one more port of the pod


def port_pod(name: str) -> str:
    return (f"kind: Pod\nmetadata: {{name: {name}}}\nspec: {{containers: [{{name: a, image: busybox, command: [sleep, '300'], "
            "ports: [{containerPort: 80, hostPort: 18111}]}]}\n")


def test_errors_exit_125_with_the_path_and_create_nothing(c: Capsa, tmp_path: Path) -> None:
    good = "kind: Pod\nmetadata: {name: ok}\nspec: {containers: [{name: a, image: busybox, command: [sleep, '300']}]}\n"
    claim = "kind: PersistentVolumeClaim\nmetadata: {name: claimx}\n"
    cases = [
        (good + "---\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n  - {name: a, image: busybox}\n  - {name: b}\n",
         "document 2 (Pod 'bad'): spec.containers[1].image is required"),
        (good + "---\nkind: Pod\nmetadata: {name: bad\n", "invalid YAML at line"),
        (claim + "---\n" + good + "---\nkind: Pod\nmetadata: {name: bad}\nspec:\n  volumes: [{name: v, hostPath: {path: /nonexistent/x, type: Directory}}]\n"
         "  containers: [{name: a, image: busybox, volumeMounts: [{name: v, mountPath: /v}]}]\n",
         "spec.volumes[0].hostPath.path: /nonexistent/x: no such file or directory"),
        (claim + "---\n" + good + "---\nkind: Pod\nmetadata: {name: bad}\nspec: {containers: [{name: a, image: nosuch, imagePullPolicy: Never}]}\n",
         "document 3 (Pod 'bad'): spec.containers[0].image: nosuch: image not known"),
        # only found while making the second pod (its host port is the first's): the first pod
        # and the claim are removed again
        (claim + "---\n" + port_pod("one") + "---\n" + port_pod("two"), "document 3 (Pod 'two'): host port"),
        # ... and the host paths it made go too
        ("kind: Pod\nmetadata: {name: mk}\nspec:\n  volumes: [{name: v, hostPath: {path: " + str(tmp_path / "new" / "deep")
         + ", type: DirectoryOrCreate}}]\n  containers: [{name: a, image: busybox, command: [sleep, '300'], "
         "volumeMounts: [{name: v, mountPath: /v}]}]\n---\n" + port_pod("one") + "---\n" + port_pod("two"),
         "document 3 (Pod 'two'): host port"),
    ]
    for text, expected in cases:
        r = play(c, text, check=False)
        assert r.returncode == 125, (text, r.stdout, r.stderr)
        assert expected in r.stderr, r.stderr
        assert r.stdout == ""
        assert pods_of(c) == [] and c("ps", "-a", "-q").stdout == "" and volumes_of(c) == [], text
        assert not (tmp_path / "new").exists()


def test_a_name_in_use_is_refused_unless_replace(c: Capsa) -> None:
    first = play(c, POD).stdout.split("\n")[1]
    r = play(c, POD, check=False)
    assert r.returncode == 125 and "a pod named 'web' already exists" in r.stderr and "--replace" in r.stderr
    assert [p.id for p in pods_of(c)] == [first]  # type: ignore[attr-defined]
    second = play(c, POD, "--replace").stdout.split("\n")[1]
    assert second != first and [p.id for p in pods_of(c)] == [second]  # type: ignore[attr-defined]
    assert state(c, "web-app") == "running"


def test_stdin_annotations_and_refused_flags(c: Capsa) -> None:
    text = "kind: Pod\nmetadata: {name: s, annotations: {a: b}}\nspec: {containers: [{name: a, image: busybox, command: [sleep, '300']}]}\n"
    r = c("kube", "play", "--annotation", "x=y", "-", input=text, timeout=120)
    assert r.returncode == 0, r.stderr
    annotations = inspect(c, "s-a")["Config"]["Annotations"]
    assert annotations["a"] == "b" and annotations["x"] == "y"
    r = c("kube", "down", "-", input=text)
    assert r.returncode == 0 and "Pods removed:" in r.stdout
    for flag in (["--build"], ["--userns", "auto"], ["--log-driver", "journald"], ["--no-hosts"], ["--mac-address", "02:00:00:00:00:01"]):
        r = c("kube", "play", *flag, "-", input=text)
        assert r.returncode == 125 and flag[0] in r.stderr and "not supported" in r.stderr, r.stderr
    assert pods_of(c) == []


def test_configmap_from_a_file(c: Capsa) -> None:
    cm = c.tmp / "cm.yaml"
    cm.write_text("kind: ConfigMap\napiVersion: v1\nmetadata: {name: ext}\ndata: {K: from-file}\n")
    r = play(c, """
        kind: Pod
        metadata: {name: cmf}
        spec:
          containers:
          - name: a
            image: busybox
            command: [sleep, "300"]
            env: [{name: K, valueFrom: {configMapKeyRef: {name: ext, key: K}}}]
    """, "--configmap", str(cm))
    assert "K=from-file" in sh(c, "cmf-a", "env"), r.stderr
    bad = c.tmp / "notcm.yaml"
    bad.write_text("kind: Pod\nmetadata: {name: x}\n")
    r = c("kube", "play", "--configmap", str(bad), str(c.tmp / "play.yaml"))
    assert r.returncode == 125 and "not a ConfigMap" in r.stderr


@pytest.mark.parametrize("words", [("kube", "play"), ("play", "kube"), ("kube", "down")])
def test_help_lists_every_flag(c: Capsa, words: tuple[str, ...]) -> None:
    """The help renders (a help text is rich markup: brackets in it must not break it) and
    names podman 4.3's flags."""
    r = c(*words, "--help", store=False)
    assert r.returncode == 0, r.stderr
    if words != ("kube", "down"):
        from capsa.cli import refusals

        for flag in ("--annotation", "--authfile", "--cert-dir", "--configmap", "--creds",
                     "--ip", "--log-driver", "--network", "--quiet",
                     "--replace", "--seccomp-profile-root", "--start", "--tls-verify", "--publish"):
            assert flag in r.stdout, flag
        for flag in ("--build", "--context-dir", "--log-opt", "--mac-address", "--no-hosts", "--userns"):
            assert refusals.reason(words, flag), flag  # (refused before parsing: see docs/cli.md)


def test_kube_down_of_a_file_without_pods_prints_podmans_empty_lists(c: Capsa) -> None:
    r = c("kube", "down", "-", input="kind: Service\nmetadata: {name: s}\n")
    assert (r.returncode, r.stdout) == (0, "Pods stopped:\nPods removed:\n"), r.stderr
