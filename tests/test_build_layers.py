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

