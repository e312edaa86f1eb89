"""Short commands side by side with podman (issue 9's goals): ``ps -a`` with 50 containers and
``images``, each at most 1.0x podman's time; ``capsa --version`` is bench/startup.py's.

capsa uses a temporary store with the busybox image of scripts/busybox-image.sh and 50 created
containers; podman its own store, where this benchmark creates 50 containers from
``localhost/busybox`` (and removes exactly those at the end). Runs alternate between the two;
medians are compared. The parse table is warmed first (capsa's first command after an install
derives it, see docs/architecture.md).
Usage: ``.venv/bin/python bench/commands.py [--runs N] [--containers N]``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

from common import alternate, busybox_store, podman_binary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--containers", type=int, default=50)
    args = parser.parse_args()
    podman = podman_binary()
    podman_made: list[str] = []
    with busybox_store("capsa-bench-commands-") as (env, capsa):
        try:
            for i in range(args.containers):
                subprocess.run([*capsa, "create", "--name", f"bench{i}", "busybox", "true"], check=True, env=env,
                               stdout=subprocess.DEVNULL)
                if podman:
                    out = subprocess.run([podman, "create", "--network", "none", "localhost/busybox", "true"],
                                         check=True, capture_output=True, text=True)
                    podman_made.append(out.stdout.strip())
            os.sync()
            cases = {
                "ps -a": (["ps", "-a"], ["ps", "-a"]),
                "images": (["images"], ["images"]),
            }
            commands = {}
            for name, (ours, theirs) in cases.items():
                commands[f"capsa {name}"] = [*capsa, *ours]
                if podman:
                    commands[f"podman {name}"] = [podman, *theirs]
            alternate(commands, 2, env)  # warm: the parse table, the page cache
            times = alternate(commands, args.runs, env)
            failures = []
            print(f"{'benchmark':<22}{'capsa ms':>10}{'podman ms':>11}{'ratio':>8}   goal")
            for name in cases:
                ours = statistics.median(times[f"capsa {name}"])
                theirs = statistics.median(times[f"podman {name}"]) if podman else float("nan")
                ratio = ours / theirs if podman else float("nan")
                print(f"{name:<22}{ours:>10.1f}{theirs:>11.1f}{ratio:>7.2f}x   <= 1.00x")
                if podman and ratio > 1.0:
                    failures.append(name)
            for name in failures:
                print(f"GOAL MISSED: {name}")
            return 1 if failures else 0

        finally:  # only the containers this benchmark created
            if podman_made:
                subprocess.run([podman, "rm", "-f", *podman_made], capture_output=True)

if __name__ == "__main__":
    sys.exit(main())
