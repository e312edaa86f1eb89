"""The files capsa generates for a container and bind-mounts into it, as podman does.

``/etc/hosts``, ``/etc/hostname``, ``/etc/resolv.conf`` and ``/run/.containerenv`` are written
(atomically) into a per-container directory; :func:`capsa.container.spec.build_spec` mounts them.

What podman 4.3 writes (observed on this kind of host), mirrored here:

- hosts: the host's /etc/hosts as the base, then ``127.0.0.1 <hostname> <name>`` for a private
  network namespace (the container IP instead once a network driver gives one); with
  ``--network host`` no hostname line (the host's own names apply). Podman's
  ``host.containers.internal`` line is left out: with ``--network none`` it cannot be reached.
- hostname: the hostname followed by a newline.
- resolv.conf: with ``--network none`` podman writes none and mounts none, so the image's own
  file stays: ``GeneratedFiles.resolv_conf`` is then "". With ``host`` the host's file as it
  is; with any other network the host's file without loopback nameservers (they would point
  into the container itself), falling back to 8.8.8.8/8.8.4.4 when none is left.
- .containerenv: empty (its presence says "in a container"), as podman's; for a
  ``--privileged`` container podman's key="value" lines (engine, name, id, image, imageid,
  rootless).
"""
from __future__ import annotations

import os

from capsa import __version__
from capsa.container.model import ContainerConfig
from capsa.fsutil import atomic_write, remove_file
from capsa.fastpath.record import record

FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")


@record
class GeneratedFiles:
    """Host paths of the generated files; ``resolv_conf`` is "" when none is to be mounted."""

    hosts: str
    hostname: str
    resolv_conf: str
    containerenv: str


def container_hostname(config: ContainerConfig) -> str:
    """``--hostname``, else the first 12 characters of the id (podman's and Docker's rule)."""
    return config.hostname or config.id[:12]


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(1 << 20)
    except OSError:
        return ""


def own_names(config: ContainerConfig) -> str:
    """The names of the container's own /etc/hosts line: its hostname, then its name."""
    own = container_hostname(config)
    return own if not config.name or config.name == own else f"{own} {config.name}"


def hosts_text(config: ContainerConfig, base: str, ip: str | None = None) -> str:
    """/etc/hosts: ``base`` (the host's hosts file text), localhost ensured, the ``--add-host``
    lines, then this container (127.0.0.1 until its network driver gave it an address: the
    monitor then rewrites that line, :mod:`capsa.container.netnames`)."""
    lines = [line.rstrip() for line in base.splitlines() if line.strip()]
    names = {name for line in lines if not line.lstrip().startswith("#") for name in line.split()[1:]}
    head = []
    if "localhost" not in names:
        head = ["127.0.0.1\tlocalhost", "::1\tlocalhost"]
    out = head + lines
    out += [f"{addr}\t{names}" for names, addr in (config.extra.get("net") or {}).get("add_hosts", [])]
    if config.network != "host":
        out.append(f"{ip or '127.0.0.1'}\t{own_names(config)}")
    return "\n".join(out) + "\n"


def resolv_text(network: str, base: str, net: dict | None = None) -> str | None:
    """/etc/resolv.conf for ``network`` from the host's file text; None: mount none. ``net``:
    the container's ``extra["net"]``: ``dns`` replaces the nameservers, ``dns_search`` the
    search line, ``dns_options`` the options line (podman's --dns, --dns-search, --dns-option)."""
    net = net or {}
    if net.get("dns") or net.get("dns_search") or net.get("dns_options"):
        return _resolv_with(resolv_text("bridge", base) if network != "host" else base, net)
    if network == "none":
        return None
    if network == "host":
        return base if base.endswith("\n") or not base else base + "\n"
    kept: list[str] = []
    servers = 0
    for line in base.splitlines():
        words = line.split()
        if words[:1] == ["nameserver"] and len(words) > 1:
            addr = words[1]
            if addr.startswith("127.") or addr == "::1":
                continue
            servers += 1
        kept.append(line)
    if not servers:
        kept += [f"nameserver {ns}" for ns in FALLBACK_NAMESERVERS]
    return "\n".join(kept) + "\n"


def _resolv_with(base: str | None, net: dict) -> str:
    """``base`` (a resolv.conf text) with the lines the flags in ``net`` replace."""
    replaced = {"nameserver": "dns", "search": "dns_search", "domain": "dns_search", "options": "dns_options"}
    kept = [line for line in (base or "").splitlines()
            if not (line.split()[:1] and line.split()[0] in replaced and net.get(replaced[line.split()[0]]))]
    if net.get("dns_search"):
        kept.append("search " + " ".join(net["dns_search"]))
    kept += [f"nameserver {ns}" for ns in net.get("dns", [])]
    if net.get("dns_options"):
        kept.append("options " + " ".join(net["dns_options"]))
    return "\n".join(kept) + "\n"


def containerenv_text(config: ContainerConfig, image_name: str) -> str:
    """podman's /run/.containerenv: empty, but for a ``--privileged`` container its key="value"
    lines (``rootless=0`` since capsa runs as root)."""
    if not config.privileged:
        return ""
    rootless = 0 if os.geteuid() == 0 else 1
    fields = [("engine", f"capsa-{__version__}"), ("name", config.name), ("id", config.id),
              ("image", image_name), ("imageid", config.image_id or "")]
    body = "".join(f'{key}="{value}"\n' for key, value in fields)
    return body + f"rootless={rootless}\n"


def write_files(directory: str | os.PathLike[str], config: ContainerConfig, image_name: str, *, ip: str | None = None,
                host_hosts: str = "/etc/hosts", host_resolv: str = "/etc/resolv.conf") -> GeneratedFiles:
    """Write the container's hosts, hostname, resolv.conf and .containerenv into ``directory``.

    Each write is atomic, so calling it again (a restart, a network that now has an ``ip``)
    replaces the files whole. ``host_hosts``/``host_resolv`` are the bases read from the host.
    """
    os.makedirs(directory, exist_ok=True)
    hosts = os.path.join(directory, "hosts")
    hostname = os.path.join(directory, "hostname")
    resolv = os.path.join(directory, "resolv.conf")
    containerenv = os.path.join(directory, ".containerenv")
    atomic_write(hosts, hosts_text(config, _read(host_hosts), ip).encode(), durable=False)
    atomic_write(hostname, (container_hostname(config) + "\n").encode(), durable=False)
    resolv_conf = resolv_text(config.network, _read(host_resolv), config.extra.get("net"))
    if resolv_conf is None:
        remove_file(resolv)
    else:
        atomic_write(resolv, resolv_conf.encode(), durable=False)
    atomic_write(containerenv, containerenv_text(config, image_name).encode(), durable=False)
    return GeneratedFiles(hosts=hosts, hostname=hostname, resolv_conf="" if resolv_conf is None else resolv,
                          containerenv=containerenv)
