"""A pod's life on the ``pod`` group (made by capsa.cli.pods): ``pod ps`` (``ls``, ``list``),
``inspect``, ``start``, ``stop``, ``restart``, ``kill``, ``pause``, ``unpause``, ``top``,
``logs``, ``exists`` and ``prune``, with podman 4.3's flags, output and errors (see
docs/pod-commands.md)."""
from __future__ import annotations

import sys

from capsa.cli import output
from capsa.cli.context import Exit, session
from capsa.engine import podlife as engine
from capsa.errors import EXIT_ENGINE, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    from collections.abc import Callable
    from typing import Any

    import typer

    from capsa.cli.options import Annotated, Optional
    from capsa.pod.model import PodConfig


PS_HEADERS = {"ID": "POD ID", "Id": "POD ID", "Name": "NAME", "Status": "STATUS", "Labels": "LABELS",
              "NumberOfContainers": "# OF CONTAINERS", "Created": "CREATED", "InfraID": "INFRA ID",
              "InfraId": "INFRA ID", "ContainerIds": "IDS", "ContainerNames": "NAMES", "ContainerStatuses": "STATUS",
              "Cgroup": "CGROUP", "Namespace": "NAMESPACES", "Networks": "NETWORKS", "CreatedAt": "CREATED AT"}


def _finish(pods: list[PodConfig], results: list[list[str] | None], warnings: list[str] | None = None) -> None:
    """podman's report of a pod action: each pod's id when it went well (nothing for a pod
    skipped: None), else its errors; every error but the last as ``Error: ...`` lines, the last
    one too, then exit 125."""
    for warning in warnings or []:
        output.warn(warning)
    errors = []
    lines = []
    for pod, result in zip(pods, results):
        if result is None:
            continue
        if result:
            errors += result
        else:
            lines.append(f"{pod.id}\n")
    output.write("".join(lines))
    if errors:
        for error in errors:
            print(f"Error: {error}", file=sys.stderr)
        raise Exit(EXIT_ENGINE)


def _pods(ctx: typer.Context, refs: list[str] | None, all_: bool, latest: bool, id_files: list[str] | None = None,
          ignore: bool = False) -> list[PodConfig]:
    names = list(refs or [])
    engine.check_targets(names, all_, latest, bool(id_files))
    return engine.targets(session(ctx), names + engine.read_id_files(list(id_files or [])), all_, latest, ignore)


def _each(ctx: typer.Context, pods: list[PodConfig], act: Callable[[Any, PodConfig], list[str] | None]) -> None:
    sess = session(ctx)
    _finish(pods, [act(sess, pod) for pod in pods])


# -- ps -------------------------------------------------------------------------------------------

def ps_table(ctr_ids: bool, ctr_names: bool, ctr_status: bool, ns: bool) -> str:
    """podman's default ``pod ps`` columns for these flags."""
    row = ["{{.Id}}", "{{.Name}}", "{{.Status}}", "{{.Created}}", "{{.InfraId}}"]
    row += ["{{.ContainerIds}}"] * ctr_ids + ["{{.ContainerNames}}"] * ctr_names + ["{{.ContainerStatuses}}"] * ctr_status
    row += ["{{.Cgroup}}", "{{.Namespace}}"] if ns else []
    row += [] if ctr_ids or ctr_names or ctr_status else ["{{.NumberOfContainers}}"]
    return "table " + "\t".join(row)


def ps(
    ctx: typer.Context,
    ctr_ids: Annotated[bool, typer.Option("--ctr-ids", help="Display the container UUIDs. If no-trunc is not set they will be truncated")] = False,
    ctr_names: Annotated[bool, typer.Option("--ctr-names", help="Display the container names")] = False,
    ctr_status: Annotated[bool, typer.Option("--ctr-status", help="Display the container status")] = False,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="Filter output based on conditions given")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help="Pretty-print pods to JSON or using a Go template")] = None,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest pod capsa is aware of")] = False,
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Do not truncate pod and container IDs")] = False,
    noheading: Annotated[bool, typer.Option("--noheading", "-n", help="Do not print headers")] = False,
    ns: Annotated[bool, typer.Option("--ns", "--namespace", help="Display namespace information of the pod")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print the numeric IDs of the pods only")] = False,
    sort: Annotated[str, typer.Option("--sort", help="Sort output by created, id, name, or number")] = "created",
) -> None:
    """List pods."""
    if quiet and format:
        raise UsageError("quiet and format cannot be used together", hint="use one of them")
    reports = engine.listing(session(ctx), list(filter or []), latest, sort)
    if format is not None and format.strip() in ("json", "{{json .}}"):
        from capsa.formatting import to_json

        output.write(to_json(reports, indent=2) + "\n")
        return
    if quiet:
        output.write("".join(f"{r['Id']}\n" for r in reports))
        return
    rows = engine.ps_rows(reports, no_trunc)
    fmt = format if format and format.strip() != "table" else ps_table(ctr_ids, ctr_names, ctr_status, ns)
    if noheading and fmt.startswith("table "):
        output.write(output.headless(rows, fmt))
        return
    output.emit_list(rows, fmt, fmt, PS_HEADERS)


# -- inspect --------------------------------------------------------------------------------------

def inspect(
    ctx: typer.Context,
    refs: Annotated[Optional[list[str]], typer.Argument(help="Pods by name or id", show_default=False)] = None,
    format: Annotated[Optional[str], typer.Option("--format", "-f", help="Format the output to a Go template or json")] = "json",
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest pod capsa is aware of")] = False,
) -> None:
    """Display a pod configuration."""
    from capsa.errors import CapsaError

    names = list(refs or [])
    if latest and names:
        raise UsageError("--latest and arguments cannot be used together", hint="leave out the pods, or --latest")
    if not latest and not names:
        raise UsageError("no names or ids specified", hint="capsa pod inspect POD [POD...]")
    docs, missing = engine.documents(session(ctx), names, latest)
    if format and format.strip() not in ("json", "{{json .}}"):
        for doc in docs:
            output.emit_one(doc, format, str)
    else:
        import json  # (podman 4.3: one pod is an object, several a list; five spaces of indent)

        output.write(json.dumps(docs[0] if len(docs) == 1 else docs, indent=5, ensure_ascii=False) + "\n")
    if missing:
        raise CapsaError(f"inspecting object: no such pod {missing[0]}", hint="see 'capsa pod ps'")


# -- start, stop, restart, kill, pause, unpause ---------------------------------------------------

def start(
    ctx: typer.Context,
    refs: Annotated[Optional[list[str]], typer.Argument(help="Pods by name or id", show_default=False)] = None,
    all: Annotated[bool, typer.Option("--all", "-a", help="Start all pods")] = False,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest pod capsa is aware of")] = False,
    pod_id_file: Annotated[Optional[list[str]], typer.Option("--pod-id-file", help="Read the pod ID from the file")] = None,
) -> None:
    """Start one or more pods: the infra container first, then the others."""
    _each(ctx, _pods(ctx, refs, all, latest, pod_id_file), engine.start)


def stop(
    ctx: typer.Context,
    refs: Annotated[Optional[list[str]], typer.Argument(help="Pods by name or id", show_default=False)] = None,
    all: Annotated[bool, typer.Option("--all", "-a", help="Stop all running pods")] = False,
    ignore: Annotated[bool, typer.Option("--ignore", "-i", help="Ignore errors when a specified pod is missing")] = False,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest pod capsa is aware of")] = False,
    pod_id_file: Annotated[Optional[list[str]], typer.Option("--pod-id-file", help="Read the pod ID from the file")] = None,
    time_: Annotated[Optional[int], typer.Option("--time", "-t", help="Seconds to wait for pod stop before killing the container")] = None,
) -> None:
    """Stop one or more pods: their running containers, the infra last."""
    if time_ is not None and time_ < 0:
        raise UsageError(f'invalid argument "{time_}" for "-t, --time" flag: strconv.ParseUint: parsing "{time_}": invalid syntax',
                         hint="give a number of seconds, 0 or more")
    pods = _pods(ctx, refs, all, latest, pod_id_file, ignore)
    sess = session(ctx)
    results, warnings = [], []
    for pod in pods:
        errors, warned = engine.stop(sess, pod, time_)
        results.append(errors)
        warnings += warned
    _finish(pods, results, warnings)


def restart(
    ctx: typer.Context,
    refs: Annotated[Optional[list[str]], typer.Argument(help="Pods by name or id", show_default=False)] = None,
    all: Annotated[bool, typer.Option("--all", "-a", help="Restart all pods")] = False,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest pod capsa is aware of")] = False,
) -> None:
    """Restart one or more pods: stop their running containers, then start them all."""
    pods = _pods(ctx, refs, all, latest)
    sess = session(ctx)
    results, warnings = [], []
    for pod in pods:
        errors, warned = engine.restart(sess, pod)
        results.append(errors)
        warnings += warned
    _finish(pods, results, warnings)


def kill(
    ctx: typer.Context,
    refs: Annotated[Optional[list[str]], typer.Argument(help="Pods by name or id", show_default=False)] = None,
    all: Annotated[bool, typer.Option("--all", "-a", help="Kill all containers in all pods")] = False,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest pod capsa is aware of")] = False,
    signal: Annotated[str, typer.Option("--signal", "-s", help="Signal to send to the containers in the pod")] = "KILL",
) -> None:
    """Send the specified signal or SIGKILL to the containers of pods."""
    try:
        engine.check_signal(signal)
    except UsageError:
        raise UsageError(f"invalid signal: {signal}", hint="a signal name (TERM, SIGHUP...) or number") from None
    pods = _pods(ctx, refs, all, latest)
    _each(ctx, pods, lambda sess, pod: engine.kill(sess, pod, signal))


def pause(
    ctx: typer.Context,
    refs: Annotated[Optional[list[str]], typer.Argument(help="Pods by name or id", show_default=False)] = None,
    all: Annotated[bool, typer.Option("--all", "-a", help="Pause all running pods")] = False,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest pod capsa is aware of")] = False,
) -> None:
    """Pause one or more pods: freeze their running containers."""
    _each(ctx, _pods(ctx, refs, all, latest), engine.pause)


def unpause(
    ctx: typer.Context,
    refs: Annotated[Optional[list[str]], typer.Argument(help="Pods by name or id", show_default=False)] = None,
    all: Annotated[bool, typer.Option("--all", "-a", help="Unpause all paused pods")] = False,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest pod capsa is aware of")] = False,
) -> None:
    """Unpause one or more pods: thaw their paused containers."""
    _each(ctx, _pods(ctx, refs, all, latest), engine.unpause)


# -- top, logs, exists, prune ---------------------------------------------------------------------

def top(
    ctx: typer.Context,
    args: Annotated[Optional[list[str]], typer.Argument(help="POD, then format descriptors")] = None,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest pod capsa is aware of")] = False,
) -> None:
    """Display the running processes of the containers in a pod."""
    words = list(args or [])
    if not latest and not words:
        raise UsageError("you must provide the name or id of a running pod", hint="capsa pod top POD [descriptors...]")
    sess = session(ctx)
    try:
        pod = engine.latest(sess) if latest else engine.targets(sess, words[:1])[0]
    except engine.PodNotFound as exc:  # (podman 4.3's words for pod top)
        raise engine.PodNotFound(f"unable to look up requested container: {exc.message}", hint=exc.hint) from None
    rows = engine.top(sess, pod, words if latest else words[1:])
    if rows:
        from capsa.fastpath.table import tabwrite

        output.write(tabwrite("".join("\t".join(row) + "\n" for row in rows)))


def logs(
    ctx: typer.Context,
    ref: Annotated[Optional[str], typer.Argument(help="Pod name or id", show_default=False)] = None,
    container: Annotated[Optional[str], typer.Option("--container", "-c", help="Filter logs by container name or id which belongs to pod")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Follow log output")] = False,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest pod capsa is aware of")] = False,
    names: Annotated[bool, typer.Option("--names", "-n", help="Output container names instead of container IDs in the log")] = False,
    since: Annotated[Optional[str], typer.Option("--since", help="Show logs since TIMESTAMP")] = None,
    tail: Annotated[int, typer.Option("--tail", help="Output the specified number of LINES at the end of the logs (-1: all)")] = -1,
    timestamps: Annotated[bool, typer.Option("--timestamps", "-t", help="Output the timestamps in the log")] = False,
    until: Annotated[Optional[str], typer.Option("--until", help="Show logs until TIMESTAMP")] = None,
) -> None:
    """Fetch logs for a pod with one or more containers."""
    if latest and ref:
        raise UsageError("--latest and pods cannot be used together", hint="leave out the pod, or --latest")
    if not latest and not ref:
        raise UsageError("specify at least one pod name or ID to log", hint="capsa pod logs POD")
    sess = session(ctx)
    pod = engine.latest(sess) if latest else engine.targets(sess, [ref or ""])[0]
    from capsa.cli.ps import _print

    _print(engine.logs(sess, pod, ref or pod.id, container or "", since=since, until=until, tail=tail, follow=follow,
                       timestamps=timestamps, names=names))


def exists(ctx: typer.Context, ref: Annotated[str, typer.Argument(help="Pod name or id")]) -> None:
    """Check if a pod exists: exit 0 if it does, 1 if not."""
    try:
        engine.targets(session(ctx), [ref])
    except engine.PodNotFound:
        raise Exit(1) from None


def prune(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not prompt for confirmation")] = False,
) -> None:
    """Remove all stopped pods and their containers."""
    if not force:
        output.write("WARNING! This will remove all stopped/exited pods..\nAre you sure you want to continue? [y/N] ")
        answer = sys.stdin.readline()
        if not answer.strip().lower().startswith("y"):
            return
    results = engine.prune(session(ctx))
    output.write("".join(f"{pod_id}\n" for pod_id, error in results if error is None))
    errors = [error for _, error in results if error is not None]
    if errors:
        for error in errors:
            print(f"Error: {error}", file=sys.stderr)
        raise Exit(EXIT_ENGINE)


def register(app: typer.Typer) -> None:
    group = next(g.typer_instance for g in app.registered_groups if g.name == "pod")
    for name in ("ps", "ls", "list"):
        group.command(name)(ps)
    for name, fn in (("inspect", inspect), ("start", start), ("stop", stop), ("restart", restart), ("kill", kill),
                     ("pause", pause), ("unpause", unpause), ("logs", logs), ("exists", exists), ("prune", prune)):
        group.command(name)(fn)
    group.command("top", context_settings={"allow_interspersed_args": False})(top)
