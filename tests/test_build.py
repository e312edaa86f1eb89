"""``capsa build``: real builds from the busybox image, then ``run`` of what they made: the
output's shape, the cache (hits, misses, the same id), intermediate images, history."""
from __future__ import annotations

import re
from pathlib import Path

from buildtest import build, build_store_fixtures, built, context, inspect
from conftest import Capsa

FIVE_STEPS = 'FROM busybox\nRUN echo hi > /hi\nCOPY f.txt /f.txt\nENV A=b\nCMD ["cat", "/f.txt"]\n'


store, c = build_store_fixtures("build")


def test_five_steps_output_and_the_image_runs(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, FIVE_STEPS, {"f.txt": "hello from the context\n"})
    r = build(c, ctx, "-t", "five")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "STEP 1/5: FROM busybox"
    steps = [line for line in lines if line.startswith("STEP ")]
    assert steps == ["STEP 1/5: FROM busybox", "STEP 2/5: RUN echo hi > /hi", "STEP 3/5: COPY f.txt /f.txt",
                     "STEP 4/5: ENV A=b", 'STEP 5/5: CMD ["cat", "/f.txt"]']
    assert sum(1 for line in lines if re.fullmatch(r"--> [0-9a-f]{11}", line)) == 4
    assert lines[-4] == "COMMIT five"
    assert lines[-2] == "Successfully tagged localhost/five:latest"
    image_id = lines[-1]
    assert re.fullmatch(r"[0-9a-f]{64}", image_id)
    assert lines[-3] == f"--> {image_id[:11]}"
    assert inspect(c, "five")["Id"] == image_id
    run = c("run", "--rm", "five")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "hello from the context\n"
    run = c("run", "--rm", "five", "sh", "-c", "cat /hi; echo $A")
    assert run.stdout == "hi\nb\n"


def test_run_output_streams_between_the_step_lines(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nRUN echo out-line; echo err-line >&2\n")
    r = build(c, ctx, "--no-cache")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[lines.index("STEP 2/2: RUN echo out-line; echo err-line >&2") + 1] == "out-line"
    assert "err-line" in r.stderr
    assert lines[-3] == "COMMIT" and lines[-2].startswith("--> ")  # (no -t: nothing tagged)


def test_unchanged_build_reuses_every_step_and_gives_the_same_id(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, FIVE_STEPS, {"f.txt": "one\n"})
    first = built(c, ctx, "-t", "cached")
    r = build(c, ctx, "-t", "cached")
    assert r.returncode == 0, r.stderr
    hits = [line for line in r.stdout.splitlines() if line.startswith("--> Using cache ")]
    assert len(hits) == 4
    assert hits[-1] == f"--> Using cache {first}"
    assert r.stdout.splitlines()[-1] == first
    assert "hi" not in r.stdout.splitlines()  # (no RUN ran)


def test_a_changed_copied_file_rebuilds_from_that_step_on(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, FIVE_STEPS, {"f.txt": "before\n"})
    first = built(c, ctx, "-t", "changing")
    (ctx / "f.txt").write_text("after\n")
    r = build(c, ctx, "-t", "changing")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    hits = [i for i, line in enumerate(lines) if line.startswith("--> Using cache")]
    assert len(hits) == 1 and lines[hits[0] - 1] == "STEP 2/5: RUN echo hi > /hi"  # the RUN only
    assert lines[-1] != first
    assert c("run", "--rm", "changing").stdout == "after\n"


def test_no_cache_and_layers_false_run_every_step(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nRUN echo ran\nENV X=1\n")
    first = built(c, ctx)
    for flags in (["--no-cache"], ["--layers=false"]):
        r = build(c, ctx, *flags)
        assert r.returncode == 0, r.stderr
        assert "Using cache" not in r.stdout
        assert "ran" in r.stdout.splitlines()
        assert r.stdout.splitlines()[-1] != first


def test_a_changed_build_arg_reruns_the_run_that_sees_it(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nARG V=1\nRUN echo v=$V > /v\n")
    one = built(c, ctx, "--build-arg", "V=1")
    assert built(c, ctx, "--build-arg", "V=1") == one
    two = built(c, ctx, "--build-arg", "V=2")
    assert two != one
    assert c("run", "--rm", two, "cat", "/v").stdout == "v=2\n"


def test_intermediate_images_show_with_all_and_go_with_prune(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nRUN echo a > /a\nENV B=c\nLABEL prune=me\n")
    final = built(c, ctx, "-t", "inter")
    everything = c("images", "-a", "-q", "--no-trunc").stdout.split()
    shown = c("images", "-q", "--no-trunc").stdout.split()
    steps = [i.removeprefix("sha256:") for i in everything if i not in shown]
    assert len(steps) >= 2  # (RUN and ENV; the LABEL step is the final image)
    assert final in [i.removeprefix("sha256:") for i in shown]
    r = c("image", "prune", "-f")
    assert r.returncode == 0, r.stderr
    left = [i.removeprefix("sha256:") for i in c("images", "-a", "-q", "--no-trunc").stdout.split()]
    assert not set(steps) & set(left)
    assert final in left
    assert c("run", "--rm", "inter", "cat", "/a").stdout == "a\n"


def test_history_is_shaped_like_podmans(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, FIVE_STEPS.replace("RUN ", "WORKDIR /w\nRUN "), {"f.txt": "x\n"})
    built(c, ctx, "-t", "hist")
    history = inspect(c, "hist")["History"]
    base = len(inspect(c, "busybox")["History"])
    ours = history[base:]
    assert ours[0]["created_by"] == "/bin/sh -c #(nop) WORKDIR /w"
    assert ours[1]["created_by"] == "/bin/sh -c echo hi > /hi"
    assert re.fullmatch(r"/bin/sh -c #\(nop\) COPY file:[0-9a-f]{64} in /f\.txt ", ours[2]["created_by"])
    assert ours[3]["created_by"] == "/bin/sh -c #(nop) ENV A=b"
    assert ours[4]["created_by"] == '/bin/sh -c #(nop) CMD ["cat", "/f.txt"]'  # (as written, as podman)
    assert [bool(h.get("empty_layer")) for h in ours] == [True, False, False, True, True]  # (WORKDIR: none, as podman)
    assert ours[0]["comment"] == "FROM localhost/busybox:latest"
    assert len(inspect(c, "hist")["RootFS"]["Layers"]) == len(inspect(c, "busybox")["RootFS"]["Layers"]) + 2


def test_several_tags_quiet_and_iidfile(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nRUN echo noisy; echo noisy-err >&2\nENV Q=1\n")
    iid = tmp_path / "iid"
    r = c("image", "build", "-q", "-t", "qa", "-t", "registry.example/q/b:2", "--iidfile", str(iid), str(ctx))
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"[0-9a-f]{64}\n", r.stdout)  # (the RUN's standard output is dropped too)
    assert r.stderr == "noisy-err\n"  # (its standard error is not, as podman's -q)
    assert iid.read_text() == f"sha256:{r.stdout.strip()}"
    tags = inspect(c, r.stdout.strip())["RepoTags"]
    assert set(tags) == {"localhost/qa:latest", "registry.example/q/b:2"}


def test_layers_false_keeps_only_the_final_image(c: Capsa, tmp_path: Path) -> None:
    before = set(c("images", "-a", "-q", "--no-trunc").stdout.split())
    ctx = context(tmp_path, "FROM busybox\nRUN echo only > /only\nENV ONLY=1\nCMD [\"cat\", \"/only\"]\n")
    final = built(c, ctx, "--layers=false")
    after = {i.removeprefix("sha256:") for i in set(c("images", "-a", "-q", "--no-trunc").stdout.split()) - before}
    assert after == {final}
    assert c("run", "--rm", final).stdout == "only\n"


def test_concurrent_builds_keep_each_others_cache_entries(c: Capsa, tmp_path: Path) -> None:
    import subprocess

    from conftest import CAPSA

    steps = "".join(f"RUN echo {{n}}-{i} > /f{i}\n" for i in range(4))
    ctxs = [context(tmp_path, "FROM busybox\n" + steps.format(n=n)) for n in ("one", "two")]
    argv = [str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot), "build"]
    procs = [subprocess.Popen([*argv, str(ctx)], env=c.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for ctx in ctxs]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
    for ctx in ctxs:
        r = build(c, ctx)
        assert r.returncode == 0, r.stderr
        hits = [line for line in r.stdout.splitlines() if line.startswith("--> Using cache ")]
        assert len(hits) == 4, r.stdout


def _all_ids(c: Capsa) -> list[str]:
    return sorted(i.removeprefix("sha256:") for i in c("images", "-a", "-q", "--no-trunc").stdout.split())


def test_rmi_of_a_built_image_removes_its_unshared_intermediates(c: Capsa, tmp_path: Path) -> None:
    before = _all_ids(c)
    steps = "FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n"
    first = built(c, context(tmp_path, steps + "ENV A=first\n"), "-t", "first")
    made = sorted(set(_all_ids(c)) - set(before))
    assert len(made) == 3
    second = built(c, context(tmp_path, steps + "ENV A=second\n"), "-t", "second")  # (shares both RUNs)
    r = c("rmi", "first")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["Untagged: localhost/first:latest", f"Deleted: {first}"]  # (the RUNs stay)
    r = c("rmi", "second")
    assert r.returncode == 0, r.stderr
    deleted = [line.removeprefix("Deleted: ") for line in r.stdout.splitlines()[1:]]
    assert deleted[0] == second and sorted(deleted[1:]) == sorted(set(made) - {first})
    assert _all_ids(c) == before
