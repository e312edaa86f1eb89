"""``ps`` and ``logs``."""
from __future__ import annotations

import sys

from capsa.cli import output
from capsa.cli.context import session
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    from collections.abc import Iterable

    import typer

    from capsa.cli.options import FORMAT_HELP, Annotated, Optional, QuietOpt

PS_HEADERS = {"SizeText": "SIZE", "Size": "SIZE", "CGROUPNS": "CGROUPNS", "IPC": "IPC", "MNT": "MNT", "NET": "NET",
              "PIDNS": "PIDNS", "USERNS": "USERNS", "UTS": "UTS", "Pid": "PID", "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "Created": "CREATED", "Status": "STATUS",
              "Ports": "PORTS", "Names": "NAMES", "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Pod": "POD ID",
              "PodName": "PODNAME"}
PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Created}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"


PS_SORT = ("command", "created", "id", "image", "names", "runningfor", "size", "status")
NS_TABLE = "table {{.ID}}\t{{.Names}}\t{{.Pid}}\t{{.CGROUPNS}}\t{{.IPC}}\t{{.MNT}}\t{{.NET}}\t{{.PIDNS}}\t{{.USERNS}}\t{{.UTS}}"


def ps(
    ctx: typer.Context,
    all: Annotated[bool, typer.Option("--all", "-a", help="Show all the containers, default is only running containers")] = False,
    quiet: QuietOpt = False,
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Display the extended information")] = False,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="Filter output based on conditions given")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help=FORMAT_HELP)] = None,
    last: Annotated[int, typer.Option("--last", "-n", help="Print the n last created containers (all states)")] = -1,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Show the latest container created (all states)")] = False,
    external: Annotated[bool, typer.Option("--external", help="Show containers in storage not controlled by capsa: a build's RUN containers")] = False,
    pod: Annotated[bool, typer.Option("--pod", "-p", help="Print the ID and name of the pod the containers are associated with")] = False,
    noheading: Annotated[bool, typer.Option("--noheading", help="Do not print headers")] = False,
    sort: Annotated[str, typer.Option("--sort", help="Sort output by: command, created, id, image, names, runningfor, size, status")] = "created",
    size: Annotated[bool, typer.Option("--size", "-s", help="Display the total file sizes")] = False,
    namespace: Annotated[bool, typer.Option("--namespace", "--ns", help="Display namespace information")] = False,
    sync: Annotated[bool, typer.Option("--sync", help="Sync container state with the runtime (capsa's records always are)")] = False,
    watch: Annotated[int, typer.Option("--watch", "-w", help="Watch the ps output on an interval in seconds")] = 0,
) -> None:
    """List containers.

    Examples:
      capsa ps -a
      capsa ps -a --format "{{.ID}}  {{.Image}}  {{.Labels}}  {{.Mounts}}"
      capsa ps --filter status=exited
    """
    if sort not in PS_SORT:
        raise UsageError(f'invalid argument "{sort}" for "--sort" flag: "{sort}" is not a valid value.  '
                         f'Choose from: "{", ".join(PS_SORT)}"', hint="capsa ps --sort names")
    if watch < 0:
        raise UsageError("watch must be greater than 0", hint="capsa ps --watch 2")
    if quiet or (format or "").strip() == "json":
        watch = 0  # (once, as podman)
    while True:
        if watch:
            output.write("\033[2J\033[1;1H")  # (podman's screen clear, as stats)
        _ps_emit(ctx, all or latest or last >= 0, quiet, no_trunc, list(filter or []), format, last, latest,
                 external, pod, noheading, sort, size, namespace)
        if not watch:
            return
        import time

        try:
            time.sleep(watch)
        except KeyboardInterrupt:
            return


def _ps_emit(ctx: typer.Context, all: bool, quiet: bool, no_trunc: bool, filters: list[str], format: str | None,
             last: int, latest: bool, external: bool, pod: bool, noheading: bool, sort: str, size: bool,
             namespace: bool) -> None:
    """Print one ``ps`` listing."""
    from capsa.engine.pslisting import add_namespaces, add_sizes, listing

    sess = session(ctx)
    rows = listing(sess, all, filters, external=external)
    if pod:
        _pod_names(sess, rows)
    if latest:
        rows = rows[:1]
    elif last >= 0:
        rows = rows[:last]
    if size or sort == "size" or (format and ".Size" in format):  # (a walk of each layer: only when asked)
        add_sizes(sess, rows)
    if namespace or (format and any(f".{n}" in format for n in ("CGROUPNS", "IPC", "MNT", "NET", "PIDNS", "USERNS", "UTS"))):
        add_namespaces(rows)
    if sort != "created":
        key = {"command": "Command", "id": "Id", "image": "Image", "names": "Names", "status": "Status"}.get(sort)
        if key:
            rows.sort(key=lambda r: str(r[key]))
        elif sort == "runningfor":
            rows.sort(key=lambda r: str(r["CreatedAt"]), reverse=True)
        else:
            rows.sort(key=lambda r: r["Size"]["rootFsSize"])
    if no_trunc:
        for r in rows:
            r["ID"] = r["Id"]
    elif not format:
        for r in rows:
            r["Command"] = r["Command"] if len(r["Command"]) <= 17 else r["Command"][:17] + "..."
    if format is not None and format.strip() == "json":
        from capsa.engine.pslisting import json_rows

        output.emit_one(json_rows(rows), "json", str)
        return
    if format and ".State" in format:
        from capsa.engine.pslisting import template_states

        template_states(rows)
    if not no_trunc:
        for r in rows:
            r["Pod"] = r["Pod"][:12]
    table = NS_TABLE if namespace else PS_TABLE + "\t{{.Pod}}\t{{.PodName}}" * pod + "\t{{.SizeText}}" * size
    output.emit_list(rows, format, table, PS_HEADERS, quiet_field="ID", quiet=quiet, noheading=noheading)


def _pod_names(sess: object, rows: list[dict[str, object]]) -> None:
    """``ps --pod``: each row's PodName (podman fills it only then)."""
    from capsa.engine.session import pod_records

    names = {p.id: p.name for p in pod_records(sess).all()}  # type: ignore[arg-type]
    for r in rows:
        r["PodName"] = names.get(str(r["Pod"]), "")


def logs(
    ctx: typer.Context,
    refs: Annotated[Optional[list[str]], typer.Argument(help="Containers by name or id")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Follow log output")] = False,
    tail: Annotated[int, typer.Option("--tail", help="Output the specified number of lines at the end of logs (-1: all)")] = -1,
    since: Annotated[Optional[str], typer.Option("--since", help="Show logs since TIMESTAMP (RFC 3339, Unix seconds, or a duration like 10m)")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Show logs until TIMESTAMP (RFC 3339, Unix seconds, or a duration like 10m)")] = None,
    timestamps: Annotated[bool, typer.Option("--timestamps", "-t", help="Output the timestamps in the log")] = False,
    names: Annotated[bool, typer.Option("--names", "-n", help="Output the container names instead of the container IDs in the log")] = False,
    color: Annotated[bool, typer.Option("--color", help="Output the containers with different colors in the log")] = False,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
) -> None:
    """Fetch the logs of one or more containers.

    Examples:
      capsa logs ctrID
      capsa logs --tail 2 mywebserver
      capsa logs --follow=true --since 10m ctrID
    """
    from capsa.engine.logs import logs as read_logs

    _print(read_logs(session(ctx), list(refs or []), since=since, tail=tail, follow=follow, timestamps=timestamps,
                     until=until, names=names, color=color, latest=latest))


def _print(chunks: Iterable[tuple[str, bytes]]) -> None:
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
