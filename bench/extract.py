"""Layer extraction benchmark: ``capsa.store.tarextract.extract_layer`` against ``tar -x``.

Goal: extracting a 200 MB layer of 2000 files (plain tar, generated here with deterministic
content) within 1.5x of ``tar -x`` of the same file. The Python function runs in-process (it
also computes the diff_id, which tar does not); tar runs as a subprocess. Runs alternate, every
run gets a fresh empty directory, and the tar file stays in the page cache. Usage:
``.venv/bin/python bench/extract.py [--runs N] [--files N] [--mb N]``. Exits 1 when the goal is
missed.
"""
from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from common import report

from capsa.store.tarextract import extract_layer

GOAL = 1.5


def make_layer(path: Path, files: int, total: int) -> str:
    """Write a deterministic layer tar (20 directories, ``files`` files, ``total`` bytes of
    content); return its sha256."""
    rng = random.Random(20240601)
    each = total // files
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        dirs = [f"usr/lib/pkg{i:02d}" for i in range(20)]
        for d in ["usr", "usr/lib", *dirs]:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
            tar.addfile(info)
        for i in range(files):
            data = rng.randbytes(each + (total - each * files if i == files - 1 else 0))
            info = tarfile.TarInfo(f"{dirs[i % len(dirs)]}/file{i:05d}.bin")
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tar.addfile(info, _Bytes(data))
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


class _Bytes:
    """A minimal file object over bytes for ``TarFile.addfile``."""

    def __init__(self, data: bytes) -> None:
        self._view, self._pos = memoryview(data), 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size < 0 else self._pos + size
        chunk = self._view[self._pos:end].tobytes()
        self._pos += len(chunk)
        return chunk


def time_tar(layer: Path, dest: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(["tar", "-x", "-f", str(layer), "-C", str(dest)], stderr=subprocess.PIPE)
    elapsed = (time.perf_counter() - start) * 1000
    if proc.returncode:
        sys.exit(f"tar -x failed ({proc.returncode}): {proc.stderr.decode().strip()}")
    return elapsed


def time_capsa(layer: Path, dest: Path, diff_id: str) -> float:
    start = time.perf_counter()
    with open(layer, "rb") as fh:
        result = extract_layer(fh, dest, whiteouts="overlay")
    elapsed = (time.perf_counter() - start) * 1000
    if result.diff_id != diff_id:
        sys.exit(f"extract_layer computed {result.diff_id}, the file is {diff_id}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()
    if not shutil.which("tar"):
        sys.exit("tar is not installed")
    with tempfile.TemporaryDirectory(prefix="capsa-bench-extract-") as tmp:
        layer = Path(tmp) / "layer.tar"
        diff_id = make_layer(layer, args.files, args.mb << 20)
        print(f"layer: {args.files} files, {layer.stat().st_size / 2**20:.1f} MiB tar")
        runners = {"tar -x": lambda dest: time_tar(layer, dest),
                   "extract_layer": lambda dest: time_capsa(layer, dest, diff_id)}
        times: dict[str, list[float]] = {name: [] for name in runners}
        for i in range(args.runs + 1):  # the first round warms the page cache and is dropped
            for name, run in runners.items():
                dest = Path(tmp) / f"dest-{i}-{name.replace(' ', '')}"
                dest.mkdir()
                elapsed = run(dest)
                shutil.rmtree(dest)
                if i:
                    times[name].append(elapsed)
        ratios = report(times, "tar -x")
    if ratios["extract_layer"] > GOAL:
        print(f"GOAL MISSED: extract_layer is {ratios['extract_layer']:.2f}x tar -x (goal {GOAL}x)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
