"""``network create|ls|inspect|exists|rm|prune|connect|disconnect`` (podman 4.3's flags; see
docs/networks-cli.md)."""
from __future__ import annotations

from capsa.cli import output
from capsa.cli.context import session
from capsa.engine import networks as engine
TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    import typer

    from capsa.cli.options import Annotated, NoTrunc, Optional, QuietOpt

LS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}"
LS_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER"}


def create(
    ctx: typer.Context,
    name: Annotated[Optional[str], typer.Argument(help="Network name (default: capsa1, capsa2...)")] = None,
    driver: Annotated[str, typer.Option("--driver", "-d", help="Driver to manage the network (bridge)")] = "bridge",
    subnet: Annotated[Optional[str], typer.Option("--subnet", help="Subnet in CIDR format (default: the first free /24)")] = None,
    gateway: Annotated[Optional[str], typer.Option("--gateway", help="IPv4 gateway for the subnet (default: its first address)")] = None,
    internal: Annotated[bool, typer.Option("--internal", help="Restrict external access from this network")] = False,
    label: Annotated[Optional[list[str]], typer.Option("--label", help="Set metadata on a network")] = None,
    opt: Annotated[Optional[list[str]], typer.Option("--opt", "-o", help="Driver specific options (mtu=N)")] = None,
    interface_name: Annotated[Optional[str], typer.Option("--interface-name", help="Name of the bridge interface")] = None,
    ignore: Annotated[bool, typer.Option("--ignore", help="Do not fail if the network already exists")] = False,
    ipam_driver: Annotated[Optional[str], typer.Option("--ipam-driver", help="IP address management driver: host-local (the only one)")] = None,
) -> None:
    """Create a network."""
    from capsa.container.flags import parse_labels

    if ipam_driver not in (None, "", "host-local"):
        from capsa.errors import UsageError

        if ipam_driver in ("dhcp", "none"):
            raise UsageError(f"--ipam-driver {ipam_driver} is not supported: capsa's networks assign addresses "
                             "themselves (host-local)", hint="use --ipam-driver host-local, or leave it out")
        raise UsageError(f'unsupported ipam driver "{ipam_driver}"', hint="use host-local")

    definition = engine.create(session(ctx), name, driver, subnet, gateway, internal, parse_labels(label or []),
                               parse_labels(opt or []), interface_name, ignore)
    output.write(f"{definition.name}\n")


def ls(ctx: typer.Context, quiet: QuietOpt = False, no_trunc: NoTrunc = False,
       format: Annotated[Optional[str], typer.Option("--format", help="Pretty-print networks with a Go template, or json")] = None,
       noheading: Annotated[bool, typer.Option("--noheading", help="Do not print headers")] = False,
       filter: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="name=, id=, driver=, label=")] = None) -> None:
    """List networks.

    Examples:
      capsa network ls
    """
    networks = engine.list_networks(session(ctx), list(filter or []))
    if format == "json":
        output.emit_one([n.inspect_doc() for n in networks], "json", str)
        return
    if quiet and not format:
        output.write("".join(f"{n.name}\n" for n in networks))
        return
    views = [n.template_view(trunc=not no_trunc) for n in networks]
    fmt = format if format and format.strip() != "table" else LS_TABLE
    if noheading and fmt.startswith("table "):
        output.write(output.headless(views, fmt))
        return
    output.emit_list(views, fmt, fmt, LS_HEADERS)


def inspect(ctx: typer.Context, names: Annotated[list[str], typer.Argument(help="Networks by name or id")],
            format: Annotated[Optional[str], typer.Option("--format", "-f", help="Format the output with a Go template, or json")] = None) -> None:
    """Display the configuration of one or more networks."""
    networks, missing = engine.inspect_found(session(ctx), names)
    if format and format != "json":
        for n in networks:
            output.emit_one(n.template_view(), format, str)
    else:
        output.emit_one([n.inspect_doc() for n in networks], "json", str)
    if missing is not None:
        raise missing


def exists(ctx: typer.Context, network: Annotated[str, typer.Argument(help="Network name or id")]) -> None:
    """Check if a network exists: exit 0 if it does, 1 if not."""
    from capsa.cli.context import Exit

    if not engine.exists(session(ctx), network):
        raise Exit(1)


def rm(ctx: typer.Context, names: Annotated[Optional[list[str]], typer.Argument(help="Networks by name or id")] = None,
       force: Annotated[bool, typer.Option("--force", "-f", help="Remove the containers using the network too")] = False,
       time: Annotated[Optional[int], typer.Option("--time", "-t", help="Seconds to wait for those containers to stop before killing them")] = None) -> None:
    """Remove one or more networks."""
    removed = engine.remove(session(ctx), list(names or []), force, time)
    output.write("".join(f"{n}\n" for n in removed))


def prune(ctx: typer.Context, force: Annotated[bool, typer.Option("--force", "-f", help="Do not prompt for confirmation")] = False,
          filter: Annotated[Optional[list[str]], typer.Option("--filter", help="label=, label!=")] = None) -> None:
    """Remove all networks no container uses (never the default one)."""
    import sys

    if not force:
        sys.stderr.write("WARNING! This will remove all networks not used by at least one container.\n"
                         "Are you sure you want to continue? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return
    gone = engine.prune(session(ctx), list(filter or []))
    output.write("".join(f"{n}\n" for n in gone))


def connect(ctx: typer.Context, network: Annotated[str, typer.Argument(help="Network name or id")],
            container: Annotated[str, typer.Argument(help="Container name or id")],
            alias: Annotated[Optional[list[str]], typer.Option("--alias", help="Network-scoped alias for the container")] = None,
            ip: Annotated[Optional[str], typer.Option("--ip", help="IPv4 address for the container on the network")] = None,
            ip6: Annotated[Optional[str], typer.Option("--ip6", help="Not supported")] = None,
            mac_address: Annotated[Optional[str], typer.Option("--mac-address", help="Not supported")] = None) -> None:
    """Connect a container to a network."""
    from capsa.engine import netconnect

    netconnect.connect(session(ctx), network, container, list(alias or []), ip,
                       {"--ip6": bool(ip6), "--mac-address": bool(mac_address)})


def disconnect(ctx: typer.Context, network: Annotated[str, typer.Argument(help="Network name or id")],
               container: Annotated[str, typer.Argument(help="Container name or id")],
               force: Annotated[bool, typer.Option("--force", "-f", help="Disconnect even if the network driver reports a problem")] = False) -> None:
    """Disconnect a container from a network."""
    from capsa.engine import netconnect

    netconnect.disconnect(session(ctx), network, container, force)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Manage networks", no_args_is_help=True)
    for name, fn in (("create", create), ("ls", ls), ("list", ls), ("inspect", inspect), ("exists", exists), ("rm", rm), ("prune", prune),
                     ("connect", connect), ("disconnect", disconnect)):
        group.command(name)(fn)
    app.add_typer(group, name="network")
