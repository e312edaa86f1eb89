"""Commands on running containers: ``pause``, ``unpause``, ``top`` and ``stats``, also under
``capsa container``."""
from __future__ import annotations

from capsa.cli import output
from capsa.cli.context import Exit, cidfile_ids, session
from capsa.engine import running as engine
from capsa.errors import EXIT_ENGINE, CapsaError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    from collections.abc import Callable
    from typing import Any

    import typer

    from capsa.cli.options import Annotated, ContainersArg, Optional


def _each(ctx: typer.Context, refs: list[str], all_: bool, latest: bool, cidfile: list[str], filters: list[str],
          wanted: str, act: Callable[[Any, Any], None]) -> None:
    """Act on every target, on through them all (as podman): the ids done on stdout, one
    error line each on stderr, exit 125 at the end if one failed."""
    from capsa.cli.container_more import _report

    sess = session(ctx)
    names = list(refs) + cidfile_ids(cidfile)
    configs = engine.targets(sess, names, all_, latest, filters, wanted)
    failed = False
    for i, config in enumerate(configs):
        try:
            act(sess, config)
        except CapsaError as exc:
            _report(exc)
            failed = True
            continue
        output.write(f"{names[i] if names and not latest else config.id}\n")
    if failed:
        raise Exit(EXIT_ENGINE)


def pause(
    ctx: typer.Context,
    refs: ContainersArg = None,
    all: Annotated[bool, typer.Option("--all", "-a", help="Pause all running containers")] = False,
    cidfile: Annotated[Optional[list[str]], typer.Option("--cidfile", help="Read the container ID from the file")] = None,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="Filter what containers pause (ps's filters)")] = None,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
) -> None:
    """Pause all the processes in one or more containers."""
    _each(ctx, list(refs or []), all, latest, list(cidfile or []), list(filter or []), "running", engine.pause)


def unpause(
    ctx: typer.Context,
    refs: ContainersArg = None,
    all: Annotated[bool, typer.Option("--all", "-a", help="Unpause all paused containers")] = False,
    cidfile: Annotated[Optional[list[str]], typer.Option("--cidfile", help="Read the container ID from the file")] = None,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="Filter what containers unpause (ps's filters)")] = None,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
) -> None:
    """Unpause the processes in one or more containers."""
    _each(ctx, list(refs or []), all, latest, list(cidfile or []), list(filter or []), "paused", engine.unpause)


# -- stats ----------------------------------------------------------------------------------------

STATS_HEADERS = {"ID": "ID", "Name": "NAME", "UpTime": "CPU TIME", "CPUPerc": "CPU %", "AVGCPU": "Avg CPU %",
                 "MemUsage": "MEM USAGE / LIMIT", "MemUsageBytes": "MEM USAGE / LIMIT", "MemPerc": "MEM %",
                 "NetIO": "NET IO", "BlockIO": "BLOCK IO", "PIDS": "PIDS"}
STATS_TABLE = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}"
               "\t{{.PIDS}}\t{{.UpTime}}\t{{.AVGCPU}}")
CLEAR = "\033[2J\033[1;1H"  # what podman's goterm Clear() and MoveCursor(1, 1) print


def _percent(value: float) -> str:
    return f"{value:.2f}%"


def stats_row(now: dict[str, Any], before: dict[str, Any] | None, no_trunc: bool) -> dict[str, Any]:
    """podman's ContainerStats of one reading, with its template fields (strings as podman
    prints them, numbers for the raw ones). CPU % is the share of one CPU used since the
    previous reading (the first time: since the start), as podman computes it."""
    from capsa.humanize import go_bytes_size, go_duration, go_human_size

    def share(cpu_before: int, time_before: int) -> float:
        cpu, elapsed = now["cpu_ns"] - cpu_before, now["now"] - time_before
        return cpu / elapsed * 100 if cpu > 0 and elapsed > 0 else 0.0

    prev = before or {"cpu_ns": 0, "now": now["started"]}
    cpu, avg = share(prev["cpu_ns"], prev["now"]), share(0, now["started"])
    usage, limit = now["memory_usage"], now["memory_limit"]
    mem_perc = usage / limit * 100 if limit else 0.0
    net_in, net_out = now["net"] if now["net"] is not None else (0, 0)
    return {
        "ID": now["id"] if no_trunc else now["id"][:12], "ContainerID": now["id"], "Name": now["name"],
        "CPU": cpu, "CPUPerc": _percent(cpu), "AvgCPU": avg, "AVGCPU": _percent(avg),
        "CPUNano": now["cpu_ns"], "CPUSystemNano": now["cpu_system_ns"], "SystemNano": now["now"],
        "Duration": now["cpu_ns"], "UpTime": go_duration(now["cpu_ns"]), "Up": go_duration(now["cpu_ns"]),
        "MemUsage": f"{go_human_size(usage)} / {go_human_size(limit)}",
        "MemUsageBytes": f"{go_bytes_size(usage)} / {go_bytes_size(limit)}", "MemLimit": limit,
        "MemPerc": _percent(mem_perc),
        "NetIO": f"{go_human_size(net_in)} / {go_human_size(net_out)}" if now["net"] is not None else "-- / --",
        "NetInput": net_in, "NetOutput": net_out,
        "BlockIO": f"{go_human_size(now['block_read'])} / {go_human_size(now['block_write'])}",
        "BlockInput": now["block_read"], "BlockOutput": now["block_write"],
        "PIDS": str(now["pids"]), "PIDs": now["pids"], "PerCPU": [],
    }


def _stats_text(rows: list[dict[str, Any]], format: str | None) -> str:
    if format is not None and format.strip() in ("json", "{{json .}}"):
        import json

        keys = (("id", "ID"), ("name", "Name"), ("cpu_time", "UpTime"), ("cpu_percent", "CPUPerc"),
                ("avg_cpu", "AVGCPU"), ("mem_usage", "MemUsage"), ("mem_percent", "MemPerc"),
                ("net_io", "NetIO"), ("block_io", "BlockIO"), ("pids", "PIDS"))
        return json.dumps([{k: row[f] for k, f in keys} for row in rows], indent=1, ensure_ascii=False) + "\n"
    fmt = STATS_TABLE if not format or format.strip() == "table" else format
    from capsa.fastpath.table import format_simple

    simple = format_simple(fmt, rows, STATS_HEADERS)  # (the default table: no template engine to load)
    if simple is not None:
        return simple
    from capsa.formatting import TemplateError, format_items

    try:
        return format_items(fmt, rows, STATS_HEADERS)
    except TemplateError as exc:
        raise UsageError(str(exc), hint="see docs/cli.md for the --format syntax") from None


def stats(
    ctx: typer.Context,
    refs: ContainersArg = None,
    all: Annotated[bool, typer.Option("--all", "-a", help="Show all containers (only running ones have counters)")] = False,
    format: Annotated[Optional[str], typer.Option("--format", help="Pretty-print container statistics to JSON or using a Go template")] = None,
    interval: Annotated[int, typer.Option("--interval", "-i", help="Time in seconds between stats reports")] = 5,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
    no_reset: Annotated[bool, typer.Option("--no-reset", help="Disable resetting the screen between intervals")] = False,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="Disable streaming stats and only pull the first result")] = False,
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Do not truncate output")] = False,
) -> None:
    """Display a live stream of container resource usage statistics (ctrl-c ends it)."""
    import time

    if interval < 1:
        raise UsageError(f"invalid --interval {interval}: it must be at least 1 second", hint="e.g. --interval 5")
    sess = session(ctx)
    configs = engine.stats_targets(sess, list(refs or []), all, latest)
    before: dict[str, dict[str, Any]] = {}
    import signal

    # ctrl-c ends the stream (exit 0), even in a process born ignoring SIGINT (a background job)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while True:
            readings = engine.stats_sample(sess, configs)
            rows = [stats_row(r, before.get(r["id"]), no_trunc) for r in readings]
            before = {r["id"]: r for r in readings}
            text = _stats_text(rows, format)
            output.write(text if no_stream or no_reset else CLEAR + text)
            if no_stream:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return
    finally:
        signal.signal(signal.SIGINT, previous)


# -- top ------------------------------------------------------------------------------------------

def top(
    ctx: typer.Context,
    args: Annotated[Optional[list[str]], typer.Argument(help="CONTAINER, then format descriptors (or ps(1) output options)")] = None,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
    list_descriptors: Annotated[bool, typer.Option("--list-descriptors", help="List the supported format descriptors")] = False,
) -> None:
    """Display the running processes of a container."""
    from capsa.engine import containers as base
    if list_descriptors:
        output.write("".join(f"{d}\n" for d in engine.top_descriptors()))
        return
    words = list(args or [])
    if not latest and not words:
        raise UsageError("you must provide the name or ID of a running container", hint="capsa top CONTAINER [descriptors...]")
    sess = session(ctx)
    try:
        (config,) = base.find(sess, None if latest else words[:1], latest=latest) or [None]
    except CapsaError as exc:  # (podman's words)
        raise CapsaError(f"unable to look up requested container: {exc.message}", hint=exc.hint) from None
    if config is None:
        raise UsageError("no containers to list processes of", hint="create and start one first")
    result = engine.top(sess, config, words if latest else words[1:])
    if isinstance(result, str):
        output.write(result)
        return
    from capsa.fastpath.table import tabwrite

    output.write(tabwrite("".join("\t".join(row) + "\n" for row in result)))


def register(app: typer.Typer) -> None:
    group = next(g.typer_instance for g in app.registered_groups if g.name == "container")
    for target in (app, group):
        target.command("pause")(pause)
        target.command("unpause")(unpause)
        target.command("stats")(stats)
        target.command("top", context_settings={"allow_interspersed_args": False})(top)
