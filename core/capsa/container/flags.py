"""Turning ``create``/``run`` flags into a :class:`ContainerConfig`, with podman's syntax and errors.

Everything that can be checked before a container exists is checked here (sizes, signals,
restart policies, volume and mount syntax, bind sources, env files), so bad input creates
nothing.
"""
from __future__ import annotations

import os

from capsa.container.model import ContainerConfig, MountSpec
from capsa.errors import UsageError

_SIZE = r"^(\d+(?:\.\d+)?)\s*([bkmgt]?)b?$"  # (compiled when a size is given: re costs every start ~4 ms)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}


def parse_size(text: str, flag: str) -> int:
    """``512m``, ``1g``, ``1048576`` -> bytes (binary units, as podman's --memory)."""
    import re

    m = re.match(_SIZE, text.strip(), re.I)
    if not m:
        raise UsageError(f"invalid size {text!r} for {flag}", hint=f"use a number with an optional unit b, k, m or g, e.g. {flag} 512m")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def parse_env(values: list[str], files: list[str]) -> list[str]:
    """``-e KEY=VALUE`` / ``-e KEY`` (taken from our environment) and ``--env-file`` lines."""
    out: list[str] = []
    for path in files:
        try:
            with open(path) as fh:
                lines = fh.read().splitlines()
        except OSError as exc:
            raise UsageError(f"--env-file {path}: {exc.strerror}", hint="give a readable file of KEY=VALUE lines") from None
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                out.extend(parse_env([line], []))
    for item in values:
        key, sep, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid environment variable {item!r}", hint="use -e KEY=VALUE")
        if sep:
            out.append(f"{key}={value}")
        elif key in os.environ:
            out.append(f"{key}={os.environ[key]}")
    return out


def parse_volume(spec: str) -> MountSpec:
    """``-v SRC:DST[:OPTS]`` (an absolute SRC is a bind mount, else a named volume) or ``-v DST``."""
    parts = spec.split(":")
    if len(parts) == 1:
        return MountSpec("volume", _dest(parts[0], spec), os.urandom(32).hex(), [])
    if len(parts) > 3 or not parts[0] or not parts[1]:
        raise UsageError(f"invalid volume specification {spec!r}", hint="use -v SOURCE:DESTINATION[:ro|rw]")
    source, dest = parts[0], _dest(parts[1], spec)
    options = [o for o in (parts[2].split(",") if len(parts) == 3 else []) if o]
    for opt in options:
        if opt not in ("ro", "rw", "z", "Z", "shared", "slave", "private", "rshared", "rslave", "rprivate", "nocopy",
                       "exec", "noexec", "suid", "nosuid", "dev", "nodev"):
            raise UsageError(f"invalid option {opt!r} in volume {spec!r}", hint="options are ro, rw, z, Z, nosuid, ...")
    options = [o for o in options if o not in ("z", "Z", "nocopy")]
    if source.startswith("/") or source.startswith("."):
        return MountSpec("bind", dest, _bind_source(source), options)
    return MountSpec("volume", dest, source, options)


def parse_mount(spec: str) -> MountSpec:
    """``--mount type=bind|volume|tmpfs,source=...,target=...[,readonly][,tmpfs-size=...]``."""
    fields: dict[str, str] = {}
    flags: list[str] = []
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        if sep:
            fields[key.strip().lower()] = value.strip()
        elif item.strip():
            flags.append(item.strip().lower())
    kind = fields.get("type", "volume")
    target = fields.get("target") or fields.get("destination") or fields.get("dst")
    if not target:
        raise UsageError(f"--mount {spec!r} has no target", hint="add target=/path/in/container")
    source = fields.get("source") or fields.get("src") or ""
    readonly = "readonly" in flags or "ro" in flags or fields.get("readonly", "false").lower() in ("true", "1") \
        or fields.get("ro", "false").lower() in ("true", "1")
    options = ["ro"] if readonly else []
    if kind == "bind":
        if not source:
            raise UsageError(f"--mount {spec!r}: a bind mount needs source=", hint="add source=/host/path")
        return MountSpec("bind", _dest(target, spec), _bind_source(source), options)
    if kind == "volume":
        return MountSpec("volume", _dest(target, spec), source or os.urandom(32).hex(), options)
    if kind == "tmpfs":
        if "tmpfs-size" in fields:
            options.append(f"size={fields['tmpfs-size']}")
        options.append(f"mode={fields.get('tmpfs-mode', '1777')}")  # writable by every user, as docker's
        return MountSpec("tmpfs", _dest(target, spec), "tmpfs", options)
    if kind == "image":  # an image's root filesystem, read-only (see capsa.container.imagemount)
        if not source:
            raise UsageError(f"--mount {spec!r}: an image mount needs source=IMAGE", hint="add source=IMAGE")
        if fields.get("rw", "false").lower() in ("true", "1") or "rw" in flags:
            raise UsageError("--mount type=image,rw=true is not supported: capsa mounts an image read-only",
                             hint="drop rw=true, or copy the files into a volume")
        return MountSpec("image", _dest(target, spec), source, ["ro"])
    raise UsageError(f"invalid mount type {kind!r}", hint="use type=bind, type=volume, type=tmpfs or type=image")


def parse_tmpfs(spec: str) -> MountSpec:
    dest, _, opts = spec.partition(":")
    options = [o for o in opts.split(",") if o]
    if not any(o.startswith("mode=") for o in options):
        options.append("mode=1777")  # writable by every user, as docker's --tmpfs
    return MountSpec("tmpfs", _dest(dest, spec), "tmpfs", options)


def _dest(path: str, spec: str) -> str:
    if not path.startswith("/"):
        raise UsageError(f"invalid container path {path!r} in {spec!r}", hint="the destination must be an absolute path")
    return os.path.normpath(path)


def _bind_source(source: str) -> str:
    path = os.path.abspath(source)
    if not os.path.exists(path):
        raise UsageError(f"statfs {path}: no such file or directory", hint="create the host path first, or fix -v/--mount")
    return path


def parse_restart(policy: str) -> tuple[str, int]:
    name, _, count = policy.partition(":")
    if name in ("", "no"):
        return "no", 0
    if name == "always" and not count:
        return "always", 0
    if name == "on-failure":
        if count and not count.isdigit():
            raise UsageError(f"invalid restart retry count {count!r}", hint="use on-failure:N with N a number")
        return "on-failure", int(count or 0)
    if name == "unless-stopped" and not count:
        return "always", 0
    raise UsageError(f"invalid restart policy {policy!r}", hint="use no, on-failure[:N], always or unless-stopped")


def parse_labels(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        key, _, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid label {item!r}", hint="use --label KEY=VALUE")
        out[key] = value
    return out


def parse_security_opts(values: list[str], config: ContainerConfig) -> None:
    for opt in values:
        key, sep, value = opt.partition("=")
        if key.startswith("no-new-privileges:"):  # (podman's no-new-privileges:true|false form)
            key, sep, value = opt.partition(":")
        if key == "no-new-privileges" and value in ("", "true"):
            config.no_new_privileges = True
        elif key == "no-new-privileges" and value == "false":
            config.no_new_privileges = False
        elif key == "seccomp" and sep:
            if value != "unconfined" and not os.path.isfile(value):
                raise UsageError(f"opening seccomp profile failed: open {value}: no such file or directory",
                                 hint="give --security-opt seccomp=unconfined or a JSON profile file")
            config.seccomp_profile = value if value == "unconfined" else os.path.abspath(value)
        elif key in ("label", "apparmor"):
            continue  # as podman on a host without SELinux or AppArmor: nothing to apply
        elif key in ("mask", "unmask") and sep and value:
            paths = value.split(":")
            if not all(p.startswith("/") or (key == "unmask" and p == "ALL") for p in paths):
                raise UsageError(f"invalid --security-opt {opt!r}: the paths must be absolute",
                                 hint=f"use --security-opt {key}=/path1:/path2" + (" or unmask=ALL" if key == "unmask" else ""))
            config.extra.setdefault(key, []).extend(paths)
        elif key == "proc-opts" and sep and value:
            config.extra.setdefault("proc_opts", []).extend(o for o in value.split(",") if o)
        elif key == "systempaths" and value == "unconfined":
            config.extra.setdefault("unmask", []).append("ALL")
        else:
            raise UsageError(f"invalid --security-opt {opt!r}", hint="supported: seccomp=unconfined|PROFILE.json, "
                             "no-new-privileges[:true|:false], label=..., apparmor=..., mask=PATHS, unmask=PATHS|ALL, "
                             "proc-opts=OPTIONS")


def apply_resource_flags(o: dict, config: ContainerConfig) -> None:  # type: ignore[type-arg]
    """The resource, device, namespace and health check flags (:mod:`capsa.container.resflags`)."""
    from capsa.container import resflags

    resflags.apply(o, config)


def check_ulimits(values: list[str]) -> None:
    if not values:
        return
    import resource

    for item in values:
        name, sep, limits = item.partition("=")
        attr = f"RLIMIT_{name.upper()}"
        if not sep or not hasattr(resource, attr):
            raise UsageError(f"invalid ulimit {item!r}", hint="use --ulimit NAME=SOFT[:HARD], e.g. nofile=1024:2048")
        soft, _, hard = limits.partition(":")
        try:
            values_ = [int(v) for v in (soft, hard or soft)]
        except ValueError:
            raise UsageError(f"invalid ulimit value {item!r}", hint="limits are integers (-1 for unlimited)") from None
        _, host_hard = resource.getrlimit(getattr(resource, attr))
        for v in values_:
            if host_hard != resource.RLIM_INFINITY and (v < 0 or v > host_hard):
                raise UsageError(f"ulimit {item}: {v} exceeds the hard limit {host_hard} of this host",
                                 hint="capsa cannot raise a limit above its own hard limit (no CAP_SYS_RESOURCE)")
        if values_[0] > values_[1] >= 0:
            raise UsageError(f"ulimit {item}: soft limit above hard limit", hint="use SOFT:HARD with SOFT <= HARD")
