"""``build`` and ``image build``: podman's flags read, the engine's build run, its progress
printed as podman 4.3 prints it (everything on standard output, the image id last).

Every flag of ``podman build --help`` is either implemented (those that map onto what capsa
has) or refused in :mod:`capsa.cli.refusals` (one line naming it and why, exit 125, before
anything runs). docs/build.md and docs/cli.md list them.
"""
from __future__ import annotations

import sys

from capsa.cli import output
from capsa.cli.context import session
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typer evaluates the annotations: see capsa.cli.options)
    from typing import Any

    import typer

    from capsa.cli.options import Annotated, Optional

def build(
    ctx: typer.Context,
    context: Annotated[Optional[str], typer.Argument(help="Build context: a directory, or - for a tar archive on stdin")] = None,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", "-t", help="tagged name to apply to the built image")] = None,
    file: Annotated[Optional[list[str]], typer.Option("--file", "-f", help="pathname of a Containerfile (- : stdin)")] = None,
    build_arg: Annotated[Optional[list[str]], typer.Option("--build-arg", help="argument=value to supply to the builder")] = None,
    target: Annotated[Optional[str], typer.Option("--target", help="set the target build stage to build")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="do not use existing cached images for the container build")] = False,
    layers: Annotated[bool, typer.Option("--layers/--no-layers", help="cache intermediate layers during build")] = True,
    pull: Annotated[str, typer.Option("--pull", help="pull the FROM images: always, missing, never or newer")] = "missing",
    pull_always: Annotated[bool, typer.Option("--pull-always", hidden=True, help="--pull=always")] = False,
    pull_never: Annotated[bool, typer.Option("--pull-never", hidden=True, help="--pull=never")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="refrain from announcing build instructions and image read/write progress")] = False,
    label: Annotated[Optional[list[str]], typer.Option("--label", help="set metadata for an image (KEY=VALUE)")] = None,
    network: Annotated[Optional[str], typer.Option("--network", "--net", help="network mode of the RUN containers: none, host, or a network driver")] = None,
    iidfile: Annotated[Optional[str], typer.Option("--iidfile", help="file to write the image ID to")] = None,
    format: Annotated[str, typer.Option("--format", help="format of the built image's manifest and metadata: oci or docker")] = "oci",
    squash: Annotated[bool, typer.Option("--squash", help="squash newly built layers into a single new layer")] = False,
    squash_all: Annotated[bool, typer.Option("--squash-all", help="squash all layers into a single layer")] = False,
    rm: Annotated[bool, typer.Option("--rm/--no-rm", help="remove intermediate containers after a successful build")] = True,
    force_rm: Annotated[bool, typer.Option("--force-rm/--no-force-rm", help="always remove intermediate containers")] = True,
    jobs: Annotated[int, typer.Option("--jobs", help="how many stages to run in parallel (capsa runs them in order)")] = 1,
    env: Annotated[Optional[list[str]], typer.Option("--env", help="set environment variable for the RUN containers")] = None,
    volume: Annotated[Optional[list[str]], typer.Option("--volume", "-v", help="bind mount a volume into the RUN containers")] = None,
    cap_add: Annotated[Optional[list[str]], typer.Option("--cap-add", help="add the specified capability when running")] = None,
    cap_drop: Annotated[Optional[list[str]], typer.Option("--cap-drop", help="drop the specified capability when running")] = None,
    memory: Annotated[Optional[str], typer.Option("--memory", "-m", help="memory limit (format: <number>[<unit>])")] = None,
    memory_swap: Annotated[Optional[str], typer.Option("--memory-swap", help="swap limit equal to memory plus swap")] = None,
    cpu_shares: Annotated[Optional[int], typer.Option("--cpu-shares", "-c", help="CPU shares (relative weight)")] = None,
    cgroup_parent: Annotated[Optional[str], typer.Option("--cgroup-parent", help="optional parent cgroup for the container")] = None,
    security_opt: Annotated[Optional[list[str]], typer.Option("--security-opt", help="security options (seccomp=..., no-new-privileges)")] = None,
    ulimit: Annotated[Optional[list[str]], typer.Option("--ulimit", help="ulimit options")] = None,
    device: Annotated[Optional[list[str]], typer.Option("--device", help="additional devices to provide")] = None,
    authfile: Annotated[Optional[str], typer.Option("--authfile", help="path of the authentication file (FROM pulls)")] = None,
    cert_dir: Annotated[Optional[str], typer.Option("--cert-dir", help="use certificates at the specified path to access the registry")] = None,
    creds: Annotated[Optional[str], typer.Option("--creds", help="use [username[:password]] for accessing the registry")] = None,
    tls_verify: Annotated[Optional[bool], typer.Option("--tls-verify/--no-tls-verify", help="require HTTPS and verify certificates when accessing the registry (default true)", show_default=False)] = None,
    disable_compression: Annotated[bool, typer.Option("--disable-compression/--no-disable-compression", "-D", help="don't compress layers (capsa stores built layers uncompressed either way; push compresses)")] = True,
    compress: Annotated[bool, typer.Option("--compress", help="a legacy option, which has no effect on the image")] = False,
    disable_content_trust: Annotated[bool, typer.Option("--disable-content-trust", help="This is a Docker specific option and is a NOOP")] = False,
) -> None:
    """Build an image using instructions from Containerfiles.

    Examples:
      capsa build .
      capsa build --creds=username:password -t imageName -f Containerfile.simple .
      capsa build --layers --force-rm --tag imageName .
    """
    from capsa.cli.remote import remote_options
    from capsa.engine import build as engine

    if not rm or not force_rm:
        raise UsageError(f"--{'rm' if not rm else 'force-rm'}=false is not supported: capsa always removes build containers",
                         hint="see docs/build.md")
    if squash and squash_all:
        raise UsageError("cannot specify --squash with --squash-all", hint="use one of them")
    if format not in ("oci", "docker"):
        raise UsageError(f"unrecognized image type {format!r}", hint="use --format oci or --format docker")
    policy = engine.pull_policy("always" if pull_always else "never" if pull_never else pull)
    opts = engine.BuildOptions(
        context=context or ".", files=list(file or []), tags=list(tag or []), build_args=_pairs(build_arg, "--build-arg"),
        target=target, use_cache=layers and not no_cache, layers=layers, pull=policy,
        labels=_pairs(label, "--label"), network=network, fmt=format, quiet=quiet, iidfile=iidfile,
        squash="all" if squash_all else "new" if squash else "",
        container=_container(env, volume, cap_add, cap_drop, memory, memory_swap, cpu_shares, cgroup_parent,
                             security_opt, ulimit, device),
        remote=remote_options(tls_verify, cert_dir, authfile, creds),
    )
    image = engine.build(session(ctx), opts, _Printer(quiet), stdin=sys.stdin.buffer)
    output.write(f"{image.id}\n")


class _Printer:
    """The engine's build events as podman's lines on standard output (nothing with -q)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __call__(self, kind: str, value: str) -> None:
        if self.quiet:
            return
        if kind == "cache":
            line = f"--> Using cache {value}"
        elif kind == "image":
            line = f"--> {value[:11]}"
        elif kind == "tagged":
            line = f"Successfully tagged {value}"
        else:  # step, commit, warning: the line itself
            line = value
        output.write(line + "\n")


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    """``KEY=VALUE`` values; a bare ``KEY`` takes the value of this environment's KEY
    (--build-arg, as podman) or the empty string (--label)."""
    import os

    out = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid {flag} {item!r}", hint=f"write {flag} KEY=VALUE")
        if not sep and flag == "--build-arg":
            if key not in os.environ:
                continue
            value = os.environ[key]
        out[key] = value
    return out


def _container(env: list[str] | None, volume: list[str] | None, cap_add: list[str] | None, cap_drop: list[str] | None,
               memory: str | None, memory_swap: str | None, cpu_shares: int | None, cgroup_parent: str | None,
               security_opt: list[str] | None, ulimit: list[str] | None, device: list[str] | None) -> dict[str, Any]:
    """The RUN containers' options, checked as ``run`` checks them (ContainerConfig fields)."""
    from capsa.container import flags
    from capsa.container.model import ContainerConfig

    out: dict[str, Any] = {}
    if env:
        out["env"] = flags.parse_env(list(env), [])
    if volume:
        out["mounts"] = [flags.parse_volume(v) for v in volume]
    if cap_add:
        out["cap_add"] = list(cap_add)
    if cap_drop:
        out["cap_drop"] = list(cap_drop)
    if memory:
        out["memory"] = flags.parse_size(memory, "--memory")
    if memory_swap:
        out["memory_swap"] = -1 if memory_swap == "-1" else flags.parse_size(memory_swap, "--memory-swap")
    if cpu_shares is not None:
        out["cpu_shares"] = cpu_shares
    if cgroup_parent:
        out["cgroup_parent"] = cgroup_parent
    if ulimit:
        flags.check_ulimits(list(ulimit))
        out["ulimits"] = list(ulimit)
    if device:
        from capsa.container.hostdevices import host_device

        for item in device:
            host_device(item)
        out["devices"] = list(device)
    if security_opt:
        probe = ContainerConfig(id="", name="", image_id=None, image_name="")
        flags.parse_security_opts(list(security_opt), probe)
        out.update(seccomp_profile=probe.seccomp_profile, no_new_privileges=probe.no_new_privileges)
    return out


def register(app: typer.Typer) -> None:
    app.command("build")(build)
    group = next(g.typer_instance for g in app.registered_groups if g.name == "image")
    group.command("build")(build)
