"""What every benchmark shares: timing commands in alternation and reporting ratios."""
from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
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


@contextlib.contextmanager
def busybox_store(prefix: str) -> Iterator[tuple[dict[str, str], list[str]]]:
    """A temporary capsa store holding scripts/busybox-image.sh's busybox image, synced to disk:
    yields (the environment to run capsa in, ``capsa --root R --runroot RR``); removed at the end.

    podman's image was built long before and sits on disk; capsa's was just extracted and is
    still in the page cache, dirty. Until the kernel writes it back, every fsync waits on that
    writeback (measured: capsa's `create` 22.9 ms before a sync, 15.7 after), so it is settled
    first and both engines measure their own work."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    env = isolated_env(str(tmp))
    capsa = [capsa_binary(), "--root", str(tmp / "root"), "--runroot", str(tmp / "run")]
    try:
        subprocess.run(["bash", str(Path(__file__).resolve().parent.parent / "scripts" / "busybox-image.sh"),
                        "--root", str(tmp / "root"), "--runroot", str(tmp / "run")], check=True,
                       env=dict(env, CAPSA=capsa[0]), stdout=subprocess.DEVNULL)
        os.sync()
        yield env, capsa
    finally:
        subprocess.run([*capsa, "system", "reset", "-f"], capture_output=True, env=env)
        shutil.rmtree(tmp, ignore_errors=True)
