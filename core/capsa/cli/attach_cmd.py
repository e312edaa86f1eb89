"""``attach`` (also ``capsa container attach``): a running container's stdio, until it exits
or the user detaches."""
from __future__ import annotations

from capsa.cli.context import Exit, session
from capsa.engine import attach as engine
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    import typer

    from capsa.cli.options import Annotated, Optional


def attach(
    ctx: typer.Context,
    args: Annotated[Optional[list[str]], typer.Argument(help="The container, by name or id")] = None,
    detach_keys: Annotated[Optional[str], typer.Option("--detach-keys", help="Select the key sequence for detaching a container (default ctrl-p,ctrl-q; \"\" disables it)")] = None,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
    no_stdin: Annotated[bool, typer.Option("--no-stdin", help="Do not attach STDIN")] = False,
    sig_proxy: Annotated[bool, typer.Option("--sig-proxy/--no-sig-proxy", help="Proxy received signals to the container process")] = True,
) -> None:
    """Attach to a running container."""
    words = list(args or [])
    if latest and words:
        raise UsageError("--latest and containers cannot be used together", hint="capsa attach [-l | CONTAINER]")
    if not latest and len(words) != 1:
        raise UsageError(f"attach requires the name or id of one running container, received {len(words)}",
                         hint="capsa attach CONTAINER")
    keys = engine.detach_keys(detach_keys) if detach_keys is not None else None
    sess = session(ctx)
    config = engine.target(sess, words[0] if words else None, latest)
    code = engine.attach(sess, config, stdin=not no_stdin, keys=keys, sig_proxy=sig_proxy)
    if code:  # (None: detached; the container goes on)
        raise Exit(code)


def register(app: typer.Typer) -> None:
    app.command("attach")(attach)
    container = next((g.typer_instance for g in app.registered_groups if g.name == "container"), None)
    if container is not None:
        container.command("attach")(attach)
