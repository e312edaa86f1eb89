"""``volume create|ls|inspect|rm|prune``."""
from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from capsa.cli import output
from capsa.cli.output import FormatOpt, QuietOpt
from capsa.cli.state import session
from capsa.errors import CapsaError, UsageError


def _store(ctx: typer.Context) -> Any:
    from capsa.container.volumes import VolumeStore

    return VolumeStore(session(ctx).config.root)


def _users(ctx: typer.Context) -> dict[str, list[str]]:
    """Volume name -> names of the containers that mount it."""
    from capsa.cli.containers import records_of

    users: dict[str, list[str]] = {}
    for config in records_of(session(ctx)).all():
        for m in config.mounts:
            if m.type == "volume":
                users.setdefault(m.source, []).append(config.name)
    return users


def create(
    ctx: typer.Context,
    name: Annotated[Optional[str], typer.Argument(help="Volume name (default: a random id)")] = None,
    label: Annotated[Optional[list[str]], typer.Option("--label", "-l", help="Set metadata for a volume")] = None,
    opt: Annotated[Optional[list[str]], typer.Option("--opt", "-o", help="Driver options")] = None,
    ignore: Annotated[bool, typer.Option("--ignore", help="Do not fail if the volume already exists")] = False,
) -> None:
    """Create a new volume."""
    from capsa.container.flags import parse_labels

    record = _store(ctx).create(name, parse_labels(label or []), parse_labels(opt or []), exist_ok=ignore)
    output.write(f"{record['Name']}\n")


def ls(ctx: typer.Context, quiet: QuietOpt = False, format: FormatOpt = None,
       filter: Annotated[Optional[list[str]], typer.Option("--filter", help="name=, label=, dangling=true|false")] = None) -> None:
    """List volumes."""
    records = _store(ctx).all()
    users = _users(ctx)
    for spec in filter or []:
        key, _, value = spec.partition("=")
        if key == "name":
            records = [r for r in records if value in r["Name"]]
        elif key == "label":
            lk, lsep, lv = value.partition("=")
            records = [r for r in records if lk in r["Labels"] and (not lsep or r["Labels"][lk] == lv)]
        elif key == "dangling":
            records = [r for r in records if (r["Name"] not in users) == (value == "true")]
        else:
            raise UsageError(f"invalid filter key {key!r}", hint="supported: name, label, dangling")
    if format == "json":
        output.emit_one(records, "json", str)
        return
    output.emit_list(records, format, "table {{.Driver}}\t{{.Name}}", {"Driver": "DRIVER", "Name": "VOLUME NAME"},
                     quiet_field="Name", quiet=quiet)


def inspect(ctx: typer.Context, names: Annotated[list[str], typer.Argument(help="Volumes")], format: FormatOpt = None) -> None:
    """Display detailed information on one or more volumes."""
    store = _store(ctx)
    docs = [store.record(n) for n in names]
    if format and format != "json":
        for doc in docs:
            output.emit_one(doc, format, str)
    else:
        output.emit_one(docs, "json", str)


def rm(ctx: typer.Context, names: Annotated[Optional[list[str]], typer.Argument(help="Volumes")] = None,
       force: Annotated[bool, typer.Option("--force", "-f", help="Remove the volume even when containers use it: they are removed first")] = False,
       all: Annotated[bool, typer.Option("--all", "-a", help="Remove all volumes")] = False) -> None:
    """Remove one or more volumes."""
    store = _store(ctx)
    users = _users(ctx)
    targets = [r["Name"] for r in store.all()] if all else list(names or [])
    if not targets and not all:
        raise UsageError("give at least one volume name", hint="or use --all")
    for name in targets:
        store.record(name)
        if users.get(name) and not force:
            raise CapsaError(f"volume {name} is being used by the following container(s): {', '.join(users[name])}",
                             hint="remove the containers first, or use --force", exit_code=2)
    if force and any(users.get(n) for n in targets):  # as podman: the containers using them go first
        _remove_users(ctx, set(targets))
    for name in targets:
        store.remove(name)
    output.write("".join(f"{n}\n" for n in targets))


def _remove_users(ctx: typer.Context, names: set[str]) -> None:
    """Stop (SIGKILL) and remove the containers that mount any of the volumes ``names``."""
    from capsa.cli.containers import records_of
    from capsa.cli.state import open_store
    from capsa.container import lifecycle

    sess = session(ctx)
    store, records = open_store(sess), records_of(sess)
    for config in records.all():
        if not any(m.type == "volume" and m.source in names for m in config.mounts):
            continue
        lifecycle.remove(sess, store, records, config, force=True, timeout=0)


def prune(ctx: typer.Context, force: Annotated[bool, typer.Option("--force", "-f", help="Do not prompt")] = False) -> None:
    """Remove all volumes no container uses."""
    import sys

    if not force:
        sys.stderr.write("WARNING! This will remove all volumes not used by at least one container.\n"
                         "Are you sure you want to continue? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return
    store = _store(ctx)
    users = _users(ctx)
    gone = [r["Name"] for r in store.all() if r["Name"] not in users]
    for name in gone:
        store.remove(name)
    output.write("".join(f"{n}\n" for n in gone))


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Manage volumes", no_args_is_help=True)
    for name, fn in (("create", create), ("ls", ls), ("list", ls), ("inspect", inspect), ("rm", rm), ("prune", prune)):
        group.command(name)(fn)
    app.add_typer(group, name="volume")
