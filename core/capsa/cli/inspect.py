"""``capsa inspect``: low-level information on objects, found by name or id."""
from __future__ import annotations

from capsa.cli import output
from capsa.cli.context import session
from capsa.engine.inspect import KINDS as TYPES
from capsa.errors import CapsaError, ImageNotFound, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    import typer

    from capsa.cli.options import Annotated, FormatOpt, Optional



def inspect_objects(ctx: typer.Context, refs: list[str], kind: str, fmt: str | None, latest: bool = False,
                    size: bool = False) -> None:
    """Print the documents of ``refs`` (JSON list, or the template per object); exit 125 when
    one is not found, after printing the others, as podman does. ``latest``: the newest
    container; ``size``: containers' SizeRw and SizeRootFs too."""
    from capsa.engine.inspect import documents

    sess = session(ctx)
    if latest:
        from capsa.engine.selecting import select

        if refs:
            raise UsageError("--latest and containers cannot be used together", hint="use one of them")
        refs, kind = [c.id for c, _ in select(sess, latest_=True)], "container"
    elif not refs:
        raise UsageError("no names or ids specified", hint="give a name or an id, or --latest")
    docs, missing = documents(sess, refs, kind, template=bool(fmt and fmt != "json"))
    if size:
        from capsa.engine.pslisting import container_sizes

        ids = [d["Id"] for d in docs if "State" in d and "Id" in d and "Config" in d and "Mounts" in d]
        sizes = container_sizes(sess, ids)
        for d in docs:
            if d.get("Id") in sizes:
                d["SizeRw"], d["SizeRootFs"] = sizes[d["Id"]]
    if fmt and fmt != "json":
        for doc in docs:
            output.emit_one(doc, fmt, str)
    else:
        output.emit_one(docs, "json", str)
    if missing:
        if kind == "image":
            raise ImageNotFound(f"{missing[0]}: image not known", hint="see 'capsa images'")
        if kind in ("container", "pod", "volume"):
            listing = {"container": "capsa ps -a", "pod": "capsa pod ps", "volume": "capsa volume ls"}[kind]
            raise CapsaError(f"inspecting object: no such {kind} {missing[0]}", hint=f"see '{listing}'")
        if kind == "network":
            raise CapsaError(f"inspecting object: network {missing[0]}: unable to find network with name or ID "
                             f"{missing[0]}: network not found", hint="see 'capsa network ls'")
        raise CapsaError(f'inspecting object: no such object: "{missing[0]}"', hint="see 'capsa ps -a' and 'capsa images'")


def inspect(
    ctx: typer.Context,
    refs: Annotated[Optional[list[str]], typer.Argument(help="Names or ids of objects")] = None,
    format: FormatOpt = None,
    type: Annotated[str, typer.Option("--type", "-t", help="Only look for objects of this type: container, image, pod, network, volume or all")] = "all",
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest container created")] = False,
    size: Annotated[bool, typer.Option("--size", "-s", help="Display the total file size of containers (SizeRw, SizeRootFs)")] = False,
) -> None:
    """Display the configuration of objects denoted by name or id.

    Examples:
      capsa inspect fedora
      capsa inspect --type image fedora
      capsa inspect CtrID ImgID
      capsa inspect --format "imageId: {{.Id}} size: {{.Size}}" fedora
    """
    if type not in TYPES:
        raise UsageError(f'invalid type "{type}": must be {", ".join(f"{t!r}" for t in TYPES[:-1])}, or "all"'.replace("'", '"'),
                         hint="capsa inspect --type container|image|pod|network|volume|all")
    inspect_objects(ctx, list(refs or []), type, format, latest, size)


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)
