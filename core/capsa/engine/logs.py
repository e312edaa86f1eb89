"""``logs``: a container's output as its monitor recorded it (:mod:`capsa.container.logs`),
filtered by time and line count, and followed while the container runs."""
from __future__ import annotations

from capsa.engine.session import container_records
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from capsa.container.logs import LogRecord
    from capsa.container.model import ContainerConfig
    from capsa.container.records import ContainerRecords
    from capsa.engine.session import Session

FOLLOW_POLL = 0.05  # seconds between two reads of the log while following it


COLORS = (b"\033[37m", b"\033[31m", b"\033[32m", b"\033[33m", b"\033[34m", b"\033[35m", b"\033[36m")
RESET = b"\033[0m"


def logs(sess: Session, refs: list[str], since: str | None = None, tail: int = -1, follow: bool = False,
         timestamps: bool = False, until: str | None = None, names: bool = False, color: bool = False,
         latest: bool = False) -> Iterator[tuple[str, bytes]]:
    """The containers' output as (``"stdout"`` or ``"stderr"``, bytes to write), in order: the
    records from ``since`` (an RFC 3339 time or a duration like ``10m``) on and before
    ``until``, the last ``tail`` lines of each (-1: all), each prefixed with its time with
    ``timestamps``; with ``follow``, then what they write until they stop or are removed.
    Several containers: each line starts with its container's short id (its
    name with ``names``), and their records are merged by time; ``color`` gives each
    container a color of its own, as podman. A container that does not exist or a bad time
    raise here, before anything is read."""
    from capsa.engine.selecting import select

    if not refs and not latest:
        raise UsageError("specify at least one container name or ID to log", hint="capsa logs CONTAINER, or --latest")
    configs = [c for c, _ in select(sess, refs, latest_=latest)]
    for config in configs:
        if config.extra.get("log_driver") == "none":
            raise UsageError("this container is using the 'none' log driver, cannot read logs: this container is not "
                             "logging output", hint="run it with --log-driver k8s-file (the default) to keep its output")
    cutoff = since_cutoff(since, "--since") if since else None
    end = since_cutoff(until, "--until") if until else None
    prefixes = {}
    for i, config in enumerate(configs):
        prefix = (config.name if names else config.id[:12]).encode() + b" " if len(configs) > 1 else b""
        prefixes[config.id] = (COLORS[i % len(COLORS)] if color else b"", prefix)
    return _read(container_records(sess), configs, cutoff, end, tail, follow, timestamps, prefixes)


def _read(records: ContainerRecords, configs: list[ContainerConfig], cutoff: str | None, end: str | None, tail: int,
          follow: bool, timestamps: bool, prefixes: dict[str, tuple[bytes, bytes]]) -> Iterator[tuple[str, bytes]]:
    import os
    import time

    from capsa.container import logs as logmod
    from capsa.container.stopping import ACTIVE
    from capsa.container.views import effective_status

    def decorate(config_id: str, found: list[LogRecord]) -> Iterator[tuple[str, str, bytes]]:
        color, prefix = prefixes[config_id]
        for r, (stream, text) in zip(found, logmod.render(found, timestamps)):
            if color:
                text = color + prefix + text.rstrip(b"\n") + RESET + b"\n" * text.endswith(b"\n")
            elif prefix:
                text = prefix + text
            yield r.time, stream, text

    offsets = {}
    merged: list[tuple[str, str, bytes]] = []
    for config in configs:
        path = str(records.log_path(config.id))
        found, offsets[config.id] = logmod.read_records(path)
        if cutoff is not None:
            found = [r for r in found if r.time >= cutoff]
        if end is not None:
            found = [r for r in found if r.time <= end]
        if tail >= 0:
            found = last_lines(found, tail)
        merged += decorate(config.id, found)
    if len(configs) > 1:
        merged.sort(key=lambda item: item[0])
    for _, stream, text in merged:
        yield stream, text
    live = list(configs) if follow else []
    while live:
        running = {c.id: effective_status(records, c).status in ACTIVE for c in live}
        time.sleep(FOLLOW_POLL)
        for config in list(live):
            more, offsets[config.id] = logmod.read_records(str(records.log_path(config.id)), offsets[config.id])
            if end is not None:
                more = [r for r in more if r.time <= end]
            for _, stream, text in decorate(config.id, more):
                yield stream, text
            if (not running[config.id] and not more) or not os.path.exists(records.dir(config.id)):
                live.remove(config)


def last_lines(records: list[LogRecord], n: int) -> list[LogRecord]:
    """The records of the last ``n`` lines (a line's partial records count with it)."""
    if n == 0:
        return []
    out: list[LogRecord] = []
    lines = 0
    for r in reversed(records):
        if not r.partial:
            lines += 1
            if lines > n:
                break
        out.append(r)
    return out[::-1]


def since_cutoff(text: str, flag: str = "--since") -> str:
    """A cutoff comparable with the log's timestamps (lexically, all UTC) for ``--since`` or
    ``--until``: Unix seconds, an
    RFC 3339 time, or a duration before now like ``30s``, ``10m`` or ``1.5h``."""
    import datetime
    import re

    m = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m|h)", text.strip())
    now = datetime.datetime.now(datetime.timezone.utc)
    if re.fullmatch(r"\d+(\.\d+)?", text.strip()):
        when = datetime.datetime.fromtimestamp(float(text), datetime.timezone.utc)
    elif m:
        secs = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]
        when = now - datetime.timedelta(seconds=secs)
    else:
        from capsa.humanize import parse_time

        try:
            when = parse_time(text, strict=True).astimezone(datetime.timezone.utc)
        except ValueError:
            raise UsageError(f"invalid {flag} {text!r}", hint="use an RFC 3339 time, Unix seconds or a duration like 10m") from None
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000+00:00"
