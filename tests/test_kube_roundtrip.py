"""Issue 14, point 6: ``kube generate`` of a running pod with several containers and many flags,
``pod rm -f``, ``kube play`` of that YAML recreates an equivalent pod: the pods' records and the
containers' ``inspect`` compared field by field, every difference accounted for."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Capsa
from containers import busybox_store, cleanup


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    yield from busybox_store(tmp_path_factory, "kuberoundtrip")


def pods_of(capsa: Capsa) -> list[Any]:
    from capsa.pod.records import PodRecords

    return PodRecords(capsa.root, capsa.runroot).all()


@pytest.fixture
def c(store: Capsa) -> Iterator[Capsa]:
    yield store
    for pod in pods_of(store):
        store("pod", "rm", "-f", pod.id, timeout=120)
    left = cleanup(store)
    for name in store("volume", "ls", "-q").stdout.split():
        store("volume", "rm", "-f", name)
    assert left == [], f"left behind: {left}"


def ok(c: Capsa, *args: str) -> str:
    r = c(*args, timeout=120)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def flat(doc: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(doc, dict):
        out: dict[str, Any] = {}
        for key, value in doc.items():
            out.update(flat(value, f"{prefix}.{key}"))
        return out
    return {prefix: doc}


# What differs by nature between a container and its re-creation (ids, times, paths under its
# id, its pid, the infra it joins), and what is compared otherwise below.
VOLATILE = re.compile(r"^\.(Id|Created|Name|Pod|Path|Args|ProcessLabel|LogPath|ResolvConfPath|HostnamePath|HostsPath|"
                      r"ConmonPidFile|PidFile|Rootfs|GraphDriver\..*|State\.(Pid|ConmonPid|StartedAt|FinishedAt|Health.*)|"
                      r"HostConfig\.(LogConfig\.Path|NetworkMode|IpcMode|UTSMode|PidMode|CgroupnsMode|CgroupMode)|Config\.(Entrypoint|Cmd|User)|NetworkSettings\.SandboxKey|Namespaces\..*)$")


def argv(doc: dict[str, Any]) -> list[str]:
    return list(doc["Config"]["Entrypoint"] or []) + list(doc["Config"]["Cmd"] or [])


def test_generate_rm_play_recreates_an_equivalent_pod(c: Capsa, tmp_path: Path) -> None:
    host_dir = tmp_path / "shared"
    host_dir.mkdir()
    (host_dir / "f").write_text("from the host\n")
    ok(c, "pod", "create", "--name", "rt", "-p", "127.0.0.1:18093:80", "--hostname", "rthost")
    ok(c, "run", "-d", "--pod", "rt", "--name", "web", "-e", "X=1", "-e", "Y=two words", "-w", "/tmp",
       "--memory", "64m", "--cpus", "0.5", "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN",
       "-v", f"{host_dir}:/h:ro", "-v", "rtvol:/data", "--restart", "on-failure", "--init",
       "busybox", "sleep", "300")
    ok(c, "run", "-d", "--pod", "rt", "--name", "side", "-u", "1000:1000", "--read-only", "--privileged", "-t",
       "--restart", "on-failure", "--entrypoint", "sh", "busybox", "-c", "id; hostname; exec sleep 300")
    ok(c, "exec", "web", "sh", "-c", "echo kept > /data/kept")
    (original,) = pods_of(c)
    before = {n: json.loads(ok(c, "container", "inspect", n))[0] for n in ("web", "side")}
    ids_before = {"web": ok(c, "exec", "web", "id").strip()}  # (a privileged container is not exec'd into)
    side_log = ok(c, "logs", "side")
    # (-u 1000:1000: kube generate writes runAsUser and runAsGroup, so a bare -u 1000, which adds
    # the user's groups of /etc/group, would come back as 1000:1000 without them: see docs/kube-play.md)
    assert side_log == "uid=1000(alice) gid=1000(alice) groups=1000(alice)\nrthost\n"
    yaml_text = ok(c, "kube", "generate", "rt")
    (tmp_path / "rt.yaml").write_text(yaml_text)

    ok(c, "pod", "rm", "-f", "rt")
    assert pods_of(c) == [] and ok(c, "ps", "-a", "-q") == ""
    out = ok(c, "kube", "play", str(tmp_path / "rt.yaml"))
    assert out.startswith("Pod:\n") and "Containers:\n" in out

    # the pod, field by field
    (played,) = pods_of(c)
    assert played.name == original.name == "rt"
    assert played.share == original.share
    assert (played.hostname or played.name) == (original.hostname or original.name) == "rthost"
    assert [p.removesuffix("/tcp") for p in played.publish] == original.publish == ["127.0.0.1:18093:80"]
    assert played.network == original.network and played.exit_policy == original.exit_policy
    assert played.labels == {"app": "rt"}  # kube generate writes app=NAME, not the pod's labels (podman's does the same)
    # the containers, field by field: named <pod>-<container> as podman's kube play names them
    after = {n: json.loads(ok(c, "container", "inspect", f"rt-{n}"))[0] for n in ("web", "side")}
    for name in ("web", "side"):
        b, a = flat(before[name]), flat(after[name])
        differing = sorted(k for k in set(b) | set(a) if b.get(k) != a.get(k) and not VOLATILE.match(k))
        assert differing == [], {k: (b.get(k), a.get(k)) for k in differing}
        assert after[name]["Name"] == f"rt-{name}"
        assert after[name]["State"]["Status"] == "running"
        # Kubernetes' command is the entrypoint: the same process either way
        assert argv(after[name]) == argv(before[name]) or (before[name]["Config"]["Entrypoint"] is None
                                                           and argv(after[name]) == before[name]["Config"]["Cmd"])
        for mode in ("NetworkMode", "IpcMode", "UTSMode", "PidMode", "CgroupnsMode", "CgroupMode"):
            old = before[name]["HostConfig"].get(mode)  # the old infra's namespaces -> the new infra's
            expected = f"container:{played.infra_id}" if old == f"container:{original.infra_id}" else old
            assert after[name]["HostConfig"].get(mode) == expected, mode
        assert after[name]["HostConfig"]["NetworkMode"] == f"container:{played.infra_id}"
    assert before["web"]["HostConfig"]["Memory"] == after["web"]["HostConfig"]["Memory"] == 64 * 1024 ** 2
    assert after["side"]["HostConfig"]["Privileged"] is True and after["side"]["Config"]["Tty"] is True
    # the named volume is the same volume (its data kept), the bind the same directory
    assert ok(c, "exec", "rt-web", "cat", "/data/kept", "/h/f") == "kept\nfrom the host\n"
    assert ok(c, "exec", "rt-web", "id").strip() == ids_before["web"]
    assert ok(c, "logs", "rt-side") == side_log  # the same user, group and hostname
