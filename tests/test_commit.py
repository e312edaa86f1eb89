"""``capsa commit`` for real, on both storage drivers: a container's changes (files written,
image files deleted) become a layer that ``run`` sees; ``--change`` for every instruction shows
in ``inspect`` and in what ``run`` does; ``-m``/``-a``, ``--format docker`` (saved and pushed as
Docker), ``--squash``, ``--include-volumes``, ``-q``, ``--iidfile``; a running container is frozen
for the commit (the default) and running again after; bad input exits 125 and changes nothing."""
from __future__ import annotations

import json
import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Capsa
from containers import STORAGE_DRIVERS, cleanup, driver_store, store_session

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(scope="module", params=STORAGE_DRIVERS)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    yield from driver_store(request, tmp_path_factory, "commit")


@pytest.fixture
def c(store: Capsa) -> Iterator[Capsa]:
    yield store
    left = cleanup(store)
    keep = image_id(store, "busybox")
    for image in ok(store, "images", "-a", "-q", "--no-trunc").split():
        if image.removeprefix("sha256:") != keep:
            store("rmi", "-f", image)
    assert left == [], f"left behind: {left}"


def ok(c: Capsa, *args: str) -> str:
    r = c(*args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def image_id(c: Capsa, ref: str) -> str:
    return ok(c, "image", "inspect", "--format", "{{.Id}}", ref).strip()


def inspect(c: Capsa, ref: str) -> dict:  # type: ignore[type-arg]
    return json.loads(ok(c, "image", "inspect", ref))[0]  # type: ignore[no-any-return]


def stored_config(c: Capsa, ref: str) -> dict:  # type: ignore[type-arg]
    """The image's config blob as stored (its sha256 is the image id)."""
    return json.loads((c.root / "blobs" / "sha256" / image_id(c, ref)).read_bytes())  # type: ignore[no-any-return]


def changed(c: Capsa, name: str, *run_flags: str) -> None:
    """A stopped container that wrote a file and deleted one of its image's."""
    ok(c, "run", "--name", name, *run_flags, "busybox", "sh", "-c", "echo committed > /new.txt && rm /etc/group")


def test_commit_of_a_stopped_container_keeps_its_files_and_deletions(c: Capsa) -> None:
    changed(c, "stopped", "-e", "GREETING=hi", "-w", "/tmp", "-u", "root:wheel")
    r = c("commit", "stopped", "snap")
    assert r.returncode == 0, r.stderr
    new_id = r.stdout.strip()
    assert new_id == image_id(c, "localhost/snap:latest")  # (a short name gets localhost/, as tag does)
    config = stored_config(c, "snap")
    base = stored_config(c, "busybox")
    # podman's lines on stderr: every layer by its diff id, then the config
    assert r.stderr.splitlines() == ["Getting image source signatures",
                                     *[f"Copying blob {d}" for d in config["rootfs"]["diff_ids"]],
                                     f"Copying config sha256:{new_id}", "Writing manifest to image destination",
                                     "Storing signatures"]
    assert config["rootfs"]["diff_ids"][:-1] == base["rootfs"]["diff_ids"] and len(config["rootfs"]["diff_ids"]) == 2
    assert config["history"][:-1] == base["history"]
    assert config["history"][-1]["created_by"] == "/bin/sh"
    assert config["history"][-1]["comment"] == "FROM localhost/busybox:latest"
    runtime = config["config"]
    assert "GREETING=hi" in runtime["Env"] and runtime["Cmd"] == ["sh", "-c", "echo committed > /new.txt && rm /etc/group"]
    assert runtime["WorkingDir"] == "/tmp" and runtime["User"] == "root:wheel"
    out = ok(c, "run", "--rm", "-u", "0", "snap", "sh", "-c", "cat /new.txt; ls /etc; echo $GREETING; pwd")
    assert out.splitlines()[0] == "committed"
    assert "group" not in out.split() and "passwd" in out.split()  # the deletion: a whiteout in the layer
    assert out.splitlines()[-2:] == ["hi", "/tmp"]
    assert inspect(c, "snap")["ManifestType"] == OCI_MANIFEST


def test_every_change_instruction_shows_in_inspect_and_in_run(c: Capsa) -> None:
    changed(c, "base")
    changes = ['CMD ["echo", "from-cmd"]', "ENV ONE=1 TWO=2", "EXPOSE 8080", "EXPOSE 53/udp 9000-9001", "LABEL purpose=test",
               "STOPSIGNAL SIGINT", "USER nobody", "VOLUME /data", "WORKDIR /srv", "ONBUILD RUN echo child"]
    args = [x for change in changes for x in ("--change", change)]
    r = c("commit", "-q", "--format", "docker", *args, "base", "changed")
    assert r.returncode == 0, r.stderr
    config = inspect(c, "changed")["Config"]
    assert config["Cmd"] == ["echo", "from-cmd"]
    assert {"ONE=1", "TWO=2"} <= set(config["Env"])
    assert config["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}, "9000/tcp": {}, "9001/tcp": {}}
    assert config["Labels"] == {"purpose": "test"}
    assert config["StopSignal"] == "2"  # (podman stores the number)
    assert config["User"] == "nobody" and config["WorkingDir"] == "/srv"
    assert config["Volumes"] == {"/data": {}}
    assert stored_config(c, "changed")["config"]["OnBuild"] == ["RUN echo child"]
    assert ok(c, "run", "--rm", "changed").strip() == "from-cmd"
    out = ok(c, "run", "--rm", "changed", "sh", "-c", "echo $ONE$TWO; pwd; id -u")
    assert out.split() == ["12", "/srv", "65534"]
    r = c("commit", "-q", "-c", "ENTRYPOINT echo entry", "base", "entry")
    assert r.returncode == 0, r.stderr
    assert inspect(c, "entry")["Config"]["Entrypoint"] == ["/bin/sh", "-c", "echo entry"]
    assert ok(c, "run", "--rm", "entry").strip() == "entry"
    # ONBUILD has no place in an OCI image: podman's warning, and it is dropped
    r = c("commit", "-q", "-c", "ONBUILD RUN echo child", "base", "oci-onbuild")
    assert r.returncode == 0 and r.stdout.strip() == image_id(c, "oci-onbuild")
    assert "ONBUILD is not supported for OCI image format, RUN echo child will be ignored" in r.stderr
    assert "OnBuild" not in stored_config(c, "oci-onbuild")["config"]


def test_message_and_author_and_the_docker_format(c: Capsa, tmp_path: Path) -> None:
    changed(c, "msg")
    ok(c, "commit", "-q", "--format", "docker", "-m", "a message", "-a", "Some One <one@example.org>", "msg", "dock:1")
    doc = inspect(c, "dock:1")
    assert doc["Comment"] == "a message" and doc["Author"] == "Some One <one@example.org>"
    assert doc["ManifestType"] == DOCKER_MANIFEST
    history = json.loads(ok(c, "image", "inspect", "--format", "{{json .History}}", "dock:1"))
    assert history[-1]["author"] == "Some One <one@example.org>"
    manifest = json.loads((c.root / "blobs" / "sha256" / doc["Digest"].split(":")[1]).read_bytes())
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert manifest["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert {layer["mediaType"] for layer in manifest["layers"]} <= {"application/vnd.docker.image.rootfs.diff.tar",
                                                                   "application/vnd.docker.image.rootfs.diff.tar.gzip"}
    # saved as a docker archive and loaded into a fresh store, it runs with the container's file
    archive = tmp_path / "dock.tar"
    ok(c, "save", "--format", "docker-archive", "-o", str(archive), "dock:1")
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert index[0]["RepoTags"] == ["localhost/dock:1"]
    # -a alone works with OCI; -m does not (podman's refusal)
    ok(c, "commit", "-q", "-a", "me", "msg", "oci-author")
    assert inspect(c, "oci-author")["Author"] == "me"
    r = c("commit", "-q", "-m", "no", "msg", "oci-msg")
    assert r.returncode == 125
    assert r.stderr.splitlines()[0] == "Error: messages are only compatible with the docker image format (-f docker)"
    assert c("image", "exists", "oci-msg").returncode == 1


def test_docker_format_image_pushes_as_docker(c: Capsa, registry) -> None:  # type: ignore[no-untyped-def]
    from pushing import Pushed

    changed(c, "pushme")
    ok(c, "commit", "-q", "--format", "docker", "pushme", "pushed:1")
    r = c("push", "--tls-verify=false", "pushed:1", f"{registry.host}/tests/committed:1")
    assert r.returncode == 0, r.stderr
    got = Pushed(registry, "tests/committed", "1")
    got.check()
    assert got.media_type == DOCKER_MANIFEST
    assert json.loads(got.config)["rootfs"]["diff_ids"] == stored_config(c, "pushed:1")["rootfs"]["diff_ids"]


def test_quiet_iidfile_untagged_and_squash(c: Capsa, tmp_path: Path) -> None:
    changed(c, "q")
    iid = tmp_path / "iid"
    r = c("commit", "-q", "--iidfile", str(iid), "q")
    assert r.returncode == 0 and r.stderr == ""
    new_id = r.stdout.strip()
    assert iid.read_text() == new_id and len(new_id) == 64
    rows = ok(c, "images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}").splitlines()
    assert f"sha256:{new_id} <none>:<none>" in rows or f"{new_id} <none>:<none>" in rows
    ok(c, "commit", "-q", "--squash", "q", "squashed")
    config = stored_config(c, "squashed")
    assert len(config["rootfs"]["diff_ids"]) == 1 and len(config["history"]) == 1
    out = ok(c, "run", "--rm", "squashed", "sh", "-c", "cat /new.txt; ls /etc; ls /bin/busybox")
    assert out.splitlines()[0] == "committed" and "group" not in out.split() and "/bin/busybox" in out.split()


def test_volumes_are_carried_over_as_podman_does(c: Capsa, tmp_path: Path) -> None:
    host = tmp_path / "bound"
    host.mkdir()
    ok(c, "run", "--name", "vols", "-v", "/anon", "-v", f"{host}:/bound", "busybox", "true")
    ok(c, "commit", "-q", "vols", "plain")
    ok(c, "commit", "-q", "--include-volumes", "vols", "withvols")
    assert inspect(c, "plain")["Config"]["Volumes"] == {"/anon": {}}
    assert inspect(c, "withvols")["Config"]["Volumes"] == {"/anon": {}, "/bound": {}}


def test_a_running_container_is_frozen_during_the_commit(c: Capsa, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commit itself runs in this process, with layer_from_container wrapped to look at the
    container (its record and the kernel's freezer, through the isolation driver) meanwhile."""
    from capsa.container.pausing import frozen
    from capsa.container.isodriver import isolation_driver
    from capsa.engine import commit as engine
    from capsa.engine.session import container_records
    from capsa.image import committing

    ok(c, "run", "-d", "--name", "busy", "busybox", "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i >> /log; sleep 0.01; done")
    deadline = time.monotonic() + 10
    while c("exec", "busy", "test", "-s", "/log").returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    for key, value in c.env.items():
        monkeypatch.setenv(key, value)
    seen: list[tuple[str, bool | None]] = []
    real = committing.layer_from_container

    def watching(store, writable, parent, **kwargs):  # type: ignore[no-untyped-def]
        records = container_records(sess)
        config = records.find("busy")
        seen.append((records.state(config.id).status, frozen(isolation_driver(sess, config), config.id)))
        return real(store, writable, parent, **kwargs)

    monkeypatch.setattr(committing, "layer_from_container", watching)
    for pause in (True, False):
        sess = store_session(c)
        try:
            engine.commit(sess, "busy", f"frozen-{str(pause).lower()}", changes=[], pause=pause)
        finally:
            sess.close()
    assert seen == [("paused", True), ("running", False)]
    assert ok(c, "inspect", "--format", "{{.State.Status}}", "busy").strip() == "running"
    logged = ok(c, "run", "--rm", "frozen-true", "cat", "/log").split()  # what it wrote until frozen
    assert logged and logged == [str(n) for n in range(1, len(logged) + 1)]


def test_a_commit_that_fails_thaws_the_container(c: Capsa, monkeypatch: pytest.MonkeyPatch) -> None:
    from capsa.engine import commit as engine
    from capsa.image import committing

    ok(c, "run", "-d", "--name", "doomed", "busybox", "sleep", "300")
    for key, value in c.env.items():
        monkeypatch.setenv(key, value)

    def failing(store, writable, parent, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError("disk on fire")

    monkeypatch.setattr(committing, "layer_from_container", failing)
    before = ok(c, "images", "-a", "-q", "--no-trunc")
    sess = store_session(c)
    try:
        with pytest.raises(OSError):
            engine.commit(sess, "doomed", "never", changes=[])
    finally:
        sess.close()
    assert ok(c, "inspect", "--format", "{{.State.Status}}", "doomed").strip() == "running"
    assert ok(c, "images", "-a", "-q", "--no-trunc") == before


def _disk_state(c: Capsa) -> tuple[str, list[str], str]:
    blobs = sorted(os.listdir(c.root / "blobs" / "sha256"))
    return ok(c, "images", "-a", "-q", "--no-trunc"), blobs, (c.root / "layers.json").read_text()


@pytest.mark.parametrize("args, message", [
    (["nosuch"], 'Error: no container with name or ID "nosuch" found: no such container'),
    (["-c", "FROB x", "bad"], 'Error: invalid change "FROB x" - invalid instruction FROB'),
    (["-c", "CMD", "bad"], 'Error: invalid change "CMD" - must be formatted as KEY VALUE'),
    (["-c", "EXPOSE http", "bad"], "Error: invalid change \"EXPOSE http\" - invalid containerPort: http"),
    (["-c", "STOPSIGNAL SIGNOPE", "bad"], "Error: invalid change \"STOPSIGNAL SIGNOPE\" - STOPSIGNAL: invalid signal 'SIGNOPE'"),
    (["--format", "v2s1", "bad"], 'Error: unrecognized image format "v2s1"'),
    (["bad", "Bad:Name"], None),
    ([], "Error: accepts between 1 and 2 arg(s), received 0"),
    (["bad", "a", "b"], "Error: accepts between 1 and 2 arg(s), received 3"),
    (["--iidfile", "/nonexistent/dir/iid", "bad"], None),
])
def test_bad_input_exits_125_and_changes_nothing(c: Capsa, args: list[str], message: str | None) -> None:
    changed(c, "bad")
    before = _disk_state(c)
    r = c("commit", *args)
    assert r.returncode == 125, r.stderr
    first = r.stderr.splitlines()[0]
    assert first.startswith("Error: ") and (message is None or first == message)
    assert len(r.stderr.splitlines()) == 2 and r.stdout == ""  # the message and its hint
    assert _disk_state(c) == before


def test_container_commit_is_the_same_command(c: Capsa) -> None:
    changed(c, "grouped")
    new_id = ok(c, "container", "commit", "-q", "grouped", "grouped-image").strip()
    assert new_id == image_id(c, "grouped-image")
    assert ok(c, "run", "--rm", "grouped-image", "cat", "/new.txt").strip() == "committed"


def test_the_same_container_committed_twice_gives_the_same_layer(c: Capsa) -> None:
    changed(c, "twice")
    ok(c, "commit", "-q", "twice", "one")
    ok(c, "commit", "-q", "twice", "two")
    assert stored_config(c, "one")["rootfs"] == stored_config(c, "two")["rootfs"]


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_a_signal_right_after_the_freeze_still_thaws_the_container(c: Capsa, monkeypatch: pytest.MonkeyPatch, signum: str) -> None:
    """Ctrl-C (or a SIGTERM) landing between the freeze and the commit proper: the container is
    running again afterwards, and no image was made. (SIGTERM would kill the process outright
    and leave the container frozen; the test gives it a handler that raises, as a caller may.)"""
    import signal

    from capsa.container import pausing
    from capsa.engine import commit as engine

    ok(c, "run", "-d", "--name", "interrupted", "busybox", "sleep", "300")
    for key, value in c.env.items():
        monkeypatch.setenv(key, value)
    real = pausing.pause

    def pause_then_signal(*args, **kwargs):  # type: ignore[no-untyped-def]
        real(*args, **kwargs)
        os.kill(os.getpid(), getattr(signal, signum))
        for _ in range(1000):  # (the handler runs between bytecodes)
            pass

    def raising(sig, frame):  # type: ignore[no-untyped-def]
        raise SystemExit(128 + sig)

    monkeypatch.setattr(pausing, "pause", pause_then_signal)
    previous = signal.signal(signal.SIGTERM, raising)
    before = ok(c, "images", "-a", "-q", "--no-trunc")
    sess = store_session(c)
    try:
        with pytest.raises((KeyboardInterrupt, SystemExit)):
            engine.commit(sess, "interrupted", "never", changes=[])
    finally:
        sess.close()
        signal.signal(signal.SIGTERM, previous)
    assert ok(c, "inspect", "--format", "{{.State.Status}}", "interrupted").strip() == "running"
    assert ok(c, "images", "-a", "-q", "--no-trunc") == before


def test_a_container_that_stops_before_the_freeze_is_committed_unfrozen(c: Capsa, monkeypatch: pytest.MonkeyPatch) -> None:
    """The container exits between commit's look at its status and the freeze: the commit goes
    on, as for any stopped container (it failed with pause's 'can't pause' error)."""
    from capsa.container import views
    from capsa.engine import commit as engine

    ok(c, "run", "--name", "gone", "busybox", "sh", "-c", "echo done > /done")
    for key, value in c.env.items():
        monkeypatch.setenv(key, value)
    real = views.effective_status
    calls: list[str] = []

    def running_at_first(records, config):  # type: ignore[no-untyped-def]
        seen = real(records, config)
        calls.append(seen.status)
        if len(calls) == 1:  # what commit saw: it was still running then
            seen.status = "running"  # (a copy: the record is read afresh each time)
        return seen

    monkeypatch.setattr(views, "effective_status", running_at_first)
    sess = store_session(c)
    try:
        engine.commit(sess, "gone", "gone-image", changes=[])
    finally:
        sess.close()
    assert calls and calls[0] == "exited"
    assert ok(c, "run", "--rm", "gone-image", "cat", "/done").strip() == "done"


def test_a_change_bad_only_with_the_containers_env_is_refused_before_the_freeze(c: Capsa, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--change`` expands ``$VAR`` with the container's environment: a change that only goes
    wrong with it (EXPOSE $PORT, PORT=http) is refused before the running container is frozen."""
    from capsa.container import pausing
    from capsa.engine import commit as engine
    from capsa.errors import UsageError

    ok(c, "run", "-d", "--name", "envbad", "-e", "PORT=http", "busybox", "sleep", "300")
    for key, value in c.env.items():
        monkeypatch.setenv(key, value)
    paused: list[str] = []
    real = pausing.pause

    def noting(sess, records, config):  # type: ignore[no-untyped-def]
        paused.append(config.id)
        real(sess, records, config)

    monkeypatch.setattr(pausing, "pause", noting)
    before = _disk_state(c)
    sess = store_session(c)
    try:
        with pytest.raises(UsageError, match=r'invalid change "EXPOSE \$PORT"'):
            engine.commit(sess, "envbad", "never", changes=["EXPOSE $PORT"])
    finally:
        sess.close()
    assert paused == []
    assert _disk_state(c) == before
    assert ok(c, "inspect", "--format", "{{.State.Status}}", "envbad").strip() == "running"


def test_the_store_is_not_locked_while_the_diff_is_made(c: Capsa, monkeypatch: pytest.MonkeyPatch) -> None:
    """The container's changes are read (the driver's diff: a walk of the whole layer, long for
    a big one) under the container's lock alone: another command can use the store meanwhile."""
    import subprocess

    from capsa.engine import commit as engine
    from capsa.engine.session import open_store

    changed(c, "longdiff")
    for key, value in c.env.items():
        monkeypatch.setenv(key, value)
    sess = store_session(c)
    driver_class = type(open_store(sess).driver)
    real = driver_class.diff
    listed: list[str] = []

    def diff_while_listing(self, layer_id, parent):  # type: ignore[no-untyped-def]
        try:
            r = c("images", "-q", timeout=10)
        except subprocess.TimeoutExpired:
            listed.append("blocked")
        else:
            listed.append(r.stdout.strip() and "listed")
        return real(self, layer_id, parent)

    monkeypatch.setattr(driver_class, "diff", diff_while_listing)
    try:
        image = engine.commit(sess, "longdiff", "longdiff-image", changes=[])
    finally:
        sess.close()
    assert listed == ["listed"]
    assert ok(c, "run", "--rm", image.id, "cat", "/new.txt").strip() == "committed"


def test_parent_and_history_name_the_image_committed_from(c: Capsa) -> None:
    """As podman: ``inspect``'s Parent is the container's image, and ``history`` shows that
    image's id on its own top row (the layer tree), the new image's on the new row."""
    changed(c, "lineage")
    new_id = ok(c, "commit", "-q", "lineage", "child").strip()
    ok(c, "rm", "lineage")
    ok(c, "run", "--name", "lineage2", "child", "true")
    grand_id = ok(c, "commit", "-q", "-s", "lineage2", "squashed").strip()
    base_id = image_id(c, "busybox")
    assert inspect(c, "child")["Parent"] == base_id
    assert inspect(c, "busybox")["Parent"] == ""
    assert inspect(c, "squashed")["Parent"] == ""  # one layer of its own: no image below it
    rows = json.loads(ok(c, "history", "--format", "json", "--no-trunc", "child"))
    base_rows = len(stored_config(c, "busybox")["history"])
    ids = [row["id"].removeprefix("sha256:") for row in rows]
    assert ids[0] == new_id and ids[1] == base_id and set(ids[2:]) <= {"<missing>"} and len(ids) == base_rows + 1
    assert [row["id"].removeprefix("sha256:") for row in json.loads(ok(c, "history", "--format", "json", "--no-trunc", "squashed"))] == [grand_id]


def test_a_thaw_that_fails_is_a_warning_not_a_failed_commit(c: Capsa, monkeypatch: pytest.MonkeyPatch) -> None:
    """As podman (which logs 'Unpausing container ...'): the image is made and returned; the
    thaw's error is reported as a warning, and does not replace the commit's result."""
    from capsa.container import pausing
    from capsa.engine import commit as engine
    from capsa.errors import CapsaError

    ok(c, "run", "-d", "--name", "stuck", "busybox", "sleep", "300")
    for key, value in c.env.items():
        monkeypatch.setenv(key, value)
    real = pausing.unpause

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise CapsaError("unpausing container: the freezer is on fire", hint="none")

    monkeypatch.setattr(pausing, "unpause", broken)
    warnings: list[str] = []
    sess = store_session(c)
    try:
        image = engine.commit(sess, "stuck", "stuck-image", changes=[], warn=warnings.append)
        monkeypatch.setattr(pausing, "unpause", real)
        ok(c, "unpause", "stuck")
    finally:
        sess.close()
    assert image.id == image_id(c, "stuck-image")
    assert len(warnings) == 1 and "freezer is on fire" in warnings[0]
