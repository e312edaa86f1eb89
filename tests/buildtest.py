"""Helpers of the build tests: a context directory written from a dict, ``capsa build`` on it,
and the checks that a build left no container, mount or monitor behind."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from conftest import Capsa
from containers import leftovers, store_fixtures


def context(tmp: Path, containerfile: str | None, files: dict[str, str | bytes] | None = None,
            name: str = "Containerfile") -> Path:
    """A fresh context directory under ``tmp`` holding ``containerfile`` (as ``name``) and ``files``."""
    n = 0
    while (tmp / f"ctx{n}").exists():
        n += 1
    root = tmp / f"ctx{n}"
    root.mkdir(parents=True)
    if containerfile is not None:
        (root / name).write_text(containerfile)
    for rel, content in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def build(c: Capsa, ctx: Path | str, *args: str, input: str | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return c("build", *args, str(ctx), input=input, timeout=timeout)


def built(c: Capsa, ctx: Path | str, *args: str) -> str:
    """Build (it must work) and return the image id, the output's last line."""
    r = build(c, ctx, *args)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.strip().splitlines()[-1]


def inspect(c: Capsa, ref: str) -> dict:
    r = c("image", "inspect", ref)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]  # type: ignore[no-any-return]


def build_containers(c: Capsa) -> list[str]:
    """Every container of the store, a build's hidden ones included (``ps -a --external``)."""
    r = c("ps", "-a", "--external", "-q", "--no-trunc")
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def assert_nothing_left(c: Capsa) -> None:
    """No build container, mount under the store, or monitor process is left."""
    assert build_containers(c) == []
    left = leftovers(c, [])
    assert left == [], left


def build_store_fixtures(name: str) -> tuple[Any, Any]:
    """``store`` (module-scoped: a busybox store named ``name``) and ``c`` (that store, checked
    after each test by :func:`assert_nothing_left`): ``store, c = build_store_fixtures(NAME)``."""
    return store_fixtures(name, check=assert_nothing_left)
