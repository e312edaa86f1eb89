"""Container logs in podman's k8s-file format: one record per line of output,

    2026-11-29T06:10:39.385146372+00:00 stdout F hello world

``F`` marks a full line, ``P`` a partial one (output that did not end with a newline yet, or a
line longer than the buffer). Writing is done by the monitor; reading by ``logs``.
"""
from __future__ import annotations

from collections.abc import Iterator

from capsa.container.logwriter import MAX_LINE, LogWriter, timestamp  # noqa: F401  (the writing half)
from capsa.fastpath.record import record


@record
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
