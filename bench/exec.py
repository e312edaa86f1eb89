"""``exec CONTAINER true``, side by side with podman when it is installed (issue 12's goal: at
most 0.5x podman's time).

A running container each (``sleep``, ``--network none``): capsa's in a temporary store with
scripts/busybox-image.sh's busybox image, podman's from the ``localhost/busybox`` image that
../shared/tools/podman-setup.sh builds; runs alternate, medians are compared.
Usage: ``.venv/bin/python bench/exec.py [--runs N]``.
"""
from __future__ import annotations

import argparse
import subprocess
import sys

from common import busybox_store, podman_binary, print_ratios, side_by_side


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    podman = podman_binary()
    with busybox_store("capsa-bench-exec-") as (env, capsa):
        ours = subprocess.run([*capsa, "run", "-d", "--network", "none", "busybox", "sleep", "600"],
                              capture_output=True, text=True, env=env, check=True).stdout.strip()
        theirs = None
        if podman:
            theirs = subprocess.run([podman, "run", "-d", "--network", "none", "localhost/busybox", "sleep", "600"],
                                    capture_output=True, text=True, check=True).stdout.strip()
        try:
            cases = {"exec true": ([*capsa, "exec", ours, "true"], [podman, "exec", theirs, "true"] if theirs else None)}
            results = side_by_side(cases, args.runs, env)
        finally:
            subprocess.run([*capsa, "rm", "-f", "-t", "0", ours], capture_output=True, env=env)
            if theirs:
                subprocess.run([podman, "rm", "-f", "-t", "0", theirs], capture_output=True)
        failures = print_ratios(results)
        for name in failures:
            print(f"GOAL MISSED: {name}")
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
