"""``kube play FILE|-`` (and its older spelling ``play kube``) and ``kube down FILE|-``: podman
4.3's podman-kube-play(1) and podman-kube-down(1). The YAML is read into a plan
(:mod:`capsa.kube.plan`, every document checked first) and made real by
:mod:`capsa.engine.kubeplay`; the output is podman's (``Pod:``/``Container:`` ids,
``Pods stopped:``/``Pods removed:``)."""
from __future__ import annotations

from capsa.cli import output
from capsa.cli.context import session
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    from typing import Any

    import typer

    from capsa.cli.options import Annotated, Optional
    from capsa.container.model import ContainerConfig
    from capsa.engine.session import Session
    from capsa.engine.kubeplay import Plan
    from capsa.pod.model import PodConfig


def play(
    ctx: typer.Context,
    kubefile: Annotated[str, typer.Argument(help="Kubernetes YAML file, or - for standard input", metavar="KUBEFILE|-", show_default=False)],
    annotation: Annotated[Optional[list[str]], typer.Option("--annotation", help="Add annotations to pods (key=value)")] = None,
    authfile: Annotated[Optional[str], typer.Option("--authfile", help="Path of the authentication file")] = None,
    cert_dir: Annotated[Optional[str], typer.Option("--cert-dir", help="Pathname of a directory containing TLS certificates and keys")] = None,
    configmap: Annotated[Optional[list[str]], typer.Option("--configmap", help="Pathname of a YAML file containing a kubernetes configmap")] = None,
    creds: Annotated[Optional[str], typer.Option("--creds", help="Credentials (USERNAME:PASSWORD) to use for authenticating to a registry")] = None,
    down: Annotated[bool, typer.Option("--down", help="Stop pods defined in the YAML file (as kube down)")] = False,
    ip: Annotated[Optional[list[str]], typer.Option("--ip", help="Static IP addresses to assign to the pods, in their order")] = None,
    log_driver: Annotated[Optional[str], typer.Option("--log-driver", help="Logging driver for the container (k8s-file only)")] = None,
    network: Annotated[Optional[list[str]], typer.Option("--network", "--net", help="Connect pod to network(s) or network mode")] = None,
    publish: Annotated[Optional[list[str]], typer.Option("--publish", help="Publish a port of every pod to the host: HOST_IP:HOST_PORT:CONTAINER_PORT/PROTO (all but CONTAINER_PORT optional)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Suppress output information when pulling images")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Delete and recreate pods defined in the YAML file")] = False,
    seccomp_profile_root: Annotated[str, typer.Option("--seccomp-profile-root", help="Directory path for seccomp profiles")] = "/var/lib/kubelet/seccomp",
    start: Annotated[bool, typer.Option("--start/--no-start", help="Start the pod after creating it (default true)")] = True,
    tls_verify: Annotated[Optional[bool], typer.Option("--tls-verify/--no-tls-verify", help="Require HTTPS and verify certificates when contacting registries (default true)", show_default=False)] = None,
) -> None:
    """Play a pod or volume based on Kubernetes YAML."""
    if log_driver not in (None, "k8s-file"):
        raise UsageError(f"--log-driver {log_driver} is not supported: capsa's containers log to a file (k8s-file)",
                         hint="use --log-driver k8s-file, or leave it out")
    if network and len(network) > 1:
        raise UsageError("--network is given more than once: capsa pods join one network", hint="give --network once")
    sess = session(ctx)
    if down:
        _down(sess, kubefile)
        return
    from capsa.cli.remote import remote_options
    from capsa.container.flags import parse_labels
    from capsa.engine import kubeplay

    plan = _plan(kubefile, list(configmap or []))
    for warning in plan.warnings:
        output.warn(warning)
    options = kubeplay.PlayOptions(
        start=start, replace=replace, network=(network or [""])[0], publish=list(publish or []),
        ips=[a for item in ip or [] for a in item.split(",") if a],
        annotations=parse_labels(annotation or []), seccomp_root=seccomp_profile_root,
        remote=remote_options(tls_verify, cert_dir, authfile, creds), quiet=quiet)
    from capsa.cli.pull import progress_for

    with progress_for(quiet) as progress:
        report = kubeplay.play(sess, plan, options, make_config, progress)
    out = []
    if report.volumes:
        out.append("Volumes:\n" + "".join(f"{v}\n" for v in report.volumes))
    for pod_id, ids in report.pods:
        text = f"Pod:\n{pod_id}\n"
        if ids:
            text += ("Container:\n" if len(ids) == 1 else "Containers:\n") + "".join(f"{i}\n" for i in ids)
        out.append(text + "\n")
    output.write("".join(out))


def kube_down(
    ctx: typer.Context,
    kubefile: Annotated[str, typer.Argument(help="Kubernetes YAML file, or - for standard input", metavar="KUBEFILE|-", show_default=False)],
) -> None:
    """Remove pods based on Kubernetes YAML."""
    _down(session(ctx), kubefile)


def _down(sess: Session, kubefile: str) -> None:
    from capsa.engine import kubeplay

    plan = _plan(kubefile, [], down=True)
    stopped, removed = kubeplay.down(sess, plan)
    # (podman 4.3 prints both headers, even without pods)
    output.write("Pods stopped:\n" + "".join(f"{i}\n" for i in stopped) + "Pods removed:\n" + "".join(f"{i}\n" for i in removed))


def _read(path: str, what: str) -> str:
    import sys

    if path == "-":
        return sys.stdin.read()
    if "://" in path:
        raise UsageError(f"{what} {path}: reading YAML from a URL is not supported", hint="download it first and give the file")
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise UsageError(f"{what} {path}: {exc.strerror}", hint="give a readable Kubernetes YAML file, or - for standard input") from None


def _plan(kubefile: str, configmaps: list[str], down: bool = False) -> Plan:
    from capsa.engine import kubeplay

    maps = [(_read(path, "--configmap"), path) for item in configmaps for path in item.split(",") if path]
    source = "stdin" if kubefile == "-" else kubefile
    return kubeplay.read_plan(_read(kubefile, "kube file"), source, maps, lenient=down)


def make_config(sess: Session, pod: PodConfig, image: str, command: list[str], o: dict[str, Any]) -> ContainerConfig:
    """A member of ``pod``, through the ``create --pod`` path: ``o`` holds ``create`` flags."""
    from capsa.cli import launch, runflags
    from capsa.engine import pods

    options = {**runflags.defaults("create"), **o}
    config = launch.container_config(image, command, options)
    pods.join(sess, config, pod.id, options)
    return config


def register(app: typer.Typer) -> None:
    from capsa.cli.groups import get_or_add_group

    kube = get_or_add_group(app, "kube", "Play containers, pods or volumes from a structured file")
    kube.command("play")(play)
    kube.command("down")(kube_down)
    get_or_add_group(app, "play", "Play containers, pods or volumes from a structured file").command("kube")(play)
