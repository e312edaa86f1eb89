"""Hooks end to end: a real hook plugin package (tests/plugins/capsa-hook-recorder) installed
into the venv, driven through real ``run``, ``create``, ``start``, ``rm``, ``import``, ``tag``,
``untag``, ``rmi``, ``save`` and ``load`` commands.

The recorder writes one JSON line per hook call to the file $CAPSA_HOOK_RECORD names, and
raises in the hooks $CAPSA_HOOK_RAISE lists. Container hooks receive ``capsa inspect``'s
document of the container (docs/hooks.md); a plugin that raises where it may only warn gives
one ``Warning: ...`` line naming the hook and the plugin, and the command goes on.
"""
from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Capsa, isolated_env
from containers import cleanup, import_busybox
from test_third_party import install, uninstall

VIEW_KEYS = {"Id", "Name", "Image", "ImageName", "Created", "Config", "State", "HostConfig", "Mounts", "Path",
             "Args", "Driver", "LogPath", "RestartCount", "Rootfs", "NetworkSettings"}
PLUGIN = "recorder"


@pytest.fixture(scope="module")
def recorder_installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    install("capsa-hook-recorder", tmp_path_factory.mktemp("pkg"))
    try:
        yield
    finally:
        uninstall("capsa-hook-recorder")


@pytest.fixture(scope="module")
def store(recorder_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    tmp = tmp_path_factory.mktemp("hooked")
    capsa = Capsa(env=isolated_env(tmp), root=tmp / "root", runroot=tmp / "run", tmp=tmp)
    import_busybox(capsa, tmp)
    yield capsa
    capsa("system", "reset", "-f", timeout=120)


@pytest.fixture
def c(store: Capsa, tmp_path: Path) -> Iterator[Recorded]:
    rec = Recorded(store, tmp_path / "hooks.jsonl")
    yield rec
    assert cleanup(store) == []


class Recorded:
    """The store's ``capsa``, recording the hooks' calls in ``path``."""

    def __init__(self, capsa: Capsa, path: Path) -> None:
        self.capsa, self.path = capsa, path

    def __call__(self, *args: str, fail: str = "", **kw: Any) -> Any:
        env = {"CAPSA_HOOK_RECORD": str(self.path), "CAPSA_HOOK_RAISE": fail}
        return self.capsa(*args, env=env, **kw)

    def calls(self, hook: str | None = None) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        rows = [json.loads(line) for line in self.path.read_text().splitlines()]
        return [r for r in rows if hook is None or r["hook"] == hook]

    def inspect(self, ref: str) -> dict[str, Any]:
        r = self.capsa("inspect", ref)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)[0]  # type: ignore[no-any-return]


def warning(hook: str) -> str:
    return f"Warning: {hook} of plugin '{PLUGIN}' failed: RuntimeError: the recorder was told to fail in {hook}"


def stderr_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_hook_capsa_container_created(c: Recorded) -> None:
    r = c("create", "--name", "made", "-e", "A=1", "busybox", "true")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    cid = r.stdout.strip()
    [call] = c.calls("capsa_container_created")
    view = call["container"]
    assert VIEW_KEYS <= set(view)
    assert (view["Id"], view["Name"], view["State"]["Status"]) == (cid, "made", "created")
    assert "A=1" in view["Config"]["Env"] and view["Config"]["Cmd"] == ["true"]
    assert view == c.inspect(cid)  # the very document `capsa inspect` prints


def test_a_failing_created_hook_warns_and_the_container_is_whole(c: Recorded) -> None:
    r = c("create", "--name", "warned", "busybox", "sh", "-c", "exit 4", fail="capsa_container_created")
    assert r.returncode == 0, r.stderr
    assert stderr_lines(r.stderr) == [warning("capsa_container_created")]
    cid = r.stdout.strip()
    assert c.inspect("warned")["State"]["Status"] == "created"
    r = c("start", "-a", "warned")
    assert r.returncode == 4, r.stderr
    assert c("rm", "warned").stdout.strip() == "warned"  # (rm prints what the user typed, as podman)


def test_hook_capsa_adjust_runtime_spec(c: Recorded) -> None:
    r = c("run", "--rm", "--name", "adjusted", "busybox", "sh", "-c", "echo $RECORDER_SAW")
    assert (r.returncode, r.stdout, r.stderr) == (0, "adjusted\n", "")
    [call] = c.calls("capsa_adjust_runtime_spec")
    assert VIEW_KEYS <= set(call["container"])
    assert call["container"]["Name"] == "adjusted" and call["container"]["State"]["Status"] == "created"
    assert call["args"] == ["sh", "-c", "echo $RECORDER_SAW"]


def test_hook_capsa_container_prestart(c: Recorded) -> None:
    r = c("create", "--name", "pre", "busybox", "true")
    cid = r.stdout.strip()
    r = c("start", "-a", "pre")
    assert r.returncode == 0, r.stderr
    [call] = c.calls("capsa_container_prestart")
    assert call["container"]["Id"] == cid and call["container"]["Name"] == "pre"
    assert call["args"] == ["true"]
    hooks = [row["hook"] for row in c.calls()]
    assert hooks.index("capsa_adjust_runtime_spec") < hooks.index("capsa_container_prestart") \
        < hooks.index("capsa_container_poststart") < hooks.index("capsa_container_poststop")


def test_hook_capsa_adjust_network_attachment(c: Recorded) -> None:
    r = c("run", "--rm", "--name", "attached", "busybox", "true")
    assert (r.returncode, r.stderr) == (0, "")
    [call] = c.calls("capsa_adjust_network_attachment")
    assert VIEW_KEYS <= set(call["container"]) and call["container"]["Name"] == "attached"
    assert call["container_id"] == call["container"]["Id"]
    assert call["netns"].startswith("/proc/")  # the container's own namespace (--network none)


@pytest.mark.parametrize("hook", ["capsa_container_prestart", "capsa_adjust_runtime_spec",
                                  "capsa_adjust_network_attachment"])
def test_a_failing_prestart_hook_fails_the_start_cleanly(c: Recorded, hook: str) -> None:
    # run: a clear error, exit 126 (a start failure, as podman's run), and the container stays,
    # exited, with the reason in State.Error (nothing mounted or running is left)
    r = c("run", "--name", "refused", "busybox", "true", fail=hook)
    assert r.returncode == 126
    error = (f"Error: {hook} of plugin '{PLUGIN}' failed: RuntimeError: "
             f"the recorder was told to fail in {hook}")
    assert stderr_lines(r.stderr)[0] == error
    assert "internal error" not in r.stderr
    assert c.inspect("refused")["State"]["Status"] == "exited"
    assert c.inspect("refused")["State"]["Error"] == error.removeprefix("Error: ")
    assert c("rm", "refused").returncode == 0
    # start: the container stays, created, and starts once the plugin lets it
    c("create", "--name", "later", "busybox", "true")
    r = c("start", "later", fail=hook)
    assert r.returncode == 125 and "internal error" not in r.stderr
    assert c.inspect("later")["State"]["Status"] in ("created", "exited")
    assert c("start", "-a", "later").returncode == 0


def test_hook_capsa_container_poststart(c: Recorded) -> None:
    r = c("run", "-d", "--name", "up", "busybox", "sleep", "30")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    [call] = c.calls("capsa_container_poststart")
    view = call["container"]
    assert view["Id"] == cid and call["pid_arg"] > 0
    assert view["State"]["Status"] == "running" and view["State"]["Pid"] == call["pid_arg"]
    assert c.inspect(cid)["State"]["Pid"] == call["pid_arg"]


def test_a_failing_poststart_hook_warns_and_the_container_runs(c: Recorded) -> None:
    r = c("run", "-d", "--name", "still-up", "busybox", "sleep", "30", fail="capsa_container_poststart")
    assert r.returncode == 0
    assert stderr_lines(r.stderr) == [warning("capsa_container_poststart")]
    assert c.inspect("still-up")["State"]["Status"] == "running"
    r = c("rm", "-f", "still-up")
    assert r.returncode == 0, r.stderr


def test_hook_capsa_container_poststop(c: Recorded) -> None:
    r = c("run", "--name", "ends", "busybox", "sh", "-c", "exit 3")
    assert (r.returncode, r.stderr) == (3, "")
    [call] = c.calls("capsa_container_poststop")
    view = call["container"]
    assert call["exit_code"] == 3 and view["Name"] == "ends"
    assert view["State"]["ExitCode"] == 3 and view["State"]["Pid"] == 0 and VIEW_KEYS <= set(view)
    assert call["pid"] != c.calls("capsa_container_created")[0]["pid"]  # fired by the monitor
    # rm -f of a running container: the hook sees the SIGKILL
    c("run", "-d", "--name", "killed", "busybox", "sleep", "30")
    r = c("rm", "-f", "killed")
    assert r.returncode == 0, r.stderr
    assert [row["exit_code"] for row in c.calls("capsa_container_poststop")] == [3, 137]


def test_a_failing_poststop_hook_warns_on_the_attached_stderr_and_in_the_monitor_log(c: Recorded) -> None:
    r = c("run", "--name", "ends-badly", "busybox", "sh", "-c", "echo out; exit 5", fail="capsa_container_poststop")
    assert (r.returncode, r.stdout) == (5, "out\n")
    assert stderr_lines(r.stderr) == [warning("capsa_container_poststop")]
    view = c.inspect("ends-badly")
    assert view["State"]["Status"] == "exited" and view["State"]["ExitCode"] == 5
    log = Path(c.capsa.runroot, "containers", view["Id"], "monitor.log")
    assert warning("capsa_container_poststop") in log.read_text()
    # detached, with --rm: no one to tell but the log; the container is still removed
    r = c("run", "-d", "--rm", "--name", "gone", "busybox", "true", fail="capsa_container_poststop")
    assert r.returncode == 0 and r.stderr == ""
    r = c("wait", "gone")
    assert c("ps", "-a", "--format", "{{.Names}}").stdout.split() == ["ends-badly"]
    assert c("rm", "ends-badly").returncode == 0


def test_hook_capsa_image_event(c: Recorded, tmp_path: Path) -> None:
    image_id = import_busybox(c.capsa, tmp_path, name="other")  # (without recording)
    assert c("tag", "other", "twin:1", "twin:2").returncode == 0
    assert c("untag", "other", "twin:2").returncode == 0
    archive = tmp_path / "twin.tar"
    assert c("save", "-o", str(archive), "twin:1").returncode == 0
    r = c("rmi", "-f", image_id)
    assert r.returncode == 0, r.stderr
    assert c("load", "-i", str(archive)).returncode == 0
    r = c("rmi", "twin:1")
    assert r.returncode == 0, r.stderr
    events = [(e["action"], e["image_id"], e["names"]) for e in c.calls("capsa_image_event")]
    assert events == [
        ("tag", image_id, ["localhost/twin:1", "localhost/twin:2"]),
        ("untag", image_id, ["localhost/twin:2"]),
        ("remove", image_id, ["localhost/other:latest", "localhost/twin:1"]),
        ("load", image_id, ["localhost/twin:1"]),
        ("remove", image_id, ["localhost/twin:1"]),
    ]


def test_hook_capsa_image_event_on_pull(c: Recorded, registry: Any) -> None:
    from capsa.testing.imagebuilder import busybox_image
    from capsa.testing.registryupload import upload_image

    image = busybox_image("gzip", whiteouts=False)
    upload_image(registry, "evented", "1", [(layer.data, layer.media_type) for layer in image.layers], image.config)
    name = f"{registry.host}/evented:1"
    r = c("pull", "-q", "--tls-verify=false", name)
    assert r.returncode == 0, r.stderr
    image_id = r.stdout.strip()
    assert [(e["action"], e["image_id"], e["names"]) for e in c.calls("capsa_image_event")] == [("pull", image_id, [name])]
    assert c("rmi", name).returncode == 0


def test_hook_capsa_image_event_on_push(c: Recorded, registry: Any) -> None:
    image_id = c.inspect("busybox")["Id"].removeprefix("sha256:")
    r = c("push", "--tls-verify=false", "-q", "busybox", f"{registry.host}/hooked/busybox:1")
    assert r.returncode == 0, r.stderr
    assert [(e["action"], e["image_id"], e["names"]) for e in c.calls("capsa_image_event")] == [
        ("push", image_id, [f"{registry.host}/hooked/busybox:1"])]


def test_a_failing_image_event_warns_and_the_change_stands(c: Recorded, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hello").write_text("hi\n")
    tar = tmp_path / "tree.tar"
    subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True)
    r = c("import", str(tar), "evented:1", fail="capsa_image_event")
    assert r.returncode == 0 and stderr_lines(r.stderr) == [warning("capsa_image_event")]
    image_id = r.stdout.strip().removeprefix("sha256:")
    [event] = c.calls("capsa_image_event")
    assert (event["action"], event["image_id"], event["names"]) == ("import", image_id, ["localhost/evented:1"])
    r = c("tag", "evented:1", "evented:2", fail="capsa_image_event")
    assert r.returncode == 0 and stderr_lines(r.stderr) == [warning("capsa_image_event")]
    r = c("rmi", "evented:1", "evented:2", fail="capsa_image_event")
    assert r.returncode == 0, r.stderr
    assert c("image", "exists", image_id).returncode == 1
