"""Images in and out of the store as files: ``import``, ``save`` and ``load``."""
from __future__ import annotations

import os
import sys

from capsa.cli import output
from capsa.cli.context import session
from capsa.engine import images as engine
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    import typer

    from capsa.cli.options import Annotated, Optional


SAVE_FORMATS = ("oci-dir", "oci-archive", "docker-dir", "docker-archive")


def import_(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="Tarball of a root filesystem (.tar, .tar.gz, .tar.zst, .tar.xz), an http(s) URL of one, or - for stdin")],
    reference: Annotated[Optional[str], typer.Argument(help="Name for the image: NAME[:TAG]")] = None,
    change: Annotated[Optional[list[str]], typer.Option("--change", "-c", help="Apply a Dockerfile instruction: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR")] = None,
    message: Annotated[str, typer.Option("--message", "-m", help="Set the commit message of the imported image")] = "",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the image id")] = False,
    arch: Annotated[Optional[str], typer.Option("--arch", help="Set the architecture of the imported image")] = None,
    os_: Annotated[Optional[str], typer.Option("--os", help="Set the OS of the imported image")] = None,
    variant: Annotated[Optional[str], typer.Option("--variant", help="Set the variant of the imported image")] = None,
) -> None:
    """Import a tarball (a file, an http(s) URL or stdin) and save it as a filesystem image."""
    platform = {"architecture": arch or "", "os": os_ or "", "variant": variant or ""}
    image = engine.import_image(session(ctx), source, reference, list(change or []), message, platform=platform)
    output.write(f"sha256:{image.id}\n")  # (podman prints the same with and without -q: it has no progress here)


def save(
    ctx: typer.Context,
    refs: Annotated[list[str], typer.Argument(help="Images to save")],
    output_path: Annotated[Optional[str], typer.Option("--output", "-o", help="Write to a file (or directory for oci-dir); default stdout")] = None,
    format: Annotated[str, typer.Option("--format", help="oci-archive, docker-archive or oci-dir")] = "docker-archive",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Suppress the output")] = False,
    multi_image_archive: Annotated[bool, typer.Option("--multi-image-archive", "-m", help="Accepted for podman compatibility: several images always share one archive")] = False,
    uncompressed: Annotated[bool, typer.Option("--uncompressed", help="Keep uncompressed layers uncompressed in the OCI formats (capsa always does)")] = False,
) -> None:
    """Save images to an archive (docker-archive by default, as podman).

    capsa writes each layer as its store holds it (as pulled, or uncompressed for an image
    imported, committed or built here): that is ``--uncompressed``'s behaviour, always.
    """
    if format not in SAVE_FORMATS:
        raise UsageError(f"format value must be one of {' '.join(SAVE_FORMATS)}", hint="capsa save --format docker-archive|oci-archive|oci-dir")
    if format == "docker-dir":
        raise UsageError("--format docker-dir is not supported: capsa does not write the 'dir' transport's layout",
                         hint="use --format oci-dir for a directory")
    if output_path is None:
        if format == "oci-dir":
            raise UsageError("oci-dir needs a directory", hint="give one with --output DIR")
        if sys.stdout.isatty():
            raise UsageError("refusing to write an archive to a terminal", hint="use --output FILE or redirect stdout")
    if output_path is None:
        engine.save(session(ctx), refs, format, sys.stdout.buffer, before_writing=sys.stdout.flush)
    else:
        engine.save(session(ctx), refs, format, output_path)


def load(
    ctx: typer.Context,
    input: Annotated[Optional[str], typer.Option("--input", "-i", help="Read from an archive file or OCI layout directory; default stdin")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Suppress the progress output")] = False,
) -> None:
    """Load images from a container archive (oci-archive, docker-archive or an OCI layout directory)."""
    if input is not None and not os.path.exists(input):
        raise UsageError(f"{input}: no such file or directory", hint="give an archive file or an OCI layout directory")
    if input is None and sys.stdin.isatty():
        raise UsageError("no archive given", hint="use --input FILE or pipe an archive to standard input")
    loaded = engine.load(session(ctx), input if input is not None else sys.stdin.buffer)
    lines = []
    for image in loaded:
        lines += [f"Loaded image: {name}" for name in image.names] or [f"Loaded image: sha256:{image.id}"]
    output.write("".join(f"{line}\n" for line in lines))


def register(app: typer.Typer) -> None:
    for name, fn in (("import", import_), ("save", save), ("load", load)):
        app.command(name)(fn)
    group = next(g.typer_instance for g in app.registered_groups if g.name == "image")
    for name, fn in (("import", import_), ("save", save), ("load", load)):
        group.command(name)(fn)
