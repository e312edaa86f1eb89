"""Mount benchmark: mounting (and unmounting) an image of 100 layers with the overlay driver.

Goal (issue 3): a mount under 50 ms. Builds a 100-layer chain in a temporary store (one file
per layer), then times ``mount`` and ``unmount`` of the top layer through the driver, the way
``run`` will use it: reading the layer's lower chain, the mount counts on disk under their
lock, and the mount(2) call itself.
Usage: ``.venv/bin/python bench/overlay_mount.py [--runs N] [--layers N]``.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

GOAL_MS = 50.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--layers", type=int, default=100)
    args = parser.parse_args()
    from capsa.drivers import load_driver

    tmp = Path(tempfile.mkdtemp(prefix="capsa-bench-mount-"))
    driver = load_driver("storage", "overlay", root=tmp / "root", runroot=tmp / "run")
    try:
        parent = None
        for i in range(args.layers):
            driver.create(f"layer{i}", parent)
            (driver.context.home / f"layer{i}" / "diff" / f"file{i}").write_text(str(i))
            parent = f"layer{i}"
        mounts, unmounts = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            merged = driver.mount(parent)
            mounts.append((time.perf_counter() - start) * 1000)
            assert (merged / "file0").exists()
            start = time.perf_counter()
            driver.unmount(parent)
            unmounts.append((time.perf_counter() - start) * 1000)
        print(f"{args.layers}-layer overlay mount:   median {statistics.median(mounts):.2f} ms, best {min(mounts):.2f} ms")
        print(f"{args.layers}-layer overlay unmount: median {statistics.median(unmounts):.2f} ms, best {min(unmounts):.2f} ms")
        ok = statistics.median(mounts) < GOAL_MS
        print(("goal met" if ok else "GOAL MISSED") + f": mount under {GOAL_MS:.0f} ms")
        return 0 if ok else 1
    finally:
        driver.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
