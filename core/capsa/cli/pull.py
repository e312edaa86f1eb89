"""``pull`` and ``image pull``: the flags of podman 4.3's podman-pull(1), and the progress a
pull reports, rendered on standard error as podman does: a progress bar per layer (rich) on a
terminal, podman's plain lines otherwise; the image ids go to standard output."""
from __future__ import annotations

import sys

from capsa.cli import output
from capsa.cli.context import session

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    from typing import Any, TextIO

    import typer

    from capsa.cli.options import Annotated, Optional


def pull(
    ctx: typer.Context,
    images: Annotated[list[str], typer.Argument(help="Images to pull: [REGISTRY[:PORT]/]NAME[:TAG|@DIGEST]", show_default=False)],
    all_tags: Annotated[bool, typer.Option("--all-tags", "-a", help="All tagged images in the repository will be pulled")] = False,
    arch: Annotated[Optional[str], typer.Option("--arch", help="Use ARCH instead of the architecture of the machine for choosing images")] = None,
    authfile: Annotated[Optional[str], typer.Option("--authfile", help="Path of the authentication file")] = None,
    cert_dir: Annotated[Optional[str], typer.Option("--cert-dir", help="Pathname of a directory containing TLS certificates and keys")] = None,
    creds: Annotated[Optional[str], typer.Option("--creds", help="Credentials (USERNAME:PASSWORD) to use for authenticating to a registry")] = None,
    disable_content_trust: Annotated[bool, typer.Option("--disable-content-trust", help="This is a Docker specific option and is a NOOP")] = False,
    os: Annotated[Optional[str], typer.Option("--os", help="Use OS instead of the running OS for choosing images")] = None,
    platform: Annotated[Optional[str], typer.Option("--platform", help="Specify the platform for selecting the image (conflicts with --arch and --os)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Suppress output information when pulling images")] = False,
    tls_verify: Annotated[Optional[bool], typer.Option("--tls-verify/--no-tls-verify", help="Require HTTPS and verify certificates when contacting registries (default true)", show_default=False)] = None,
    variant: Annotated[Optional[str], typer.Option("--variant", help="Use VARIANT instead of the running architecture variant for choosing images")] = None,
) -> None:
    """Pull images from a registry and store them locally.

    Examples:
      capsa pull imageName
      capsa pull fedora:latest
    """
    from capsa.cli.remote import check_authfile, remote_options
    from capsa.engine import pull as engine

    check_authfile(authfile)
    wanted = engine.wanted_platform(platform, os, arch, variant)
    remote = remote_options(tls_verify, cert_dir, authfile, creds)
    sess = session(ctx)
    for name in images:
        with progress_for(quiet) as progress:
            pulled = engine.pull(sess, name, remote, wanted, all_tags, progress, interactive=interactive_terminal())
        output.write("".join(f"{image.id}\n" for image in pulled))


def progress_for(quiet: bool, stream: TextIO | None = None) -> Any:
    """The progress renderer for a pull (push's too: a context manager giving the ``progress``
    callable): nothing with ``quiet``, bars on a terminal, podman's lines otherwise; on
    ``stream`` (standard error)."""
    from capsa.cli.transfer_progress import TransferRenderer

    return TransferRenderer(quiet=quiet, stream=stream or sys.stderr)


def interactive_terminal() -> bool:
    """Whether an ambiguous short name may be asked about (podman: stdin and stdout are terminals)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def register(app: typer.Typer) -> None:
    app.command("pull")(pull)
    group = next(g.typer_instance for g in app.registered_groups if g.name == "image")
    group.command("pull")(pull)
