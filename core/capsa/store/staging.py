"""Apply a layer diff so that a failure leaves the layer as it was: extract into a staging
copy, then swap it in with two renames."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from collections.abc import Callable
from typing import BinaryIO, Literal


def extract_swapped(target: Path, staging: Path, retired: Path, stream: BinaryIO,
                    whiteouts: Literal["overlay", "apply"], finish: Callable[[Path], None] | None = None) -> int:
    """Extract ``stream`` over a copy of ``target`` at ``staging`` and swap it into place.

    ``retired`` receives the old tree for the moment between the renames; all three paths must
    be on one filesystem. ``finish(staging)`` may adjust the result before the swap. Returns the
    bytes of file content written. On error ``target`` is untouched and ``staging`` removed.
    """
    from capsa.store.tarextract import extract_layer

    shutil.rmtree(staging, ignore_errors=True)
    if any(target.iterdir()):  # cp -a keeps hardlinks, devices, xattrs, owners and times
        subprocess.run(["cp", "-a", "--reflink=auto", str(target), str(staging)], check=True, capture_output=True)
    else:
        staging.mkdir()
        shutil.copystat(target, staging)
        st = target.stat()
        os.chown(staging, st.st_uid, st.st_gid)
    try:
        result = extract_layer(stream, staging, whiteouts=whiteouts)
        if finish is not None:
            finish(staging)
        shutil.rmtree(retired, ignore_errors=True)
        os.rename(target, retired)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(retired, ignore_errors=True)  # the new content is in place: leftovers only cost space
    return result.size
