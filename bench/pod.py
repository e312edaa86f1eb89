"""Pod benchmark, side by side with podman when it is installed (issue 14's goal): one pod's
life, ``pod create`` + ``run -d --pod POD busybox sleep`` + ``pod rm -f -t 0 POD``: goal at most
0.5x podman's time (the sum of the three; each step is shown too).

Both engines use their default network (capsa: a bridge of the benchmark's own, podman: its
``podman`` network), so the pod's infra container sets up a veth on a bridge and each member
joins it. capsa's infra runs the host's catatonit from a root filesystem made on the first pod
(the warm-up round makes it, as podman's first pod builds its pause image). Runs alternate
between capsa and podman; medians are compared.
Usage: ``.venv/bin/python bench/pod.py [--runs N]``.
"""
from __future__ import annotations

import argparse
import os
import sys

from common import bridge_store, podman_binary, print_ratios, time_once

STEPS = ("pod create", "run -d --pod", "pod rm -f")
REFERENCE = "run -d (no pod)"


def cycle(engine: list[str], image: str, name: str, env: dict[str, str] | None) -> list[float]:
    """One pod's life; the milliseconds of each step."""
    return [time_once([*engine, "pod", "create", "--name", name], env),
            time_once([*engine, "run", "-d", "--pod", name, image, "sleep", "1000"], env),
            time_once([*engine, "pod", "rm", "-f", "-t", "0", name], env)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    podman = podman_binary()
    tag = f"capsa-bench-pod-{os.getpid()}"
    with bridge_store("capsa-bench-pod-") as (env, capsa):
        cycle(capsa, "busybox", tag, env)  # warm caches (and make the infra root filesystem)
        if podman:
            cycle([podman], "localhost/busybox", tag, None)
        results = {name: {"capsa": [], "podman": []} for name in ("pod life", *STEPS, REFERENCE)}
        for _ in range(args.runs):
            for who, engine, image, env_ in (("capsa", capsa, "busybox", env), ("podman", [podman], "localhost/busybox", None)):
                if who == "podman" and not podman:
                    continue
                steps = cycle(engine, image, tag, env_)  # type: ignore[arg-type]
                results["pod life"][who].append(sum(steps))
                for step, ms in zip(STEPS, steps):
                    results[step][who].append(ms)
                # for scale: one container without a pod on the same network (not part of the goal)
                results[REFERENCE][who].append(time_once([*engine, "run", "-d", "--name", tag, image, "sleep", "1000"], env_))
                time_once([*engine, "rm", "-f", "-t", "0", tag], env_)
        failures = [f for f in print_ratios(results) if f == "pod life"]
        for name in failures:
            print(f"GOAL MISSED: {name}")
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
