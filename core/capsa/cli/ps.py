"""``ps`` and ``logs``."""
from __future__ import annotations

import os
import sys
import time
from typing import Annotated, Any, Optional

import typer

from capsa.cli import output
from capsa.cli.options import FORMAT_HELP, QuietOpt
from capsa.cli.context import session
from capsa.engine.session import container_records
from capsa.errors import UsageError

PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "Created": "CREATED", "Status": "STATUS",
              "Ports": "PORTS", "Names": "NAMES", "CreatedAt": "CREATED AT", "RunningFor": "CREATED"}
PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Created}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"


def ps(
    ctx: typer.Context,
    all: Annotated[bool, typer.Option("--all", "-a", help="Show all the containers, default is only running containers")] = False,
    quiet: QuietOpt = False,
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Display the extended information")] = False,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="Filter output based on conditions given")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help=FORMAT_HELP)] = None,
    last: Annotated[int, typer.Option("--last", "-n", help="Print the n last created containers")] = -1,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Show the latest container created")] = False,
) -> None:
    """List containers."""
    from capsa.engine.containers import listing

    rows = listing(session(ctx), all, list(filter or []))
    if latest:
        rows = rows[:1]
    elif last >= 0:
        rows = rows[:last]
    if no_trunc:
        for r in rows:
            r["ID"] = r["Id"]
    elif not format:
        for r in rows:
            r["Command"] = r["Command"] if len(r["Command"]) <= 17 else r["Command"][:17] + "..."
    if format == "json":
        output.emit_one(rows, "json", str)
        return
    output.emit_list(rows, format, PS_TABLE, PS_HEADERS, quiet_field="ID", quiet=quiet)


def logs(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Container name or id")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Follow log output")] = False,
    tail: Annotated[int, typer.Option("--tail", help="Output the specified number of lines at the end of logs (-1: all)")] = -1,
    since: Annotated[Optional[str], typer.Option("--since", help="Show logs since TIMESTAMP (RFC 3339, or a duration like 10m)")] = None,
    timestamps: Annotated[bool, typer.Option("--timestamps", "-t", help="Output the timestamps in the log")] = False,
) -> None:
    """Fetch the logs of a container."""
    from capsa.container import logs as logmod
    from capsa.container.views import effective_status

    sess = session(ctx)
    records = container_records(sess)
    config = records.find(ref)
    path = str(records.log_path(config.id))
    cutoff = _since(since) if since else None
    records_, offset = logmod.read_records(path)
    if cutoff is not None:
        records_ = [r for r in records_ if r.time >= cutoff]
    if tail >= 0:
        records_ = _last_lines(records_, tail)
    _print(logmod.render(records_, timestamps))
    while follow:
        from capsa.container.lifecycle import ACTIVE

        running = effective_status(records, config).status in ACTIVE
        time.sleep(0.05)
        more, offset = logmod.read_records(path, offset)
        _print(logmod.render(more, timestamps))
        if not running and not more:
            break
        if not os.path.exists(records.dir(config.id)):
            break


def _last_lines(records: list[Any], n: int) -> list[Any]:
    if n == 0:
        return []
    out: list[Any] = []
    lines = 0
    for r in reversed(records):
        if not r.partial:
            lines += 1
            if lines > n:
                break
        out.append(r)
    return out[::-1]


def _since(text: str) -> str:
    """A cutoff comparable with the log's timestamps (lexically, all UTC)."""
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


def _print(chunks: Any) -> None:
    for stream, data in chunks:
        target = sys.stdout.buffer if stream == "stdout" else sys.stderr.buffer
        try:
            target.write(data)
            target.flush()
        except BrokenPipeError:
            from capsa.cli.output import OutputClosed

            raise OutputClosed() from None


def register(app: typer.Typer) -> None:
    app.command("ps")(ps)
    app.command("logs")(logs)
    group = next(g.typer_instance for g in app.registered_groups if g.name == "container")
    group.command("ls")(ps)
    group.command("list")(ps)
    group.command("logs")(logs)
