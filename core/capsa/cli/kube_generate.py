"""``kube generate`` and podman's older spelling ``generate kube``: Kubernetes YAML from
containers, pods and volumes (see docs/kube-generate.md)."""
from __future__ import annotations

from capsa.cli import output
from capsa.cli.context import session

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    import typer

    from capsa.cli.options import Annotated, Optional

KUBE_HELP = "Play containers, pods or volumes from a structured file"
GENERATE_HELP = "Generate structured data based on containers, pods or volumes"


def generate_kube(
    ctx: typer.Context,
    names: Annotated[Optional[list[str]], typer.Argument(help="Containers, pods or volumes by name or id", show_default=False)] = None,
    filename: Annotated[Optional[str], typer.Option("--filename", "-f", help="Write output to the specified path")] = None,
    service: Annotated[bool, typer.Option("--service", "-s", help="Generate YAML for a Kubernetes service object")] = False,
) -> None:
    """Generate Kubernetes YAML from containers, pods or volumes."""
    from capsa.engine import kubegen

    text = kubegen.generate(session(ctx), list(names or []), service, warn=output.warn)
    if filename:
        kubegen.write_new(filename, text)
    else:
        output.write(text + "\n")  # (podman prints the YAML with a line of its own after it)


def register(app: typer.Typer) -> None:
    from capsa.cli.groups import get_or_add_group

    get_or_add_group(app, "kube", KUBE_HELP).command("generate")(generate_kube)
    get_or_add_group(app, "generate", GENERATE_HELP).command("kube")(generate_kube)
