"""Commands on a running container side by side with podman (issue 12 sets no goal for them;
for scale): ``top``, ``stats --no-stream`` and a ``pause`` + ``unpause`` round trip.

capsa uses a temporary store with the busybox image of scripts/busybox-image.sh, podman its
own store and ``localhost/busybox`` (../shared/tools/podman-setup.sh); each runs one ``sleep``
container (``--network none``), removed at the end. Runs alternate between the two; medians
are compared.
Usage: ``.venv/bin/python bench/running.py [--runs N]``.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess

from common import alternate, busybox_store, podman_binary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    podman = podman_binary()
    theirs = ""
    with busybox_store("capsa-bench-running-") as (env, capsa):
        ours = subprocess.run([*capsa, "run", "-d", "--network", "none", "busybox", "sleep", "600"], check=True,
                              capture_output=True, text=True, env=env).stdout.strip()
        try:
            if podman:
                theirs = subprocess.run([podman, "run", "-d", "--network", "none", "localhost/busybox", "sleep", "600"],
                                        check=True, capture_output=True, text=True).stdout.strip()
            cases = {
                "top": (["top", ours], ["top", theirs]),
                "stats --no-stream": (["stats", "--no-stream", ours], ["stats", "--no-stream", theirs]),
                "pause": (["pause", ours], ["pause", theirs]),
                "unpause": (["unpause", ours], ["unpause", theirs]),
            }
            commands = {}
            for name, (mine, podmans) in cases.items():
                commands[f"capsa {name}"] = [*capsa, *mine]
                if podman:
                    commands[f"podman {name}"] = [podman, *podmans]
            alternate(commands, 2, env)  # warm: the parse table, the page cache
            times = alternate(commands, args.runs, env)
            print(f"{'benchmark':<22}{'capsa ms':>10}{'podman ms':>11}{'ratio':>8}")
            for name in cases:
                mine_ms = statistics.median(times[f"capsa {name}"])
                their_ms = statistics.median(times[f"podman {name}"]) if podman else float("nan")
                print(f"{name:<22}{mine_ms:>10.1f}{their_ms:>11.1f}{mine_ms / their_ms if podman else float('nan'):>7.2f}x")
        finally:
            subprocess.run([*capsa, "rm", "-f", "-t", "0", ours], capture_output=True, env=env)
            if theirs:
                subprocess.run([podman, "rm", "-f", "-t", "0", theirs], capture_output=True)  # type: ignore[list-item]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
