"""``build`` of a 5-step Containerfile (FROM, RUN, COPY, ENV, CMD), side by side with podman
(issue 13's goals): cold at most 1.0x podman's time, fully cached at most 0.5x.

Both engines build the same context with the same Containerfile, FROM their own
``localhost/busybox`` (capsa's from scripts/busybox-image.sh in a temporary store with a bridge
of its own, podman's in its store), each RUN on its default network (a bridge, for both).
"cold" is ``--no-cache`` in the same store each round (every step runs and commits; the base
image is there, as podman's is), which is fair to both: neither pays for creating a store,
neither reuses a step. "cached" is the same build again after one warm-up build: every step
comes from the cache. Runs alternate; medians are compared.
Usage: ``.venv/bin/python bench/build.py [--runs N]`` (a regular install, not an editable one).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import bridge_store, podman_binary, print_ratios, side_by_side

CONTAINERFILE = 'FROM localhost/busybox\nRUN echo hello > /hello\nCOPY data.txt /data.txt\nENV MODE=bench\nCMD ["cat", "/data.txt"]\n'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    podman = podman_binary()
    with tempfile.TemporaryDirectory(prefix="capsa-bench-build-ctx-") as ctx, bridge_store("capsa-bench-build-") as (env, capsa):
        Path(ctx, "Containerfile").write_text(CONTAINERFILE)
        Path(ctx, "data.txt").write_bytes(os.urandom(64 << 10).hex().encode())
        env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}  # (a user's capsa has its bytecode)
        label = ["--label", "capsa-bench=build"]  # (podman's images of this run are found by it and removed)
        ours = [*capsa, "build", *label, "-t", "bench-build"]
        theirs = [podman, "build", *label, "-t", "capsa-bench-build"] if podman else None
        cases = {
            "build cold": ([*ours, "--no-cache", ctx], [*theirs, "--no-cache", ctx] if theirs else None),
            "build cached": ([*ours, ctx], [*theirs, ctx] if theirs else None),
        }
        try:
            cold = side_by_side({"build cold": cases["build cold"]}, args.runs, env)
            cached = side_by_side({"build cached": cases["build cached"]}, args.runs, env)
        finally:
            if podman:
                made = subprocess.run([podman, "images", "-a", "-q", "--filter", "label=capsa-bench=build"],
                                      capture_output=True, text=True).stdout.split()
                if made:
                    subprocess.run([podman, "rmi", "-f", *made], capture_output=True)
        failures = print_ratios(cold, goal=1.0)
        failures += print_ratios(cached, goal=0.5)
        for name in failures:
            print(f"GOAL MISSED: {name}")
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
