"""``pod create`` and ``pod rm`` (podman 4.3's flags; see docs/pods.md). The ``pod`` group is
made here; :mod:`capsa.cli.pod_more` adds the other pod commands to it."""
from __future__ import annotations

from capsa.cli import output
from capsa.cli.context import session
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    import typer

    from capsa.cli.options import Annotated, Optional

def create(
    ctx: typer.Context,
    pod_name: Annotated[Optional[str], typer.Argument(help="Pod name (or --name)", show_default=False)] = None,
    name: Annotated[Optional[str], typer.Option("--name", "-n", help="Assign a name to the pod")] = None,
    publish: Annotated[Optional[list[str]], typer.Option("--publish", "-p", help="Publish a port of the pod to the host: HOST_IP:HOST_PORT:CONTAINER_PORT/PROTO")] = None,
    share: Annotated[Optional[str], typer.Option("--share", help='Kernel namespaces the pod shares: cgroup, ipc, net, pid, uts ("+pid" adds to the default; "none")')] = None,
    share_parent: Annotated[bool, typer.Option("--share-parent/--no-share-parent", help="Members take the pod's --cgroup-parent")] = True,
    hostname: Annotated[Optional[str], typer.Option("--hostname", help="The pod's hostname (default: its name)")] = None,
    label: Annotated[Optional[list[str]], typer.Option("--label", "-l", help="Set metadata on the pod")] = None,
    label_file: Annotated[Optional[list[str]], typer.Option("--label-file", help="Read in a line delimited file of labels")] = None,
    network: Annotated[Optional[list[str]], typer.Option("--network", "--net", help="The pod's network mode or network")] = None,
    infra: Annotated[bool, typer.Option("--infra/--no-infra", help="Create an infra container to hold the shared namespaces")] = True,
    infra_command: Annotated[Optional[str], typer.Option("--infra-command", help="The infra container's command (default: catatonit -P)")] = None,
    infra_name: Annotated[Optional[str], typer.Option("--infra-name", help="The infra container's name")] = None,
    infra_image: Annotated[Optional[str], typer.Option("--infra-image", help="A local image for the infra container")] = None,
    infra_conmon_pidfile: Annotated[Optional[str], typer.Option("--infra-conmon-pidfile", help="File that receives the PID of the infra's monitor")] = None,
    pod_id_file: Annotated[Optional[str], typer.Option("--pod-id-file", help="Write the pod ID to the file")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="If a pod with the same name exists, replace it")] = False,
    exit_policy: Annotated[str, typer.Option("--exit-policy", help="When the last member exits: continue or stop")] = "continue",
    add_host: Annotated[Optional[list[str]], typer.Option("--add-host", help="Add a custom host-to-IP mapping (host:ip)")] = None,
    dns: Annotated[Optional[list[str]], typer.Option("--dns", help="Set custom DNS servers")] = None,
    dns_option: Annotated[Optional[list[str]], typer.Option("--dns-option", help="Set custom DNS options")] = None,
    dns_search: Annotated[Optional[list[str]], typer.Option("--dns-search", help="Set custom DNS search domains")] = None,
    ip: Annotated[Optional[str], typer.Option("--ip", help="A static IPv4 address for the pod")] = None,
    network_alias: Annotated[Optional[list[str]], typer.Option("--network-alias", help="Add a network-scoped alias for the pod")] = None,
    cgroup_parent: Annotated[Optional[str], typer.Option("--cgroup-parent", help="Cgroup (under capsa's own) for the pod's containers")] = None,
    security_opt: Annotated[Optional[list[str]], typer.Option("--security-opt", help="Security options of the infra container")] = None,
    volume: Annotated[Optional[list[str]], typer.Option("--volume", "-v", help="Bind mount a volume into every container of the pod")] = None,
) -> None:
    """Create a new empty pod (its id is printed; nothing starts until a member does).

    Examples:
      capsa pod create
      capsa pod create --label foo=bar mypod
    """
    import sys

    from capsa.container.flags import parse_labels
    from capsa.engine import pods

    if pod_name and name:
        raise UsageError("cannot specify --name and NAME at the same time", hint="give one of them")
    if len(network or []) > 1:
        raise UsageError("a pod is on one network: give --network once", hint="connect more later (capsa network connect)")
    labels = parse_labels(_label_file_lines(label_file or []) + list(label or []))
    command: list[str] = []
    if infra_command:
        command = _command_words(infra_command)
    options = pods.PodOptions(
        name=name or pod_name or "", publish=list(publish or []), share=share, hostname=hostname or "", labels=labels,
        network=(network or [""])[0], infra=infra, infra_command=command, infra_name=infra_name or "",
        infra_image=infra_image or "", infra_conmon_pidfile=infra_conmon_pidfile or "", pod_id_file=pod_id_file or "",
        replace=replace, exit_policy=exit_policy, ip=ip or "", add_host=list(add_host or []), dns=list(dns or []),
        dns_search=list(dns_search or []), dns_option=list(dns_option or []), network_alias=list(network_alias or []),
        cgroup_parent=cgroup_parent or "", share_parent=share_parent,
        security_opt=list(security_opt or []), volumes=list(volume or []),
        extra={"create_command": ["capsa", *sys.argv[1:]]})
    pod = pods.create(session(ctx), options)
    output.write(f"{pod.id}\n")


def _command_words(text: str) -> list[str]:
    """``--infra-command``: a JSON list, or words split as a shell would."""
    if text.startswith("["):
        import json

        try:
            words = json.loads(text)
        except ValueError:
            words = None
        if isinstance(words, list) and words and all(isinstance(w, str) for w in words):
            return words
        raise UsageError(f"invalid --infra-command {text!r}", hint='give a command, or a JSON list like \'["/catatonit", "-P"]\'')
    import shlex

    return shlex.split(text)


def _label_file_lines(paths: list[str]) -> list[str]:
    out = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                out += [line.strip() for line in fh if line.strip() and not line.lstrip().startswith("#")]
        except OSError as exc:
            raise UsageError(f"--label-file {path}: {exc.strerror}", hint="give a readable file of KEY=VALUE lines") from None
    return out


def rm(
    ctx: typer.Context,
    refs: Annotated[Optional[list[str]], typer.Argument(help="Pods by name or id", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Stop the pod's running containers first, then remove everything (a missing pod is ignored)")] = False,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Remove all pods")] = False,
    ignore: Annotated[bool, typer.Option("--ignore", "-i", help="Ignore errors when a specified pod is missing")] = False,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="Act on the latest pod created")] = False,
    time: Annotated[Optional[int], typer.Option("--time", "-t", help="Seconds to wait for the pod's containers to stop before killing them")] = None,
    pod_id_file: Annotated[Optional[list[str]], typer.Option("--pod-id-file", help="Read the pod ID from the file")] = None,
) -> None:
    """Remove one or more pods and their containers (running ones only with --force)."""
    from capsa.engine import pods

    words = list(refs or [])
    pods.check_targets(words, all_, latest, bool(pod_id_file))
    if time is not None and time < 0:
        raise UsageError(f'invalid argument "{time}" for "-t, --time" flag', hint="give a number of seconds")
    if time is not None and not force:
        raise UsageError("--force option must be specified to use the --time option", hint="add -f, or drop -t")
    ignore = ignore or force  # (podman 4.3: -f also ignores a pod that does not exist)
    words += pods.read_id_files(list(pod_id_file or []))  # (an unreadable one is an error even with -i, as podman's)
    sess = session(ctx)
    if all_ or latest:
        targets = pods.find(sess, None, all_=all_, latest=latest)
    else:
        targets = []
        for ref in words:  # (every one looked up first: an unknown one removes nothing, as podman)
            try:
                targets += [p for p in pods.find(sess, [ref]) if p.id not in {t.id for t in targets}]
            except pods.PodNotFound as exc:
                if not ignore:
                    exc.exit_code = 1  # podman's pod rm: exit 1 for an unknown pod
                    raise
    for pod in targets:
        pods.remove(sess, pod, force=force, timeout=time)
        output.write(f"{pod.id}\n")


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Manage pods", no_args_is_help=True)
    group.command("create")(create)
    group.command("rm")(rm)
    app.add_typer(group, name="pod")
