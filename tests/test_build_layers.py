"""``capsa build``: what a RUN step's layer holds (not the runtime's placeholder files), and
behaviour checked by hand before: the cache across ignored files and rebuilt bases, RUN's
isolation, COPY --from's symlink containment."""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

from buildtest import build, build_store_fixtures, built, context
from conftest import Capsa

store, c = build_store_fixtures("build-layers")


def top_layer_names(c: Capsa, image: str, tmp_path: Path) -> list[str]:
    """The member names of ``image``'s top layer, read from ``save``'s docker archive."""
    archive = tmp_path / "saved.tar"
    r = c("save", "-o", str(archive), image)
    assert r.returncode == 0, r.stderr
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        layer = tar.extractfile(manifest[0]["Layers"][-1])
        assert layer is not None
        with tarfile.open(fileobj=layer) as inner:
            names = [m.name.removeprefix("./").rstrip("/") for m in inner.getmembers()]
    archive.unlink()
    return names


def test_a_run_layer_leaves_out_the_runtimes_placeholders(c: Capsa, tmp_path: Path) -> None:
    image = built(c, context(tmp_path, "FROM busybox\nRUN true\n"))
    r = c("image", "diff", image)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    names = top_layer_names(c, image, tmp_path)
    assert not any(n in names for n in ("etc/hosts", "etc/hostname", "etc/resolv.conf", "run/.containerenv", "etc")), names


def test_a_run_that_writes_in_etc_keeps_etc_and_its_file(c: Capsa, tmp_path: Path) -> None:
    # (/etc/hosts is the runtime's bind mount during RUN: what a RUN writes there is not the
    # image's, in podman as here; the placeholder under it still goes)
    image = built(c, context(tmp_path, "FROM busybox\nRUN echo '10.1.2.3 mine' > /etc/hosts && echo x > /etc/x\n"))
    names = top_layer_names(c, image, tmp_path)
    assert "etc" in names and "etc/x" in names, names
    assert not any(n in names for n in ("etc/hosts", "etc/hostname", "etc/resolv.conf", "run")), names
    r = c("image", "diff", image)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["C /etc", "A /etc/x"]


def test_workdir_is_an_empty_layer_and_its_directory_comes_with_the_next_copy(c: Capsa, tmp_path: Path) -> None:
    image = built(c, context(tmp_path, "FROM busybox\nWORKDIR /wa\nWORKDIR /wb\nCOPY f.txt /elsewhere.txt\n",
                             {"f.txt": "f\n"}))
    names = top_layer_names(c, image, tmp_path)
    assert {"wa", "wb", "elsewhere.txt"} <= set(names), names
    history = [h for h in json.loads(c("image", "inspect", image).stdout)[0]["History"] if "WORKDIR" in h["created_by"]]
    assert [h.get("empty_layer") for h in history] == [True, True]
    image = built(c, context(tmp_path, "FROM busybox\nWORKDIR /wr\nRUN true\n"))
    assert top_layer_names(c, image, tmp_path) == ["wr"]  # (the RUN's runtime made its working directory)


def hits(stdout: str) -> int:
    return sum(1 for line in stdout.splitlines() if line.startswith("--> Using cache "))


def test_a_changed_ignored_file_keeps_the_cache(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nCOPY . /app\nRUN ls /app > /listing\n",
                  {".dockerignore": "ignored.txt\n", "kept.txt": "kept\n", "ignored.txt": "one\n"})
    first = built(c, ctx)
    (ctx / "ignored.txt").write_text("two\n")
    r = build(c, ctx)
    assert r.returncode == 0, r.stderr
    assert hits(r.stdout) == 2 and r.stdout.splitlines()[-1] == first
    (ctx / "kept.txt").write_text("changed\n")
    r = build(c, ctx)
    assert r.returncode == 0, r.stderr
    assert hits(r.stdout) == 0 and r.stdout.splitlines()[-1] != first


def test_a_base_rebuilt_under_the_same_tag_misses(c: Capsa, tmp_path: Path) -> None:
    base = context(tmp_path, "FROM busybox\nRUN echo one > /v\n")
    built(c, base, "-t", "rebuiltbase")
    child = context(tmp_path, "FROM rebuiltbase\nRUN cat /v > /copy\n")
    first = built(c, child)
    r = build(c, child)
    assert hits(r.stdout) == 1 and r.stdout.splitlines()[-1] == first  # (unchanged: a hit)
    (base / "Containerfile").write_text("FROM busybox\nRUN echo two > /v\n")
    built(c, base, "-t", "rebuiltbase")
    r = build(c, child)
    assert r.returncode == 0, r.stderr
    assert hits(r.stdout) == 0 and r.stdout.splitlines()[-1] != first
    assert c("run", "--rm", r.stdout.splitlines()[-1], "cat", "/copy").stdout == "two\n"
    assert c("rmi", "rebuiltbase").returncode == 0


def test_run_isolation_equals_runs(c: Capsa, tmp_path: Path) -> None:
    probe = "grep -E '^(CapEff|CapBnd|Seccomp):' /proc/self/status"
    r = build(c, context(tmp_path, f"FROM busybox\nRUN {probe}\n"), "--no-cache")
    assert r.returncode == 0, r.stderr
    in_build = [line for line in r.stdout.splitlines() if line.startswith(("CapEff:", "CapBnd:", "Seccomp:"))]
    run = c("run", "--rm", "busybox", "sh", "-c", probe)
    assert run.returncode == 0, run.stderr
    assert len(in_build) == 3 and in_build == run.stdout.splitlines()


def test_copy_from_symlinks_stay_inside_the_stage(c: Capsa, tmp_path: Path) -> None:
    secret = tmp_path / "host-secret"
    secret.write_text("the host's secret\n")
    stage = (f"FROM busybox AS s\nRUN echo stage-shadow > /etc/shadow && ln -s ../../../../etc/shadow /up "
             f"&& ln -s {secret} /abs\n")
    image = built(c, context(tmp_path, stage + "FROM busybox\nCOPY --from=s /up /got\n"))
    assert c("run", "--rm", image, "cat", "/got").stdout == "stage-shadow\n"
    r = build(c, context(tmp_path, stage + "FROM busybox\nCOPY --from=s /abs /got\n"))
    if r.returncode == 0:  # (the link resolved inside the stage: there is no such file there)
        got = c("run", "--rm", r.stdout.splitlines()[-1], "cat", "/got")
        assert "the host's secret" not in got.stdout
    else:
        assert r.returncode == 125 and "the host's secret" not in r.stdout + r.stderr


def test_rmi_no_prune_keeps_the_build_steps_images(c: Capsa, tmp_path: Path) -> None:
    """``rmi`` deletes the intermediate images of a build with the image built; ``--no-prune``
    leaves them (dangling: ``image prune`` takes them later)."""
    def all_ids() -> set[str]:
        return set(c("images", "-a", "-q", "--no-trunc").stdout.split())

    before = all_ids()
    ctx = context(tmp_path, "FROM busybox\nRUN echo a > /a\nRUN echo b > /b\n")
    image = built(c, ctx, "-t", "noprune")
    steps = all_ids() - before - {f"sha256:{image}", image}
    assert steps, "the build left no intermediate image"
    r = c("rmi", "--no-prune", "noprune")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("Deleted: ") == 1
    assert all_ids() - before == steps
    pruned = c("image", "prune", "-f")
    assert pruned.returncode == 0 and not all_ids() & steps, pruned.stdout
