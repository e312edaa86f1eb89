"""Writing container logs in podman's k8s-file format (see :mod:`capsa.container.logs`).

Stdlib only and small: the lean monitor (capsa.container.lean_monitor) uses it while a container runs.
"""
from __future__ import annotations

import os
import time

MAX_LINE = 16 * 1024


def timestamp(ns: int | None = None) -> str:
    """RFC 3339 with nanoseconds and a numeric UTC offset, as podman writes it."""
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}+00:00"


class LogWriter:
    """Appends output to a k8s-file log, splitting it into lines per stream."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self.pending: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def write(self, stream: str, data: bytes) -> None:
        buf = self.pending[stream] + data
        records = []
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            records.append((b"F", buf[:nl]))
            buf = buf[nl + 1:]
        while len(buf) >= MAX_LINE:
            records.append((b"P", buf[:MAX_LINE]))
            buf = buf[MAX_LINE:]
        self.pending[stream] = buf
        self._emit(stream, records)

    def flush(self) -> None:
        """Write out partial lines (at exit)."""
        for stream, buf in self.pending.items():
            if buf:
                self._emit(stream, [(b"P", buf)])
                self.pending[stream] = b""

    def _emit(self, stream: str, records: list[tuple[bytes, bytes]]) -> None:
        if not records:
            return
        now = timestamp().encode()
        s = stream.encode()
        os.write(self.fd, b"".join(b"%s %s %s %s\n" % (now, s, flag, line) for flag, line in records))

    def close(self) -> None:
        self.flush()
        os.close(self.fd)
