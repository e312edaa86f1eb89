"""``ps`` and ``logs``."""
from __future__ import annotations

import sys

from capsa.cli import output
from capsa.cli.context import session

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    from collections.abc import Iterable

    import typer

    from capsa.cli.options import FORMAT_HELP, Annotated, Optional, QuietOpt

PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "Created": "CREATED", "Status": "STATUS",
              "Ports": "PORTS", "Names": "NAMES", "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Pod": "POD ID",
              "PodName": "PODNAME"}
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
    external: Annotated[bool, typer.Option("--external", help="Show containers in storage not controlled by capsa: a build's RUN containers")] = False,
    pod: Annotated[bool, typer.Option("--pod", "-p", help="Print the ID and name of the pod the containers are associated with")] = False,
) -> None:
    """List containers.

    Examples:
      capsa ps -a
      capsa ps -a --format "{{.ID}}  {{.Image}}  {{.Labels}}  {{.Mounts}}"
      capsa ps --filter status=exited
    """
    from capsa.engine.pslisting import listing

    sess = session(ctx)
    rows = listing(sess, all, list(filter or []), external=external)
    if pod:
        _pod_names(sess, rows)
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
    if not no_trunc:
        for r in rows:
            r["Pod"] = r["Pod"][:12]
    output.emit_list(rows, format, PS_TABLE + "\t{{.Pod}}\t{{.PodName}}" * pod, PS_HEADERS, quiet_field="ID", quiet=quiet)


def _pod_names(sess: object, rows: list[dict[str, object]]) -> None:
    """``ps --pod``: each row's PodName (podman fills it only then)."""
    from capsa.engine.session import pod_records

    names = {p.id: p.name for p in pod_records(sess).all()}  # type: ignore[arg-type]
    for r in rows:
        r["PodName"] = names.get(str(r["Pod"]), "")


def logs(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Container name or id")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Follow log output")] = False,
    tail: Annotated[int, typer.Option("--tail", help="Output the specified number of lines at the end of logs (-1: all)")] = -1,
    since: Annotated[Optional[str], typer.Option("--since", help="Show logs since TIMESTAMP (RFC 3339, or a duration like 10m)")] = None,
    timestamps: Annotated[bool, typer.Option("--timestamps", "-t", help="Output the timestamps in the log")] = False,
) -> None:
    """Fetch the logs of a container.

    Examples:
      capsa logs ctrID
      capsa logs --tail 2 mywebserver
      capsa logs --follow=true --since 10m ctrID
    """
    from capsa.engine.logs import logs as read_logs

    _print(read_logs(session(ctx), ref, since=since, tail=tail, follow=follow, timestamps=timestamps))


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
