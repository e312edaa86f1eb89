"""``push`` and ``image push``: a local image to a registry (or an archive), with podman 4.3's
flags: those capsa cannot honour (signing, encryption, schema 1) are refused in one line."""
from __future__ import annotations

from capsa.cli.context import session
from capsa.errors import UsageError

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
    encrypt_layer: Annotated[Optional[list[str]], typer.Option("--encrypt-layer", help="Not supported: capsa does not encrypt layers")] = None,
    encryption_key: Annotated[Optional[list[str]], typer.Option("--encryption-key", help="Not supported: capsa does not encrypt layers")] = None,
    format: Annotated[Optional[str], typer.Option("--format", "-f", help="Manifest type (oci or v2s2) to use in the destination (default is manifest type of source)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Suppress output information when pushing images")] = False,
    remove_signatures: Annotated[bool, typer.Option("--remove-signatures", help="Discard any pre-existing signatures in the image (capsa stores none)")] = False,
    sign_by: Annotated[Optional[str], typer.Option("--sign-by", help="Not supported: capsa does not sign images")] = None,
    sign_by_sigstore_private_key: Annotated[Optional[str], typer.Option("--sign-by-sigstore-private-key", help="Not supported: capsa does not sign images")] = None,
    sign_passphrase_file: Annotated[Optional[str], typer.Option("--sign-passphrase-file", help="Not supported: capsa does not sign images")] = None,
    tls_verify: Annotated[Optional[bool], typer.Option("--tls-verify/--no-tls-verify", help="Require HTTPS and verify certificates when contacting registries (default true; --tls-verify=false)")] = None,
) -> None:
    """Push an image to a specified destination.

    Examples:
      capsa push imageID docker://registry.example.com/repository:tag
      capsa push imageID oci-archive:/path/to/layout:image:tag
    """
    refuse_unsupported(encrypt_layer, encryption_key, sign_by, sign_by_sigstore_private_key, sign_passphrase_file)
    from capsa.cli.remote import remote_options
    from capsa.cli.transfer_progress import TransferRenderer
    from capsa.engine.push import push as push_image

    remote = remote_options(tls_verify, cert_dir, authfile, creds)
    with TransferRenderer(quiet=quiet) as progress:
        push_image(session(ctx), image, destination, remote, fmt=format, compression_format=compression_format,
                   digestfile=digestfile, progress=progress)


def refuse_unsupported(encrypt_layer: list[str] | None, encryption_key: list[str] | None, sign_by: str | None,
                       sigstore_key: str | None, passphrase_file: str | None) -> None:
    """One line for each podman flag capsa has no machinery for."""
    if encrypt_layer or encryption_key:
        flag = "--encryption-key" if encryption_key else "--encrypt-layer"
        raise UsageError(f"{flag}: capsa does not encrypt images", hint="push without encryption")
    for flag, value in (("--sign-by", sign_by), ("--sign-by-sigstore-private-key", sigstore_key),
                        ("--sign-passphrase-file", passphrase_file)):
        if value is not None:
            raise UsageError(f"{flag}: capsa does not sign images", hint="push without signing, e.g. sign with cosign afterwards")


def register(app: typer.Typer) -> None:
    app.command("push")(push)
    group = next(g.typer_instance for g in app.registered_groups if g.name == "image")
    group.command("push")(push)
