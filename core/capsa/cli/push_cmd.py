"""``push`` and ``image push``: a local image to a registry (or an archive), with podman 4.3's
flags: those capsa cannot honour (signing, encryption) are refused in one line
(:mod:`capsa.cli.refusals`)."""
from __future__ import annotations

from capsa.cli.context import session

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    import typer

    from capsa.cli.options import Annotated, Optional


def push(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(help="Local image to push (name or id)")],
    destination: Annotated[Optional[str], typer.Argument(help="Where to: [docker://]REGISTRY/NAME[:TAG], oci-archive:PATH or docker-archive:PATH (default: the image's name)")] = None,
    authfile: Annotated[Optional[str], typer.Option("--authfile", help="Path of the authentication file")] = None,
    cert_dir: Annotated[Optional[str], typer.Option("--cert-dir", help="Path to a directory containing TLS certificates and keys (*.crt, *.cert, *.key)")] = None,
    compress: Annotated[bool, typer.Option("--compress", help="Compress layers (registries always get compressed layers: accepted as podman does)")] = False,
    compression_format: Annotated[Optional[str], typer.Option("--compression-format", help="Compression format of the pushed layers: gzip or zstd (default: keep compressed layers, gzip the others)")] = None,
    creds: Annotated[Optional[str], typer.Option("--creds", help="Credentials (USERNAME:PASSWORD) to use for authenticating to a registry")] = None,
    digestfile: Annotated[Optional[str], typer.Option("--digestfile", help="Write the digest of the pushed image to the specified file")] = None,
    disable_content_trust: Annotated[bool, typer.Option("--disable-content-trust", help="This is a Docker specific option and is a NOOP")] = False,
    format: Annotated[Optional[str], typer.Option("--format", "-f", help="Manifest type (oci or v2s2) to use in the destination (default is manifest type of source)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Suppress output information when pushing images")] = False,
    remove_signatures: Annotated[bool, typer.Option("--remove-signatures", help="Discard any pre-existing signatures in the image (capsa stores none)")] = False,
    tls_verify: Annotated[Optional[bool], typer.Option("--tls-verify/--no-tls-verify", help="Require HTTPS and verify certificates when contacting registries (default true; --tls-verify=false)")] = None,
) -> None:
    """Push an image to a specified destination.

    Examples:
      capsa push imageID docker://registry.example.com/repository:tag
      capsa push imageID oci-archive:/path/to/layout:image:tag
    """
    from capsa.cli.remote import check_authfile, remote_options
    from capsa.cli.transfer_progress import TransferRenderer
    from capsa.engine.push import push as push_image

    check_authfile(authfile)
    remote = remote_options(tls_verify, cert_dir, authfile, creds)
    with TransferRenderer(quiet=quiet) as progress:
        push_image(session(ctx), image, destination, remote, fmt=format, compression_format=compression_format,
                   digestfile=digestfile, progress=progress)


def register(app: typer.Typer) -> None:
    app.command("push")(push)
    group = next(g.typer_instance for g in app.registered_groups if g.name == "image")
    group.command("push")(push)
