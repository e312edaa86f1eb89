"""``capsa info``, ``capsa version`` and the ``capsa system`` group (``info``, ``check``, ``df``,
``prune``, ``reset``): parse, call :mod:`capsa.engine.system` or :mod:`capsa.engine.leftovers`,
print."""
from __future__ import annotations

import sys

from capsa.cli import output
from capsa.cli.context import session
from capsa.engine import system as engine
from capsa.errors import CapsaError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    from typing import Any

    import typer

    from capsa.cli.options import Annotated, FormatOpt, Optional


def info(ctx: typer.Context, format: FormatOpt = None) -> None:
    """Display capsa related system information."""
    output.emit_one(engine.info_data(session(ctx)), format, output.to_yaml)


def version(format: FormatOpt = None) -> None:
    """Display the capsa version information."""

    def human(data: dict[str, Any]) -> str:
        c = data["Client"]
        rows = [("Version:", c["Version"]), ("API Version:", c["APIVersion"]), ("Python Version:", c["PythonVersion"]),
                ("OS/Arch:", c["OsArch"])]
        return "".join(f"{k:<16}{v}\n" for k, v in rows)

    output.emit_one(engine.version_data(), format, human)


def check(ctx: typer.Context,
          repair: Annotated[bool, typer.Option("--repair", "-r", help="Remove or fix what is found")] = False) -> None:
    """Check the store for leftovers of interrupted commands (and repair them with --repair)."""
    from capsa.engine.leftovers import check as run_check

    findings = run_check(session(ctx), repair)
    lines = [f"{'Repaired' if f.repaired else 'Found'}: {f.what}" for f in findings]
    output.write("".join(f"{line}\n" for line in lines) or "No problems found\n")
    if findings and not repair:
        raise CapsaError(f"found {len(findings)} problem(s)", hint="run 'capsa system check --repair' to fix them")


def df(ctx: typer.Context, format: Annotated[Optional[str], typer.Option("--format", help="json, or a Go template ('{{.Type}} {{.Size}}')")] = None,
       verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show detailed information on space usage: images, containers, volumes")] = False) -> None:
    """Show capsa's disk usage."""
    from capsa.engine.diskusage import df_size

    if verbose:  # (podman's verbose tables take no --format)
        from capsa.cli.diskusage import verbose_tables
        from capsa.engine.diskusage import verbose as verbose_rows

        output.write(verbose_tables(verbose_rows(session(ctx))))
        return
    rows = engine.disk_usage(session(ctx))
    for r in rows:
        pct = int(100 * r["RawReclaimable"] / r["RawSize"]) if r["RawSize"] else 0
        r["Size"] = df_size(r["RawSize"])
        r["Reclaimable"] = f"{df_size(r['RawReclaimable'])} ({pct}%)"
    if format == "json":
        output.emit_one(rows, "json", str)
        return
    output.emit_list(rows, format, "table {{.Type}}\t{{.Total}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
                     {"Type": "TYPE", "Total": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"})


def prune(ctx: typer.Context,
          all: Annotated[bool, typer.Option("--all", "-a", help="Remove all unused images, not only dangling ones")] = False,
          volumes: Annotated[bool, typer.Option("--volumes", help="Prune volumes no container uses")] = False,
          force: Annotated[bool, typer.Option("--force", "-f", help="Do not prompt for confirmation")] = False,
          filter: Annotated[Optional[list[str]], typer.Option("--filter", help="label=, label!=, until= (containers, images, networks, volumes)")] = None) -> None:
    """Remove stopped containers, unused networks and images (and with --volumes, unused volumes)."""
    filters = list(filter or [])
    engine.prune_filter(filters)  # (a bad filter fails before the prompt)
    if not force:
        output.write("WARNING! This command removes:\n\t- all stopped containers\n"
                     "\t- all networks not used by at least one container\n"
                     + ("\t- all volumes not used by at least one container\n" if volumes else "")
                     + ("\t- all images without at least one container associated with them\n" if all
                        else "\t- all dangling images\n")
                     + "\nAre you sure you want to continue? [y/N] ")
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return
    done = engine.prune(session(ctx), all, volumes, filters)
    text = ""
    for title, ids in (("Deleted Containers", done.containers), ("Deleted Networks", done.networks),
                       ("Deleted Volumes", done.volumes),
                       ("Deleted Images", done.images)):
        if ids:
            text += title + "\n" + "".join(f"{i}\n" for i in ids)
    from capsa.humanize import go_human_size

    output.write(text + f"Total reclaimed space: {go_human_size(done.reclaimed)}\n")
    if done.failed:
        raise CapsaError(f"could not remove {'; '.join(done.failed)}",
                         hint="run 'capsa system check --repair', then prune again")


def reset(ctx: typer.Context,
          force: Annotated[bool, typer.Option("--force", "-f", help="Do not prompt for confirmation")] = False) -> None:
    """Reset the store: remove every container, image and volume, and the store's directories."""
    sess = session(ctx)
    if not force:
        output.write("WARNING! This will remove:\n" + "".join(f"        - all {w}\n" for w in (
            "containers", "pods", "images", "networks", "volumes"))
            + f'        - the graphRoot directory: "{sess.config.root}"\n'
            + f'        - the runRoot directory: "{sess.config.runroot}"\n'
            + "Are you sure you want to continue? [y/N] ")
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return
    engine.reset(sess)


def register(app: typer.Typer) -> None:
    """Add ``info``, ``version`` and the ``system`` group to the root app."""
    app.command("info")(info)
    app.command("version")(version)
    group = typer.Typer(help="Manage capsa", no_args_is_help=True)
    for name, fn in (("info", info), ("check", check), ("df", df), ("prune", prune), ("reset", reset)):
        group.command(name)(fn)
    app.add_typer(group, name="system")
