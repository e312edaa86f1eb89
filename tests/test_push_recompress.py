"""The parallel gzip a push recompresses layers with: one valid gzip member whatever the number
of threads, the same bytes for any number of them, and the data back exactly."""
from __future__ import annotations

import gzip
import io
import os
import random
import subprocess

import pytest

from capsa.registry.recompress import BLOCK, gzip_parallel


@pytest.mark.parametrize("size", [0, 1, 1000, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 12345])
def test_gzip_parallel_round_trip(size: int) -> None:
    rng = random.Random(size)
    text = bytes(rng.choice(b"abcdefgh \n") for _ in range(min(size, 300_000)))
    data = (text + os.urandom(max(0, size - len(text))))[:size]
    one, two, four = io.BytesIO(), io.BytesIO(), io.BytesIO()
    gzip_parallel(io.BytesIO(data), one, jobs=1)
    gzip_parallel(io.BytesIO(data), two, jobs=2)
    gzip_parallel(io.BytesIO(data), four, jobs=4)
    assert one.getvalue() == two.getvalue() == four.getvalue()
    assert gzip.decompress(one.getvalue()) == data
    assert subprocess.run(["gzip", "-t"], input=one.getvalue()).returncode == 0
    # about as small as a one-thread gzip of the same level
    assert len(one.getvalue()) <= len(gzip.compress(data, 6)) + 64 * (size // BLOCK + 1)
