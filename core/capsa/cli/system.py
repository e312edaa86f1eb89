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

    from capsa.cli.options import Annotated, FormatOpt


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


def _confirm(message: str) -> bool:
    sys.stderr.write(f"{message}\nAre you sure you want to continue? [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def check(ctx: typer.Context,
          repair: Annotated[bool, typer.Option("--repair", "-r", help="Remove or fix what is found")] = False) -> None:
    """Check the store for leftovers of interrupted commands (and repair them with --repair)."""
    from capsa.engine.leftovers import check as run_check

    findings = run_check(session(ctx), repair)
    lines = [f"{'Repaired' if f.repaired else 'Found'}: {f.what}" for f in findings]
    output.write("".join(f"{line}\n" for line in lines) or "No problems found\n")
    if findings and not repair:
        raise CapsaError(f"found {len(findings)} problem(s)", hint="run 'capsa system check --repair' to fix them")


def df(ctx: typer.Context, format: FormatOpt = None) -> None:
    """Show capsa's disk usage."""
    from capsa.humanize import human_size

    rows = engine.disk_usage(session(ctx))
    for r in rows:
        pct = int(100 * r["RawReclaimable"] / r["RawSize"]) if r["RawSize"] else 0
        r["Size"] = human_size(r["RawSize"]).replace(" ", "")
        r["Reclaimable"] = f"{human_size(r['RawReclaimable']).replace(' ', '')} ({pct}%)"
    if format == "json":
        output.emit_one(rows, "json", str)
        return
    output.emit_list(rows, format, "table {{.Type}}\t{{.Total}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
                     {"Type": "TYPE", "Total": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"})


def prune(ctx: typer.Context,
          all: Annotated[bool, typer.Option("--all", "-a", help="Remove all unused images, not only dangling ones")] = False,
          volumes: Annotated[bool, typer.Option("--volumes", help="Prune volumes no container uses")] = False,
          force: Annotated[bool, typer.Option("--force", "-f", help="Do not prompt for confirmation")] = False) -> None:
    """Remove stopped containers, unused networks and images (and with --volumes, unused volumes)."""
    if not force and not _confirm("WARNING! This command removes:\n  - all stopped containers\n"
                                  + "  - all networks not used by at least one container\n"
                                  + ("  - all volumes not used by at least one container\n" if volumes else "")
                                  + ("  - all images without at least one container associated with them"
                                     if all else "  - all dangling images")):
        return
    done = engine.prune(session(ctx), all, volumes)
    text = ""
    for title, ids in (("Deleted Containers", done.containers), ("Deleted Networks", done.networks),
                       ("Deleted Volumes", done.volumes),
                       ("Deleted Images", done.images)):
        if ids:
            text += title + "\n" + "".join(f"{i}\n" for i in ids)
    output.write(text)
    if done.failed:
        raise CapsaError(f"could not remove {'; '.join(done.failed)}",
                         hint="run 'capsa system check --repair', then prune again")


def reset(ctx: typer.Context,
          force: Annotated[bool, typer.Option("--force", "-f", help="Do not prompt for confirmation")] = False) -> None:
    """Reset the store: remove every container, image and volume, and the store's directories."""
    sess = session(ctx)
    if not force and not _confirm(f"WARNING! This will remove all containers, images and volumes under "
                                  f"{sess.config.root} and {sess.config.runroot}."):
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
