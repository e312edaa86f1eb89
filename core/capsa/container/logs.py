"""Container logs in podman's k8s-file format: one record per line of output,

    2026-11-29T06:10:39.385146372+00:00 stdout F hello world

``F`` marks a full line, ``P`` a partial one (output that did not end with a newline yet, or a
line longer than the buffer). Writing is done by the monitor; reading by ``logs``.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

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


@dataclass
class LogRecord:
    time: str
    stream: str
    partial: bool
    data: bytes


def parse_line(line: bytes) -> LogRecord | None:
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    data = parts[3] if len(parts) == 4 else b""
    return LogRecord(parts[0].decode(), parts[1].decode(), parts[2] == b"P", data)


def read_records(path: str, offset: int = 0) -> tuple[list[LogRecord], int]:
    """Complete records from ``offset``; returns them and the offset after the last one."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    records = [r for r in (parse_line(line) for line in data[:end].splitlines()) if r is not None]
    return records, offset + end


def render(records: list[LogRecord], timestamps: bool) -> Iterator[tuple[str, bytes]]:
    """(stream, bytes to print) for each record: full lines get their newline back."""
    for r in records:
        text = r.data if r.partial else r.data + b"\n"
        if timestamps:
            text = r.time.encode() + b" " + text
        yield r.stream, text
