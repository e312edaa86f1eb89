"""What every benchmark shares: timing commands in alternation and reporting ratios."""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def capsa_binary() -> str:
    """The ``capsa`` next to this interpreter (the venv's), else the one on PATH."""
    local = Path(sys.executable).parent / "capsa"
    found = str(local) if local.exists() else shutil.which("capsa")
    if not found:
        sys.exit("capsa is not installed: run 'bash scripts/setup.sh' first")
    return found


def podman_binary() -> str | None:
    return shutil.which("podman")


def time_once(argv: Sequence[str], env: dict[str, str] | None = None) -> float:
    """Wall time of one run in milliseconds; a failing command aborts the benchmark."""
    start = time.perf_counter()
    proc = subprocess.run(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode().strip()}")
    return elapsed


def alternate(commands: dict[str, Sequence[str]], runs: int, env: dict[str, str] | None = None) -> dict[str, list[float]]:
    """Run every command once per round, ``runs`` rounds, so drift hits all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            times[name].append(time_once(argv, env))
    return times


def report(times: dict[str, list[float]], baseline: str) -> dict[str, float]:
    """Print median and best per command and the median ratio to ``baseline``; return ratios."""
    base = statistics.median(times[baseline])
    ratios = {}
    print(f"{'command':<28}{'median ms':>10}{'best ms':>10}{'ratio':>8}")
    for name, values in times.items():
        med = statistics.median(values)
        ratios[name] = med / base
        print(f"{name:<28}{med:>10.1f}{min(values):>10.1f}{ratios[name]:>7.2f}x")
    return ratios


def isolated_env(tmp: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPSA_")}
    env["CAPSA_CACHE_DIR"] = os.path.join(tmp, "cache")
    env["XDG_CONFIG_HOME"] = os.path.join(tmp, "config")
    return env
