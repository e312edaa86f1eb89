"""``system check``, ``system df``, ``system prune`` and ``system reset``."""
from __future__ import annotations

import sys
from typing import Annotated

import typer

from capsa.cli import output
from capsa.cli.output import FormatOpt
from capsa.cli.state import open_store, session
from capsa.errors import CapsaError


def _confirm(message: str) -> bool:
    sys.stderr.write(f"{message}\nAre you sure you want to continue? [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def check(ctx: typer.Context,
          repair: Annotated[bool, typer.Option("--repair", "-r", help="Remove or fix what is found")] = False) -> None:
    """Check the store for leftovers of interrupted commands (and repair them with --repair)."""
    from capsa.maintenance import check as run_check

    findings = run_check(session(ctx), repair)
    lines = [f"{'Repaired' if f.repaired else 'Found'}: {f.what}" for f in findings]
    output.write("".join(f"{line}\n" for line in lines) or "No problems found\n")
    if findings and not repair:
        raise CapsaError(f"found {len(findings)} problem(s)", hint="run 'capsa system check --repair' to fix them")


def df(ctx: typer.Context, format: FormatOpt = None) -> None:
    """Show capsa's disk usage."""
    from capsa.cli.humanize import human_size
    from capsa.maintenance import disk_usage

    rows = disk_usage(session(ctx))
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
    """Remove stopped containers, unused images (and with --volumes, unused volumes)."""
    from capsa.cli.containers import records_of
    from capsa.container import lifecycle
    from capsa.container.views import effective_status
    from capsa.container.volumes import VolumeStore

    if not force and not _confirm("WARNING! This command removes:\n  - all stopped containers\n"
                                  + ("  - all volumes not used by at least one container\n" if volumes else "")
                                  + ("  - all images without at least one container associated with them"
                                     if all else "  - all dangling images")):
        return
    sess = session(ctx)
    store, records = open_store(sess), records_of(sess)
    from capsa.maintenance import live_containers

    busy = live_containers(records)  # being started, restarted or torn down by a monitor or a command
    gone_containers: list[str] = []
    failed: list[str] = []
    for config in records.all():
        if effective_status(records, config).status in ("created", "exited") and config.id not in busy:
            try:
                lifecycle.remove(sess, store, records, config, force=False)
            except CapsaError as exc:  # one that cannot be removed does not stop the others
                failed.append(f"container {config.name}: {exc.message}")
                continue
            gone_containers.append(config.id)
    gone_images = []
    if store.exists():
        with store.writing():
            in_use = {c.image_id for c in records.all()}
            doomed = [i for i in store.images.all() if i.id not in in_use and (all or not i.names)]
            store.delete_images(doomed)
            gone_images = [i.id for i in doomed]
    gone_volumes = []
    if volumes:
        vstore = VolumeStore(sess.config.root)
        used = {m.source for c in records.all() for m in c.mounts if m.type == "volume"}
        for record in vstore.all():
            if record["Name"] not in used:
                vstore.remove(record["Name"])
                gone_volumes.append(record["Name"])
    text = ""
    for title, ids in (("Deleted Containers", gone_containers), ("Deleted Volumes", gone_volumes),
                       ("Deleted Images", gone_images)):
        if ids:
            text += title + "\n" + "".join(f"{i}\n" for i in ids)
    output.write(text)
    if failed:
        raise CapsaError(f"could not remove {'; '.join(failed)}", hint="run 'capsa system check --repair', then prune again")


def reset(ctx: typer.Context,
          force: Annotated[bool, typer.Option("--force", "-f", help="Do not prompt for confirmation")] = False) -> None:
    """Reset the store: remove every container, image and volume, and the store's directories."""
    from capsa.maintenance import reset as run_reset

    sess = session(ctx)
    if not force and not _confirm(f"WARNING! This will remove all containers, images and volumes under "
                                  f"{sess.config.root} and {sess.config.runroot}."):
        return
    run_reset(sess)


def register(group: typer.Typer) -> None:
    for name, fn in (("check", check), ("df", df), ("prune", prune), ("reset", reset)):
        group.command(name)(fn)
