"""``cp`` of a 100 MB directory (many small files and a few big ones) into and out of a container,
side by side with a plain ``cp -a`` of the same tree on the same disk (issue 12's goal: within
1.5x of it, both ways).

"cp -a (into layer)" is the same ``cp -a`` into the container's mounted overlay (``capsa mount``
before it and ``capsa unmount`` after it, neither timed, so the layer is never left mounted for
``capsa cp``): creating files through overlayfs costs more than on the bare disk, whoever does it.
capsa uses a temporary store with scripts/busybox-image.sh's busybox image and one created
(stopped) container, so each ``cp`` also pays for mounting its layer and releasing it; each run
copies to a new destination (nothing is removed before the end: freeing 100 MB while the next
command runs would weigh on it). Runs alternate, each after a ``sync``. Use a regular install
(``bash scripts/setup.sh``), not an editable one.
Usage: ``.venv/bin/python bench/cp.py [--runs N] [--mb N]``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import busybox_store


def make_tree(root: Path, mb: int) -> int:
    """About ``mb`` MB: 40 directories of 50 files of 4-16 KiB (about a fifth), the rest in 8
    big files; returns the number of entries."""
    rnd = os.urandom(1 << 20)
    count = 0
    small = 0
    for d in range(40):
        sub = root / f"dir{d:02}" / "nested"
        sub.mkdir(parents=True)
        for i in range(50):
            size = 4096 * (1 + (d * 50 + i) % 4)
            (sub / f"f{i:03}.dat").write_bytes(rnd[:size])
            small += size
            count += 1
        os.symlink(f"nested/f000.dat", root / f"dir{d:02}" / "link")
    big = max(mb * (1 << 20) - small, 0) // 8
    for b in range(8):
        with open(root / f"big{b}.bin", "wb") as fh:
            left = big
            while left:
                chunk = rnd[:min(left, len(rnd))]
                fh.write(chunk)
                left -= len(chunk)
        count += 1
    return count


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = (time.perf_counter() - start) * 1000
    if proc.returncode:
        sys.exit(f"{' '.join(argv)} failed: {proc.stderr.decode().strip()}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    with busybox_store("capsa-bench-cp-") as (env, capsa):
        work = Path(tempfile.mkdtemp(prefix="capsa-bench-cp-data-", dir=os.path.dirname(capsa[2])))
        try:
            src = work / "src"
            src.mkdir()
            entries = make_tree(src, args.mb)
            subprocess.run([*capsa, "create", "--name", "cpbench", "busybox", "true"], check=True, env=env,
                           stdout=subprocess.DEVNULL)
            subprocess.run([*capsa, "cp", str(src), "cpbench:/from"], check=True, env=env)  # what cp out reads
            os.sync()

            def mount() -> str:
                return subprocess.run([*capsa, "mount", "cpbench"], check=True, env=env, capture_output=True,
                                      text=True).stdout.strip()

            mounted = mount()
            subprocess.run([*capsa, "unmount", "cpbench"], check=True, env=env, stdout=subprocess.DEVNULL)
            times: dict[str, list[float]] = {"cp -a (host)": [], "cp -a (into layer)": [], "capsa cp in": [],
                                             "capsa cp out": []}
            commands = {"cp -a (host)": lambda i: ["cp", "-a", str(src), str(work / f"plain{i}")],
                        "cp -a (into layer)": lambda i: ["cp", "-a", str(src), f"{mounted}/plain{i}"],
                        "capsa cp in": lambda i: [*capsa, "cp", str(src), f"cpbench:/to{i}"],
                        "capsa cp out": lambda i: [*capsa, "cp", "cpbench:/from", str(work / f"out{i}")]}
            for i in range(args.runs):
                names = list(commands)
                for name in names[i % len(names):] + names[:i % len(names)]:  # (each goes first in turn)
                    layer = name == "cp -a (into layer)"
                    if layer:
                        mounted = mount()
                    os.sync()  # (no one pays for the previous command's writeback)
                    time.sleep(0.5)
                    times[name].append(timed(commands[name](i), env))
                    if layer:
                        subprocess.run([*capsa, "unmount", "cpbench"], check=True, env=env, stdout=subprocess.DEVNULL)
            base, best = statistics.median(times["cp -a (host)"]), min(times["cp -a (host)"])
            layer = statistics.median(times["cp -a (into layer)"])
            print(f"cp of {args.mb} MB in {entries} files ({args.runs} runs)")
            print(f"{'command':<20}{'median ms':>10}{'best ms':>10}{'median vs cp -a':>17}{'best vs best':>14}"
                  f"{'median vs into layer':>22}")
            worst = 0.0
            for name, values in times.items():
                ratio = min(values) / best
                if name.startswith("capsa"):
                    worst = max(worst, statistics.median(values) / base)
                print(f"{name:<20}{statistics.median(values):>10.1f}{min(values):>10.1f}"
                      f"{statistics.median(values) / base:>16.2f}x{ratio:>13.2f}x{statistics.median(values) / layer:>21.2f}x")
            print("goal: capsa cp within 1.50x of cp -a (host), both ways, judged on the medians")
            return 0 if worst <= 1.5 else 1
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
