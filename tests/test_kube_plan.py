"""The pure half of ``kube play`` (capsa.kube.plan): YAML documents -> a plan of pods,
containers and volumes; errors name the bad field's path, unsupported fields are warned about
once. (The real pods are in tests/test_kube_play.py.)"""
from __future__ import annotations

import textwrap

import pytest

from capsa.errors import UsageError
from capsa.kube.plan import read


def plan_of(text: str, **kw):  # type: ignore[no-untyped-def]
    return read(textwrap.dedent(text), "k.yaml", **kw)


def error_of(text: str, **kw) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError) as info:
        plan_of(text, **kw)
    assert info.value.exit_code in (None, 125)
    return str(info.value)


FULL = """
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: cfg}
    data: {COLOR: blue, SIZE: "3"}
    ---
    apiVersion: v1
    kind: PersistentVolumeClaim
    metadata: {name: claim1, labels: {tier: db}}
    spec: {accessModes: [ReadWriteOnce]}
    ---
    apiVersion: v1
    kind: Pod
    metadata:
      name: web
      labels: {app: web}
      annotations: {note: hi}
    spec:
      hostname: webhost
      restartPolicy: OnFailure
      securityContext: {runAsUser: 7}
      volumes:
      - {name: data, hostPath: {path: /srv/data, type: DirectoryOrCreate}}
      - {name: scratch, emptyDir: {}}
      - {name: mem, emptyDir: {medium: Memory}}
      - {name: db, persistentVolumeClaim: {claimName: claim1, readOnly: true}}
      - {name: named, hostPath: {path: myvol}}
      containers:
      - name: app
        image: busybox
        command: [sh, -c]
        args: ["echo $COLOR"]
        workingDir: /tmp
        env:
        - {name: A, value: "1"}
        - name: C
          valueFrom: {configMapKeyRef: {name: cfg, key: COLOR}}
        - name: D
          valueFrom: {configMapKeyRef: {name: nope, key: X, optional: true}}
        envFrom:
        - configMapRef: {name: cfg}
          prefix: P_
        ports:
        - {containerPort: 80, hostPort: 8080}
        - {containerPort: 53, hostPort: 5353, protocol: UDP, hostIP: 127.0.0.1}
        - {containerPort: 9000}
        volumeMounts:
        - {name: data, mountPath: /data}
        - {name: db, mountPath: /db}
        - {name: scratch, mountPath: /scratch, readOnly: true}
        resources: {limits: {memory: 64Mi, cpu: 500m}}
        securityContext:
          privileged: false
          runAsUser: 1000
          runAsGroup: 1000
          readOnlyRootFilesystem: true
          allowPrivilegeEscalation: false
          capabilities: {add: [NET_ADMIN], drop: [MKNOD]}
      - name: side
        image: busybox
        stdin: true
        tty: true
        imagePullPolicy: Never
"""


def test_every_field_reaches_the_plan() -> None:
    plan = plan_of(FULL)
    assert plan.warnings == []
    assert plan.claims == ["claim1"] and plan.claim_labels == {"claim1": {"tier": "db"}}
    (pod,) = plan.pods
    assert (pod.name, pod.hostname, pod.labels, pod.annotations) == ("web", "webhost", {"app": "web"}, {"note": "hi"})
    assert pod.publish == ["8080:80/tcp", "127.0.0.1:5353:53/udp"]
    vols = pod.volumes
    assert (vols["data"].kind, vols["data"].source, vols["data"].host_type) == ("bind", "/srv/data", "DirectoryOrCreate")
    assert vols["scratch"].kind == "emptydir" and vols["mem"].kind == "tmpfs"
    assert (vols["db"].kind, vols["db"].source, vols["db"].read_only) == ("volume", "claim1", True)
    assert (vols["named"].kind, vols["named"].source) == ("volume", "myvol")
    app, side = pod.containers
    assert (app.name, app.short, app.image) == ("web-app", "app", "busybox")
    assert (app.command, app.args, app.workdir) == (["sh", "-c"], ["echo $COLOR"], "/tmp")
    assert app.env == ["P_COLOR=blue", "P_SIZE=3", "A=1", "C=blue"]
    assert [(m.volume, m.destination, m.read_only) for m in app.mounts] == [("data", "/data", False), ("db", "/db", False),
                                                                              ("scratch", "/scratch", True)]
    assert app.memory == 64 * 1024 ** 2 and app.cpus == 0.5
    assert (app.user, app.read_only, app.no_new_privileges, app.privileged) == ("1000:1000", True, True, False)
    assert (app.cap_add, app.cap_drop) == (["NET_ADMIN"], ["MKNOD"])
    assert app.restart == "on-failure" and app.annotations == {"note": "hi"}
    assert (side.user, side.stdin, side.tty, side.pull, side.command, side.args) == ("7", True, True, "never", None, None)


def test_deployment_replicas_become_pods_named_as_podman() -> None:
    plan = plan_of("""
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: dep}
        spec:
          replicas: 3
          selector: {matchLabels: {app: x}}
          template:
            metadata: {labels: {app: x}}
            spec:
              containers: [{name: c, image: busybox}]
    """)
    assert [p.name for p in plan.pods] == ["dep-pod-0", "dep-pod-1", "dep-pod-2"]
    assert [p.containers[0].name for p in plan.pods] == ["dep-pod-0-c", "dep-pod-1-c", "dep-pod-2-c"]
    assert all(p.labels == {"app": "x"} for p in plan.pods)
    assert plan_of("""
        kind: Deployment
        metadata: {name: dep}
        spec: {template: {spec: {containers: [{name: c, image: busybox}]}}}
    """).pods[0].name == "dep-pod-0"  # replicas default to 1


def test_unsupported_fields_are_warned_about_once_with_their_path() -> None:
    plan = plan_of("""
        kind: Deployment
        metadata: {name: dep, finalizers: [x]}
        spec:
          replicas: 2
          paused: true
          template:
            spec:
              nodeSelector: {a: b}
              containers:
              - name: c
                image: busybox
                livenessProbe: {exec: {command: ["true"]}}
                resources: {requests: {cpu: 100m}}
                env: [{name: X, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
        ---
        kind: Service
        metadata: {name: svc}
    """)
    assert plan.warnings == [
        "k.yaml: document 1 (Deployment 'dep'): spec.template.spec.containers[0].env[0].valueFrom.fieldRef is not supported by capsa: ignored",
        "k.yaml: document 1 (Deployment 'dep'): spec.template.spec.containers[0].resources.requests is not supported by capsa: ignored",
        "k.yaml: document 1 (Deployment 'dep'): spec.template.spec.containers[0].livenessProbe is not supported by capsa: ignored",
        "k.yaml: document 1 (Deployment 'dep'): spec.template.spec.nodeSelector is not supported by capsa: ignored",
        "k.yaml: document 1 (Deployment 'dep'): spec.paused is not supported by capsa: ignored",
        "k.yaml: document 1 (Deployment 'dep'): metadata.finalizers is not supported by capsa: ignored",
        "k.yaml: document 2 (Service 'svc'): kind 'Service' is not supported by capsa: ignored",
    ]
    assert plan.pods[1].containers[0].env == []


@pytest.mark.parametrize(("yaml_text", "expected"), [
    ("kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: busybox}\n  - {name: b}\n",
     "k.yaml: document 1 (Pod 'p'): spec.containers[1].image is required"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n", "spec.containers must have at least one item"),
    ("kind: Pod\nmetadata: {name: p}\n", "(Pod 'p'): spec is required"),
    ("kind: Pod\nspec: {}\n", "k.yaml: document 1: metadata is required"),
    ("metadata: {name: p}\n", "k.yaml: document 1: kind is required"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: busybox, command: sh}]}\n",
     "spec.containers[0].command must be a list, not a string"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: busybox, ports: [{hostPort: 80}]}]}\n",
     "spec.containers[0].ports[0].containerPort is required"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: busybox, ports: [{containerPort: http}]}]}\n",
     "spec.containers[0].ports[0].containerPort must be an integer, not a string"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: busybox, volumeMounts: [{name: v, mountPath: /v}]}]}\n",
     "spec.containers[0].volumeMounts[0].name names no volume of spec.volumes: 'v'"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {volumes: [{name: v, hostPath: {path: /x, type: CharDevice}}], containers: [{name: a, image: b}]}\n",
     "spec.volumes[0].hostPath.type 'CharDevice' is not supported"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: b, resources: {limits: {memory: lots}}}]}\n",
     "spec.containers[0].resources.limits.memory is not a quantity"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {restartPolicy: Sometimes, containers: [{name: a, image: b}]}\n",
     "spec.restartPolicy must be Always, OnFailure or Never"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: b}, {name: a, image: b}]}\n",
     "spec.containers[1].name 'a' names two containers"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: b, env: [{name: X, valueFrom: {configMapKeyRef: {name: m, key: k}}}]}]}\n",
     "spec.containers[0].env[0].valueFrom.configMapKeyRef: ConfigMap 'm' not found"),
    ("kind: ConfigMap\nmetadata: {name: m}\ndata: {j: v}\n---\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: b, env: [{name: X, valueFrom: {configMapKeyRef: {name: m, key: k}}}]}]}\n",
     "ConfigMap 'm' has no key 'k'"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: b, envFrom: [{configMapRef: {name: m}}]}]}\n",
     "spec.containers[0].envFrom[0].configMapRef: ConfigMap 'm' not found"),
    ("kind: Pod\nmetadata: {name: 'bad name'}\nspec: {containers: [{name: a, image: b}]}\n", "metadata.name 'bad name' is not a valid name"),
    ("kind: Deployment\nmetadata: {name: d}\nspec: {replicas: two, template: {spec: {containers: [{name: a, image: b}]}}}\n",
     "spec.replicas must be an integer, not a string"),
    ("kind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{name: a}]}}}\n",
     "(Deployment 'd'): spec.template.spec.containers[0].image is required"),
    # names from the YAML that become volume names or host paths: checked with their path
    ("kind: Pod\nmetadata: {name: p}\nspec: {volumes: [{name: x/y, emptyDir: {}}], containers: [{name: a, image: b}]}\n",
     "spec.volumes[0].name 'x/y' is not a valid name"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {volumes: [{name: v, persistentVolumeClaim: {claimName: ../../etc}}], containers: [{name: a, image: b}]}\n",
     "spec.volumes[0].persistentVolumeClaim.claimName '../../etc' is not a valid name"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {volumes: [{name: v, hostPath: {path: ..}}], containers: [{name: a, image: b}]}\n",
     "spec.volumes[0].hostPath.path '..' is not a valid name"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {volumes: [{name: v, hostPath: {path: rel/dir, type: DirectoryOrCreate}}], containers: [{name: a, image: b}]}\n",
     "spec.volumes[0].hostPath.path must be an absolute path, not 'rel/dir'"),
    ("kind: PersistentVolumeClaim\nmetadata: {name: ../c}\n", "metadata.name '../c' is not a valid name"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {hostname: \"a b\\n1.2.3.4 evil\", containers: [{name: a, image: b}]}\n",
     "spec.hostname 'a b\\n1.2.3.4 evil' is not a valid hostname"),
])
def test_errors_name_the_path_of_the_bad_field(yaml_text: str, expected: str) -> None:
    assert expected in error_of(yaml_text)


def test_invalid_yaml_names_its_line() -> None:
    message = error_of("kind: Pod\nmetadata:\n  name: p\n spec: [\n")
    assert message.startswith("k.yaml: invalid YAML at line 4"), message


def test_a_later_bad_document_fails_the_whole_file() -> None:
    assert "document 2" in error_of("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: b}]}\n"
                                     "---\nkind: Pod\nmetadata: {name: q}\nspec: {containers: [{name: a}]}\n")


def test_configmaps_from_another_file_and_optional_references() -> None:
    text = """
        kind: Pod
        metadata: {name: p}
        spec:
          containers:
          - name: a
            image: b
            env: [{name: X, valueFrom: {configMapKeyRef: {name: m, key: k}}}]
            envFrom: [{configMapRef: {name: gone, optional: true}}]
    """
    assert plan_of(text, extra_configmaps={"m": {"k": "v"}}).pods[0].containers[0].env == ["X=v"]
    assert plan_of(text, lenient=True).pods[0].containers[0].env == []  # kube down needs only the names


def test_two_pods_of_one_name_are_refused() -> None:
    doc = "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: b}]}\n"
    assert "two pods are named 'p'" in error_of(doc + "---\n" + doc)


def test_a_containers_security_context_overrides_the_pods_field_by_field() -> None:
    """Kubernetes: a container's runAsGroup alone keeps the pod's runAsUser (not root)."""
    plan = plan_of("""
        kind: Pod
        metadata: {name: p}
        spec:
          securityContext: {runAsUser: 1000, runAsGroup: 100}
          containers:
          - {name: a, image: b, securityContext: {runAsGroup: 10}}
          - {name: b, image: b, securityContext: {runAsUser: 7}}
          - {name: c, image: b, securityContext: {privileged: false}}
          - {name: d, image: b}
    """)
    assert [c.user for c in plan.pods[0].containers] == ["1000:10", "7:100", "1000:100", "1000:100"]


@pytest.mark.parametrize(("yaml_text", "expected"), [
    ("", "YAML document does not contain any supported kube kind"),
    ("kind: Service\nmetadata: {name: s}\n", "YAML document does not contain any supported kube kind"),
    ("kind: ConfigMap\nmetadata: {name: m}\ndata: {a: b}\n", "ConfigMaps are not a standalone object and must be used in a container"),
])
def test_a_file_without_a_pod_deployment_or_claim_is_podmans_error(yaml_text: str, expected: str) -> None:
    """podman 4.3 refuses it (exit 125) rather than doing nothing; kube down reads it (no pods)."""
    assert expected in error_of(yaml_text)
    assert plan_of(yaml_text, lenient=True).pods == []
    assert plan_of("kind: Deployment\nmetadata: {name: d}\nspec: {replicas: 0, template: {spec: {containers: [{name: a, image: b}]}}}\n").pods == []
