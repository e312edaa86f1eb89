"""``capsa build``: every instruction, built from the busybox image and checked by running or
inspecting the result (ARG scoping, multi-stage, ONBUILD, heredocs, ADD, COPY's flags,
FROM scratch, the ignore file, contexts and Containerfiles on stdin)."""
from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from buildtest import assert_nothing_left, build, build_store_fixtures, built, context, inspect
from conftest import Capsa


store, c = build_store_fixtures("build-ins")


def out(c: Capsa, image: str, *command: str) -> str:
    r = c("run", "--rm", image, *command)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_metadata_instructions_set_the_config(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nLABEL a=b c=\"d e\"\nMAINTAINER Jane <jane@example.org>\nEXPOSE 80 53/udp\n"
                            "WORKDIR /app\nWORKDIR sub\nUSER nobody\nVOLUME /data\nSTOPSIGNAL SIGUSR1\n"
                            "HEALTHCHECK --interval=5s --retries=2 CMD echo ok\nONBUILD RUN echo child\n"
                            'ENTRYPOINT ["echo", "entry"]\nCMD ["arg"]\n')
    r = build(c, ctx, "--label", "from=flag")
    assert r.returncode == 0, r.stderr
    assert 'STEP 14/14: LABEL "from"="flag"' in r.stdout.splitlines()  # (podman's extra step)
    image = r.stdout.splitlines()[-1]
    doc = inspect(c, image)
    config = doc["Config"]
    assert config["Labels"] == {"a": "b", "c": "d e", "from": "flag"}
    assert doc["Author"] == "Jane <jane@example.org>"
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert config["WorkingDir"] == "/app/sub"
    assert config["User"] == "nobody"
    assert config["Volumes"] == {"/data": {}}
    assert config["StopSignal"] == "SIGUSR1"
    assert config["OnBuild"] == ["RUN echo child"]
    assert config["Entrypoint"] == ["echo", "entry"] and config["Cmd"] == ["arg"]
    assert doc["Healthcheck"] == {"Test": ["CMD-SHELL", "echo ok"], "Interval": 5_000_000_000, "Retries": 2}
    assert out(c, image) == "entry arg\n"
    assert out(c, image, "x") == "entry x\n"
    r = c("run", "--rm", "--entrypoint", "", image, "sh", "-c", "pwd; id -u")
    assert r.stdout == "/app/sub\n65534\n"  # (WORKDIR made the directory)


def test_shell_form_cmd_entrypoint_and_shell(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, 'FROM busybox\nSHELL ["/bin/sh", "-ec"]\nRUN echo shell=$0 > /s\nCMD echo from cmd $HOME\n')
    image = built(c, ctx)
    config = inspect(c, image)["Config"]
    assert config["Cmd"] == ["/bin/sh", "-ec", "echo from cmd $HOME"]
    assert out(c, image) == "from cmd /root\n"
    assert out(c, image, "cat", "/s") == "shell=/bin/sh\n"
    ctx = context(tmp_path, "FROM busybox\nENTRYPOINT echo only entry\n")
    image = built(c, ctx)
    assert "Cmd" not in inspect(c, image)["Config"]  # (docker: ENTRYPOINT drops the base's CMD)
    assert out(c, image) == "only entry\n"


def test_arg_scoping_build_args_and_env(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "ARG BASE=busybox\nARG META=m\nFROM $BASE\nARG META\nARG WITH_DEFAULT=d\nARG GIVEN\n"
                            "ENV E=$WITH_DEFAULT-env\n"
                            "RUN echo \"$META $WITH_DEFAULT $GIVEN $E $HTTP_PROXY\" > /args\n")
    r = build(c, ctx, "-t", "args", "--build-arg", "GIVEN=g", "--build-arg", "HTTP_PROXY=http://proxy:3128",
              "--build-arg", "UNUSED=1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "STEP 1/6: FROM busybox"  # (meta ARGs expand in FROM)
    assert "[Warning] one or more build args were not consumed: [UNUSED]" in r.stdout.splitlines()
    assert out(c, "args", "cat", "/args") == "m d g d-env http://proxy:3128\n"
    run_entry = inspect(c, "args")["History"][-1]["created_by"]
    assert run_entry.startswith("|3 GIVEN=g META=m WITH_DEFAULT=d /bin/sh -c echo")
    assert "proxy" not in run_entry  # (proxy arguments stay out of the history, as docker's)
    assert not any(e.startswith(("GIVEN", "META")) for e in inspect(c, "args")["Config"]["Env"])


def test_an_arg_is_scoped_to_its_stage(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox AS one\nARG X=1\nFROM busybox\nRUN echo \"x=$X\" > /x\n")
    assert out(c, built(c, ctx), "cat", "/x") == "x=\n"


def test_multi_stage_copy_from_and_target(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox AS builder\nRUN echo built > /artifact && mkdir /d && echo in-d > /d/f\n"
                            "FROM busybox AS unused\nRUN echo unused\n"
                            "FROM busybox\nCOPY --from=builder /artifact /artifact\nCOPY --from=0 /d /copied\n"
                            "COPY --from=busybox /bin/busybox /bb\n")
    r = build(c, ctx, "-t", "multi")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "[1/2] STEP 1/2: FROM busybox AS builder"
    assert "[2/2] STEP 1/4: FROM busybox" in lines
    assert "unused" not in lines  # (a stage the target does not need is skipped)
    assert "[2/2] COMMIT multi" in lines
    assert out(c, "multi", "sh", "-c", "cat /artifact /copied/f; test -x /bb && echo bb") == "built\nin-d\nbb\n"
    r = build(c, ctx, "--target", "builder", "-t", "first")
    assert r.returncode == 0, r.stderr
    assert not any(line.startswith("[2/") for line in r.stdout.splitlines())
    assert out(c, "first", "cat", "/artifact") == "built\n"
    r = build(c, ctx, "--target", "nosuch")
    assert r.returncode == 125 and 'target stage "nosuch" not found' in r.stderr


def test_from_a_previous_stage_and_from_scratch(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox AS base\nRUN echo base > /base\nFROM base\nRUN cat /base > /again\n"
                            "FROM scratch AS files\nCOPY f.txt /f.txt\nFROM base\nCOPY --from=files /f.txt /f.txt\n",
                  {"f.txt": "scratch file\n"})
    image = built(c, ctx)
    assert out(c, image, "cat", "/base", "/f.txt") == "base\nscratch file\n"
    ctx = context(tmp_path, "FROM scratch\nCOPY bin /bin\nCMD [\"/bin/busybox\", \"echo\", \"from scratch\"]\n",
                  {"bin/busybox": Path("/bin/busybox").read_bytes()})
    (ctx / "bin" / "busybox").chmod(0o755)
    image = built(c, ctx)
    assert len(inspect(c, image)["RootFS"]["Layers"]) == 1
    r = c("run", "--rm", image)
    assert r.stdout == "from scratch\n", r.stderr  # (COPY keeps the mode)


def test_onbuild_triggers_run_in_the_child(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nONBUILD RUN echo triggered > /ob\nONBUILD ENV CHILD=yes\n")
    built(c, ctx, "-t", "parent-ob")
    ctx = context(tmp_path, "FROM parent-ob\nRUN cat /ob\n")
    r = build(c, ctx)
    assert r.returncode == 0, r.stderr
    steps = [line for line in r.stdout.splitlines() if line.startswith("STEP ")]
    assert steps == ["STEP 1/4: FROM parent-ob", "STEP 2/4: RUN echo triggered > /ob", "STEP 3/4: ENV CHILD=yes",
                     "STEP 4/4: RUN cat /ob"]
    child = r.stdout.splitlines()[-1]
    assert out(c, child, "sh", "-c", "cat /ob; echo $CHILD") == "triggered\nyes\n"
    assert not inspect(c, child)["Config"].get("OnBuild")  # (triggers are not inherited further)


def test_heredocs_in_run_and_copy(c: Capsa, tmp_path: Path) -> None:
    text = ("FROM busybox\nARG WHO=world\nRUN <<EOF\necho one > /one\necho two >> /one\nEOF\n"
            "RUN cat <<EOT > /two\nline $WHO\nEOT\n"
            "COPY <<EOF /greet\nhello $WHO\nEOF\n"
            "COPY <<'EOF' /literal\nhello $WHO\nEOF\n")
    image = built(c, context(tmp_path, text))
    assert out(c, image, "cat", "/one", "/two", "/greet", "/literal") == "one\ntwo\nline world\nhello world\nhello $WHO\n"


def test_add_extracts_local_archives_and_copies_other_files(c: Capsa, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"from the archive\n"
        info = tarfile.TarInfo("inner/file.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    ctx = context(tmp_path, "FROM busybox\nADD a.tar.gz /x/\nADD plain.txt /p.txt\nCOPY a.tar.gz /copied.tar.gz\n",
                  {"a.tar.gz": buf.getvalue(), "plain.txt": "plain\n"})
    image = built(c, ctx)
    assert out(c, image, "sh", "-c", "cat /x/inner/file.txt /p.txt; test -f /copied.tar.gz && echo kept") == \
        "from the archive\nplain\nkept\n"


def test_add_downloads_a_url(c: Capsa, tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    (served / "remote.txt").write_text("downloaded\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/remote.txt"
        ctx = context(tmp_path, f"FROM busybox\nADD {url} /r/\n")
        first = built(c, ctx)
        assert out(c, first, "cat", "/r/remote.txt") == "downloaded\n"
        assert built(c, ctx) == first  # (the same content: a cache hit)
        (served / "remote.txt").write_text("changed\n")
        second = built(c, ctx)
        assert second != first and out(c, second, "cat", "/r/remote.txt") == "changed\n"
    finally:
        server.shutdown()
        server.server_close()


def test_copy_flags_globs_and_destinations(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nWORKDIR /w\nCOPY --chown=nobody:nobody --chmod=640 a.txt rel.txt\n"
                            "COPY *.md /docs/\nCOPY dir /dir\n",
                  {"a.txt": "a\n", "x.md": "x\n", "y.md": "y\n", "dir/sub/z": "z\n"})
    image = built(c, ctx)
    listing = out(c, image, "sh", "-c", "stat -c '%U %G %a' /w/rel.txt; ls /docs; cat /dir/sub/z")
    assert listing == "nobody nobody 640\nx.md\ny.md\nz\n"


def test_ignore_file_keeps_paths_out_of_the_image(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nCOPY . /ctx/\n",
                  {".dockerignore": "secret*\n**/*.log\n!keep.log\n", "secret.txt": "s\n", "a/b.log": "l\n",
                   "keep.log": "k\n", "ok.txt": "ok\n"})
    image = built(c, ctx)
    found = out(c, image, "find", "/ctx", "-type", "f").split()
    assert sorted(found) == ["/ctx/.dockerignore", "/ctx/Containerfile", "/ctx/keep.log", "/ctx/ok.txt"]
    r = build(c, context(tmp_path, "FROM busybox\nCOPY secret.txt /\n", {".dockerignore": "secret.txt\n",
                                                                           "secret.txt": "s"}))
    assert r.returncode == 125


def test_context_tar_on_stdin_and_containerfile_on_stdin(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nCOPY f.txt /f.txt\n", {"f.txt": "via stdin\n"})
    archive = subprocess.run(["tar", "-C", str(ctx), "-cf", "-", "."], capture_output=True, check=True).stdout
    r = subprocess.run([*c_argv(c), "build", "-t", "stdin-ctx", "-"], input=archive, capture_output=True,
                       env=c.env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out(c, "stdin-ctx", "cat", "/f.txt") == "via stdin\n"
    files = context(tmp_path, None, {"g.txt": "file from -f -\n"})
    r = build(c, files, "-t", "stdin-file", "-f", "-", input="FROM busybox\nCOPY g.txt /g.txt\n")
    assert r.returncode == 0, r.stderr
    assert out(c, "stdin-file", "cat", "/g.txt") == "file from -f -\n"


def c_argv(c: Capsa) -> list[str]:
    from conftest import CAPSA

    return [str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot)]


def test_containerfile_is_preferred_and_f_picks_another(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nENV WHICH=containerfile\n", {"Dockerfile": "FROM busybox\nENV WHICH=dockerfile\n",
                                                                       "other.df": "FROM busybox\nENV WHICH=other\n"})
    assert "WHICH=containerfile" in inspect(c, built(c, ctx))["Config"]["Env"]
    assert "WHICH=other" in inspect(c, built(c, ctx, "-f", str(ctx / "other.df")))["Config"]["Env"]


def test_format_docker_and_squash(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nRUN echo 1 > /one\nRUN echo 2 > /two\n")
    docker = built(c, ctx, "--format", "docker")
    assert inspect(c, docker)["ManifestType"] == "application/vnd.docker.distribution.manifest.v2+json"
    base_layers = len(inspect(c, "busybox")["RootFS"]["Layers"])
    squashed = built(c, ctx, "--squash")
    assert len(inspect(c, squashed)["RootFS"]["Layers"]) == base_layers + 1
    assert out(c, squashed, "cat", "/one", "/two") == "1\n2\n"
    everything = built(c, ctx, "--squash-all")
    assert len(inspect(c, everything)["RootFS"]["Layers"]) == 1
    assert out(c, everything, "cat", "/one", "/two") == "1\n2\n"


def test_run_container_options(c: Capsa, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in.txt").write_text("mounted\n")
    ctx = context(tmp_path, "FROM busybox\nRUN cat /mnt/in.txt > /got; echo \"$FROM_FLAG\" >> /got; "
                            "cat /proc/net/dev | grep -c : >> /got\n")
    image = built(c, ctx, "--no-cache", "-v", f"{shared}:/mnt:ro", "--env", "FROM_FLAG=yes", "--network", "none")
    assert out(c, image, "cat", "/got") == "mounted\nyes\n1\n"  # (network none: lo only)
    assert "FROM_FLAG=yes" not in json.dumps(inspect(c, image)["Config"])


def test_refused_flags_say_which_and_why(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\n")
    for flags in (["--sign-by", "ABCD"], ["--platform", "linux/arm64"], ["--no-hosts"]):
        r = build(c, ctx, *flags)
        assert r.returncode == 125
        assert r.stderr.startswith(f"Error: {flags[0]} is not supported: ")
        assert "STEP" not in r.stdout


def test_run_uses_the_stages_user_workdir_and_env(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nENV GREETING=hello\nWORKDIR /tmp/work\nUSER nobody\n"
                            "RUN echo \"$(id -u) $(pwd) $GREETING\" > /tmp/seen\n")
    assert out(c, built(c, ctx), "cat", "/tmp/seen") == "65534 /tmp/work hello\n"


def test_several_files_are_read_one_after_the_other(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, None, {"a.df": "FROM busybox\nENV PART=one\n", "b.df": "ENV PART2=two\n"})
    env = inspect(c, built(c, ctx, "-f", str(ctx / "a.df"), "-f", str(ctx / "b.df")))["Config"]["Env"]
    assert "PART=one" in env and "PART2=two" in env


def test_platform_args_and_from_platform(c: Capsa, tmp_path: Path) -> None:
    arch = inspect(c, "busybox")["Architecture"]
    ctx = context(tmp_path, "FROM --platform=$BUILDPLATFORM busybox\nARG TARGETARCH\nARG TARGETPLATFORM\n"
                            "RUN echo \"$TARGETPLATFORM $TARGETARCH\" > /p\n")
    assert out(c, built(c, ctx), "cat", "/p") == f"linux/{arch} {arch}\n"
    r = build(c, context(tmp_path, "FROM --platform=linux/s390x busybox\nRUN true\n"))
    assert r.returncode == 125 and "--platform=linux/s390x" in r.stderr


def test_run_on_a_user_network(c: Capsa, tmp_path: Path) -> None:
    from nettest import free_subnet

    subnet = free_subnet()
    assert c("network", "create", "--subnet", subnet, "buildnet").returncode == 0
    try:
        ctx = context(tmp_path, "FROM busybox\nRUN ip -4 -o addr show eth0 | awk '{print $4}' > /addr\n")
        image = built(c, ctx, "--no-cache", "--network", "buildnet")
        prefix = subnet.rsplit(".", 1)[0] + "."
        assert out(c, image, "cat", "/addr").startswith(prefix)
    finally:
        assert c("network", "rm", "buildnet").returncode == 0


@pytest.fixture(scope="module")
def oci_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    from containers import oci_busybox_store

    yield from oci_busybox_store(tmp_path_factory, "build-oci")


def test_run_through_the_oci_isolation_driver(oci_store: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nRUN echo via-oci > /o\n")
    try:
        assert out(oci_store, built(oci_store, ctx), "cat", "/o") == "via-oci\n"
    finally:
        assert_nothing_left(oci_store)


def test_copy_from_a_single_file_is_a_file_in_history(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox AS one\nRUN echo x > /x && mkdir /d && echo y > /d/y\n"
                            "FROM busybox\nCOPY --from=one /x /x\nCOPY --from=one /d /d\n")
    image = built(c, ctx)
    r = c("history", "--no-trunc", "--format", "{{.CreatedBy}}", image)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].startswith("/bin/sh -c #(nop) COPY file:") and lines[1].endswith(" in /x "), lines
    assert lines[0].startswith("/bin/sh -c #(nop) COPY dir:") and lines[0].endswith(" in /d "), lines


def test_from_a_stage_prints_the_stages_image_id(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox AS base\nRUN echo base > /base\nFROM base\nRUN cat /base\n")
    r = build(c, ctx)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("[2/2] STEP 1/2: FROM "))
    short = next(line for line in reversed(lines[:at]) if line.startswith("--> ")).removeprefix("--> ")
    full = lines[at].removeprefix("[2/2] STEP 1/2: FROM ")
    assert len(full) == 64 and full.startswith(short), lines
