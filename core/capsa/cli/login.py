"""``login`` and ``logout`` (podman 4.3's flags and words)."""
from __future__ import annotations

import sys

from capsa.cli import output
from capsa.cli.context import session
from capsa.engine import login as engine
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    from typing import TextIO

    import typer

    from capsa.cli.options import Annotated, Optional

AUTHFILE_HELP = "Path of the authentication file. Use REGISTRY_AUTH_FILE environment variable to override"


def read_password(stream: TextIO) -> str:
    """``--password-stdin``: all of ``stream``, less one final line end ("\\n" or "\\r\\n"),
    as podman reads it (a password may hold other line ends and spaces)."""
    text = stream.read()
    if text.endswith("\n"):
        text = text[:-2] if text.endswith("\r\n") else text[:-1]
    return text


def _prompt_username(known: str) -> str:
    if not sys.stdin.isatty():
        raise UsageError("cannot prompt for a username without a terminal", hint="give it with --username")
    sys.stdout.write(f"Username ({known}): " if known else "Username: ")
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        raise UsageError("no username given", hint="give it with --username")
    return line.strip() or known


def _prompt_password() -> str:
    if not sys.stdin.isatty():
        raise UsageError("cannot prompt for a password without a terminal",
                         hint="give it with --password-stdin (or --password)")
    import getpass

    try:
        return getpass.getpass("Password: ")
    except EOFError:
        raise UsageError("no password given", hint="give it with --password-stdin") from None


def login(
    ctx: typer.Context,
    registry: Annotated[Optional[str], typer.Argument(help="Registry: HOST[:PORT], HOST[:PORT]/NAMESPACE or https://HOST[:PORT] (default: the first unqualified-search registry)")] = None,
    authfile: Annotated[Optional[str], typer.Option("--authfile", help=AUTHFILE_HELP)] = None,
    cert_dir: Annotated[Optional[str], typer.Option("--cert-dir", help="Use certificates at the specified path (*.crt, *.cert, *.key) to access the registry")] = None,
    get_login: Annotated[bool, typer.Option("--get-login", help="Return the current login user for the registry")] = False,
    password: Annotated[Optional[str], typer.Option("--password", "-p", help="Password for registry")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Take the password from stdin")] = False,
    tls_verify: Annotated[Optional[bool], typer.Option("--tls-verify/--no-tls-verify", help="Require HTTPS and verify certificates when contacting registries (default: true, unless the registry is insecure in the configuration)")] = None,
    username: Annotated[Optional[str], typer.Option("--username", "-u", help="Username for registry")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Write more detailed information to stdout")] = False,
) -> None:
    """Log in to a container registry."""
    from capsa.cli.remote import remote_options

    sess = session(ctx)
    remote = remote_options(tls_verify, cert_dir, authfile)
    key = engine.target(sess, registry)
    if get_login:
        output.write(engine.get_login(sess, key, remote) + "\n")
        return
    if password_stdin:
        if password:
            raise UsageError("Can't specify both --password-stdin and --password", hint="use one of them")
        if not username:
            raise UsageError("Must provide --username with --password-stdin", hint="e.g. --username alice --password-stdin")
        password = read_password(sys.stdin)
    if verbose:
        output.write(f"Used: {engine.auth_file(sess, remote)[0]}\n")
    if not username and not password:
        existing = engine.existing_login(sess, key, remote)
        if existing is not None:
            output.write(f"Authenticating with existing credentials for {existing.key}\n")
            if existing.valid:
                output.write(f"Existing credentials are valid. Already logged in to {existing.registry}\n")
                return
            output.write("Existing credentials are invalid, please enter valid username and password\n")
    stored = engine.stored_credentials(sess, key, remote) if not username else None
    if not username:
        username = _prompt_username(stored.username if stored else "")
    if not password:
        password = _prompt_password()
    engine.login(sess, key, username, password, remote)
    output.write("Login Succeeded!\n")


def logout(
    ctx: typer.Context,
    registry: Annotated[Optional[str], typer.Argument(help="Registry: HOST[:PORT], HOST[:PORT]/NAMESPACE or https://HOST[:PORT] (default: the first unqualified-search registry)")] = None,
    all: Annotated[bool, typer.Option("--all", "-a", help="Remove the cached credentials for all registries in the auth file")] = False,
    authfile: Annotated[Optional[str], typer.Option("--authfile", help=AUTHFILE_HELP)] = None,
) -> None:
    """Log out of a container registry: remove the cached username and password."""
    if all and registry:
        raise UsageError("--all takes no arguments", hint="give either --all or a registry")
    from capsa.cli.remote import check_authfile, remote_options

    check_authfile(authfile, "checking authfile: ")
    sess = session(ctx)
    result = engine.logout(sess, registry, remote_options(authfile=authfile), all_registries=all)
    if result.removed == "all":
        output.write("Removed login credentials for all registries\n")
    elif result.docker_only:
        output.write(f"Not logged into {result.removed} with current tool. Existing credentials were established "
                     "via docker login. Please use docker logout instead.\n")
    else:
        output.write(f"Removed login credentials for {result.removed}\n")


def register(app: typer.Typer) -> None:
    app.command("login")(login)
    app.command("logout")(logout)
