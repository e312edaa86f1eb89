"""``build`` of a 5-step Containerfile (FROM, RUN, COPY, ENV, CMD), side by side with podman
(issue 13's goals): cold at most 1.0x podman's time, fully cached at most 0.5x.

Both engines build the same context with the same Containerfile, each in a temporary store of
its own holding one ``localhost/busybox`` (capsa's from scripts/busybox-image.sh, podman's
copied from its store with ``podman save``/``load``), each RUN on its default network (a bridge
for both; capsa's store has a bridge of its own). The stores are synced to disk first.
"cold" is ``--no-cache`` in that store each round (every step runs and commits; the base image
is there): fair to both, neither pays for creating a store, neither reuses a step. "cached" is
the same build again after one warm-up build: every step comes from the cache. Runs
alternate; medians are compared. Nothing is added to podman's own store.
Usage: ``.venv/bin/python bench/build.py [--runs N]`` (a regular install, not an editable one).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from common import bridge_store, podman_binary, print_ratios, side_by_side

CONTAINERFILE = 'FROM localhost/busybox\nRUN echo hello > /hello\nCOPY data.txt /data.txt\nENV MODE=bench\nCMD ["cat", "/data.txt"]\n'


@contextlib.contextmanager
def podman_store(podman: str) -> Iterator[list[str]]:
    """``podman --root R --runroot RR``: a temporary store holding a copy of podman's
    ``localhost/busybox``; emptied, unmounted and removed at the end."""
    tmp = Path(tempfile.mkdtemp(prefix="capsa-bench-build-podman-"))
    argv = [podman, "--root", str(tmp / "root"), "--runroot", str(tmp / "run")]
    try:
        archive = tmp / "busybox.tar"
        subprocess.run([podman, "save", "-q", "-o", str(archive), "localhost/busybox"], check=True)
        subprocess.run([*argv, "load", "-q", "-i", str(archive)], check=True, stdout=subprocess.DEVNULL)
        os.sync()
        yield argv
    finally:
        subprocess.run([*argv, "rmi", "-a", "-f"], capture_output=True)
        with open("/proc/self/mountinfo") as fh:
            points = [line.split()[4] for line in fh if line.split()[4].startswith(str(tmp))]
        for point in sorted(points, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    podman = podman_binary()
    with contextlib.ExitStack() as stack:
        ctx = stack.enter_context(tempfile.TemporaryDirectory(prefix="capsa-bench-build-ctx-"))
        env, capsa = stack.enter_context(bridge_store("capsa-bench-build-"))
        podman_argv = stack.enter_context(podman_store(podman)) if podman else None
        Path(ctx, "Containerfile").write_text(CONTAINERFILE)
        Path(ctx, "data.txt").write_bytes(os.urandom(64 << 10).hex().encode())
        env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}  # (a user's capsa has its bytecode)
        ours = [*capsa, "build", "-t", "bench-build"]
        theirs = [*podman_argv, "build", "-t", "bench-build"] if podman_argv else None
        cold = side_by_side({"build cold": ([*ours, "--no-cache", ctx], [*theirs, "--no-cache", ctx] if theirs else None)},
                            args.runs, env)
        cached = side_by_side({"build cached": ([*ours, ctx], [*theirs, ctx] if theirs else None)}, args.runs, env)
    failures = print_ratios(cold, goal=1.0)
    failures += print_ratios(cached, goal=0.5)
    for name in failures:
        print(f"GOAL MISSED: {name}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
