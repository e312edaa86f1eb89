"""Container benchmarks, side by side with podman when it is installed (issue 4's goals):

- ``run --rm --network none busybox true``: goal at most 0.5x podman's time;
- ``create``: goal 0.5x podman's;
- peak RSS of ``capsa run`` (the CLI process): goal no more than podman's;
- RSS of one container's monitor: goal under 12 MB (podman's conmon, for scale).

Runs alternate between capsa and podman; medians are compared. capsa uses a temporary store
with a busybox image built by scripts/busybox-image.sh (and synced to disk, as podman's long-built
image is); podman uses its own store and the ``localhost/busybox`` image that
../shared/tools/podman-setup.sh builds.
Usage: ``.venv/bin/python bench/run.py [--runs N]``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from common import busybox_store, podman_binary, print_ratios



def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall time (ms) and the peak RSS (KB) of the process itself (not its children)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = (time.perf_counter() - start) * 1000
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(argv)} failed: {proc.stderr.read().decode().strip()}")
    proc.stderr.close()
    return elapsed, usage.ru_maxrss


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def monitor_rss(capsa: list[str], env: dict[str, str]) -> tuple[int, int]:
    """RSS of the monitor of a running container (KB): in its first second (the full monitor),
    and once it has handed the container to the lean monitor (steady state)."""
    cid = subprocess.run([*capsa, "run", "-d", "busybox", "sleep", "30"], capture_output=True, text=True,
                         env=env, check=True).stdout.strip()
    try:
        fmt = "{{.State.ConmonPid}}"
        pid = int(subprocess.run([*capsa, "inspect", "--format", fmt, cid], capture_output=True, text=True,
                                 env=env, check=True).stdout)
        time.sleep(0.3)
        starting = rss_kb(pid)
        time.sleep(2)
        return starting, rss_kb(pid)
    finally:
        subprocess.run([*capsa, "rm", "-f", cid], capture_output=True, env=env)


def podman_conmon_rss(podman: str) -> int:
    cid = subprocess.run([podman, "run", "-d", "--network", "none", "localhost/busybox", "sleep", "30"],
                         capture_output=True, text=True, check=True).stdout.strip()
    try:
        pid = int(subprocess.run([podman, "inspect", "--format", "{{.State.ConmonPid}}", cid], capture_output=True,
                                 text=True, check=True).stdout)
        return rss_kb(pid)
    finally:
        subprocess.run([podman, "rm", "-f", "-t", "0", cid], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    podman = podman_binary()
    with busybox_store("capsa-bench-run-") as (env, capsa):
        timed([*capsa, "run", "--rm", "--network", "none", "busybox", "true"], env)  # warm caches
        cases = {
            "run --rm true": ([*capsa, "run", "--rm", "--network", "none", "busybox", "true"],
                              [podman, "run", "--rm", "--network", "none", "localhost/busybox", "true"] if podman else None),
            "create": ([*capsa, "create", "--network", "none", "busybox", "true"],
                       [podman, "create", "--network", "none", "localhost/busybox", "true"] if podman else None),
        }
        results: dict[str, dict[str, list[float]]] = {name: {"capsa": [], "podman": []} for name in cases}
        rss = {"capsa": [], "podman": []}
        created_by_podman: list[str] = []
        for _ in range(args.runs):
            for name, (ours, theirs) in cases.items():
                ms, kb = timed(ours, env)
                results[name]["capsa"].append(ms)
                if name.startswith("run"):
                    rss["capsa"].append(kb)
                if theirs:
                    if name == "create":
                        start = time.perf_counter()
                        out = subprocess.run(theirs, capture_output=True, text=True, check=True)
                        ms, kb = (time.perf_counter() - start) * 1000, 0
                        created_by_podman.append(out.stdout.strip())
                        results[name]["podman"].append(ms)
                        continue
                    ms, kb = timed(theirs)
                    results[name]["podman"].append(ms)
                    if name.startswith("run"):
                        rss["podman"].append(kb)
        subprocess.run([*capsa, "rm", "-a", "-f"], capture_output=True, env=env)
        if podman:  # only the containers this benchmark created (their ids were printed by create)
            for cid in created_by_podman:
                subprocess.run([podman, "rm", "-f", cid], capture_output=True)
        failures = print_ratios(results)
        ours_rss = max(rss["capsa"])
        theirs_rss = max(rss["podman"]) if rss["podman"] else 0
        print(f"{'peak RSS of run (KB)':<22}{ours_rss:>10}{theirs_rss:>11}{(ours_rss / theirs_rss if theirs_rss else float('nan')):>7.2f}x   <= 1.00x")
        if theirs_rss and ours_rss > theirs_rss:
            failures.append("peak RSS")
        starting, mon = monitor_rss(capsa, env)
        conmon = podman_conmon_rss(podman) if podman else 0
        print(f"{'monitor RSS (KB)':<22}{mon:>10}{conmon:>11}{'':>8}   < 12288 KB (first second: {starting} KB)")
        if mon >= 12 * 1024:
            failures.append("monitor RSS")
        for name in failures:
            print(f"GOAL MISSED: {name}")
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
