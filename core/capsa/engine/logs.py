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


def logs(sess: Session, ref: str, since: str | None = None, tail: int = -1, follow: bool = False,
         timestamps: bool = False) -> Iterator[tuple[str, bytes]]:
    """The container's output as (``"stdout"`` or ``"stderr"``, bytes to write), in order: the
    records from ``since`` (an RFC 3339 time or a duration like ``10m``) on, the last ``tail``
    lines of them (-1: all), each prefixed with its time with ``timestamps``; with ``follow``,
    then what it writes until it stops or is removed. A container that does not exist or a bad
    ``since`` raise here, before anything is read."""
    records = container_records(sess)
    config = records.find(ref)
    if config.extra.get("log_driver") == "none":
        from capsa.errors import UsageError

        raise UsageError("this container is using the 'none' log driver, cannot read logs: this container is not "
                         "logging output", hint="run it with --log-driver k8s-file (the default) to keep its output")
    cutoff = since_cutoff(since) if since else None
    return _read(records, config, cutoff, tail, follow, timestamps)


def _read(records: ContainerRecords, config: ContainerConfig, cutoff: str | None, tail: int, follow: bool,
          timestamps: bool) -> Iterator[tuple[str, bytes]]:
    import os
    import time

    from capsa.container import logs as logmod
    from capsa.container.stopping import ACTIVE
    from capsa.container.views import effective_status

    path = str(records.log_path(config.id))
    found, offset = logmod.read_records(path)
    if cutoff is not None:
        found = [r for r in found if r.time >= cutoff]
    if tail >= 0:
        found = last_lines(found, tail)
    yield from logmod.render(found, timestamps)
    while follow:
        running = effective_status(records, config).status in ACTIVE
        time.sleep(FOLLOW_POLL)
        more, offset = logmod.read_records(path, offset)
        yield from logmod.render(more, timestamps)
        if not running and not more:
            break
        if not os.path.exists(records.dir(config.id)):
            break


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


def since_cutoff(text: str) -> str:
    """A cutoff comparable with the log's timestamps (lexically, all UTC) for ``--since``: an
    RFC 3339 time, or a duration before now like ``30s``, ``10m`` or ``1.5h``."""
    import datetime
    import re

    m = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m|h)", text.strip())
    now = datetime.datetime.now(datetime.timezone.utc)
    if m:
        secs = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]
        when = now - datetime.timedelta(seconds=secs)
    else:
        from capsa.humanize import parse_time

        try:
            when = parse_time(text, strict=True).astimezone(datetime.timezone.utc)
        except ValueError:
            raise UsageError(f"invalid --since {text!r}", hint="use an RFC 3339 time or a duration like 10m") from None
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000+00:00"
