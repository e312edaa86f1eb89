"""``commit`` (also ``container commit``): a new image from a container's changes.

Output as podman 4.3's: the copy lines on stderr (``Getting image source signatures``, one
``Copying blob`` per layer, ``Copying config``, ...), then the image id on stdout; ``-q`` only
the id. ``--iidfile`` gets the id (no ``sha256:``, as podman writes it)."""
from __future__ import annotations

import sys

from capsa.cli import output
from capsa.cli.context import session

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    import typer

    from capsa.cli.options import Annotated, Optional


def commit(
    ctx: typer.Context,
    args: Annotated[Optional[list[str]], typer.Argument(metavar="CONTAINER [IMAGE]", help="The container (name or id), and the new image's name NAME[:TAG] (none: an untagged image)", show_default=False)] = None,
    author: Annotated[str, typer.Option("--author", "-a", help="Set the author for the image committed")] = "",
    change: Annotated[Optional[list[str]], typer.Option("--change", "-c", help="Apply the following possible instructions to the created image: CMD | ENTRYPOINT | ENV | EXPOSE | LABEL | ONBUILD | STOPSIGNAL | USER | VOLUME | WORKDIR")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="Format of the image manifest and metadata: oci or docker")] = "oci",
    iidfile: Annotated[Optional[str], typer.Option("--iidfile", help="File to write the image ID to")] = None,
    include_volumes: Annotated[bool, typer.Option("--include-volumes", help="Include container volumes as image volumes")] = False,
    message: Annotated[str, typer.Option("--message", "-m", help="Set commit message for imported image (docker format only)")] = "",
    pause: Annotated[bool, typer.Option("--pause/--no-pause", "-p", help="Pause container during commit (default true; --pause=false to not)")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Suppress output")] = False,
    squash: Annotated[bool, typer.Option("--squash", "-s", help="Squash newly built layers into a single new layer")] = False,
) -> None:
    """Create new image based on the changed container."""
    from capsa.engine.commit import commit as do_commit
    from capsa.errors import UsageError

    words = list(args or [])
    if not 1 <= len(words) <= 2:
        raise UsageError(f"accepts between 1 and 2 arg(s), received {len(words)}",
                         hint="capsa commit [options] CONTAINER [IMAGE]")

    def report(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    made = do_commit(session(ctx), words[0], words[1] if len(words) > 1 else None, changes=list(change or []), message=message, author=author,
                     pause=pause, fmt=format, squash=squash, include_volumes=include_volumes,
                     warn=output.warn, report=report, iidfile=iidfile)
    output.write(f"{made.id}\n")


def register(app: typer.Typer) -> None:
    app.command("commit")(commit)
    groups = {g.name: g.typer_instance for g in app.registered_groups}
    if "container" in groups:
        groups["container"].command("commit")(commit)
