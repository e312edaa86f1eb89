"""Push benchmarks against a local registry, side by side with podman when it is installed (the
issue sets no goal for push; the ratios are reported):

- cold push of an imported image (one uncompressed layer of ``--size`` MB, half text from this
  Python's standard library, half random bytes) to an empty registry: both engines gzip the
  layer and upload it;
- the same push again: every blob is on the registry (HEADs and the manifest only);
- a push to a second repository of the same registry: cross-repository mounts.

Each engine imports the same tarball into a temporary store of its own (podman's with
``--root``/``--runroot``/``--tmpdir``, vfs) and pushes with ``--tls-verify=false`` to its own
``docker-registry`` (capsa.testing.registryserver) on 127.0.0.1; every round starts fresh
registries; medians are compared.
Usage: ``.venv/bin/python bench/push.py [--runs N] [--size MB]``.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path

from common import capsa_binary, isolated_env, podman_binary, time_once


def layer_tar(path: Path, size: int) -> None:
    """A tarball of ``size`` bytes or so: the standard library's .py files, then random files."""
    rnd = random.Random(10)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        text = 0
        for source in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
            if text >= size // 2:
                break
            tar.add(source, f"text/{source.relative_to(source.parents[len(source.parents) - 2])}")
            text += source.stat().st_size
        n = 0
        while text < size:
            data = rnd.randbytes(min(4 << 20, size - text))
            info = tarfile.TarInfo(f"random/file{n:03d}")
            info.size = len(data)
            tar.addfile(info, __import__("io").BytesIO(data))
            text += len(data)
            n += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=100, help="layer size in MB")
    args = parser.parse_args()
    from capsa.testing.registryserver import RegistryServer

    podman = podman_binary()
    tmp = Path(tempfile.mkdtemp(prefix="capsa-bp-"))  # (short: podman wants a runroot < 50 chars)
    env = isolated_env(str(tmp))
    capsa = [capsa_binary(), "--root", str(tmp / "root"), "--runroot", str(tmp / "run")]
    pod = [podman, "--root", str(tmp / "proot"), "--runroot", str(tmp / "prun"), "--tmpdir", str(tmp / "ptmp"),
           "--storage-driver", "vfs", "--events-backend", "none"] if podman else []
    times: dict[str, list[float]] = {}
    try:
        tar = tmp / "layer.tar"
        layer_tar(tar, args.size << 20)
        subprocess.run([*capsa, "import", str(tar), "bench"], check=True, env=env, stdout=subprocess.DEVNULL)
        if podman:
            subprocess.run([*pod, "import", str(tar), "localhost/bench"], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        engines = {"capsa": ([*capsa, "push", "--tls-verify=false", "bench"], env)}
        if podman:
            engines["podman"] = ([*pod, "push", "--tls-verify=false", "localhost/bench"], None)
        for _ in range(args.runs):
            for engine, (push, engine_env) in engines.items():
                if engine == "capsa":  # (its blob cache would let it skip the compression)
                    for name in ("blob-locations.json", "blob-locations.lock"):
                        (tmp / "root" / name).unlink(missing_ok=True)
                with RegistryServer() as registry:
                    for case, repo in (("cold push", "bench/a"), ("push again", "bench/a"),
                                       ("other repository", "bench/b")):
                        times.setdefault(f"{engine} {case}", []).append(
                            time_once([*push, f"{registry.host}/{repo}:1"], engine_env))
        print(f"{'benchmark':<20}{'capsa ms':>10}{'podman ms':>11}{'ratio':>8}")
        for case in ("cold push", "push again", "other repository"):
            ours = statistics.median(times[f"capsa {case}"])
            theirs = statistics.median(times[f"podman {case}"]) if podman else float("nan")
            print(f"{case:<20}{ours:>10.1f}{theirs:>11.1f}{ours / theirs:>7.2f}x")
    finally:
        subprocess.run([*capsa, "system", "reset", "-f"], capture_output=True, env=env)
        if podman:
            subprocess.run([*pod, "system", "reset", "-f"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
