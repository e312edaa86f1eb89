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


ATTACH_STREAMS = ("stdin", "stdout", "stderr")
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "ftp_proxy", "no_proxy")


def parse_attach(values: list[str]) -> list[str]:
    """``-a STREAM`` (podman: stdin, stdout or stderr, any case) -> the streams, lower-cased."""
    out = []
    for value in values:
        stream = value.lower()
        if stream not in ATTACH_STREAMS:
            raise UsageError(f'invalid stream "{value}" for --attach - must be one of stdin, stdout, or stderr: '
                             "invalid argument", hint="use -a stdin, -a stdout or -a stderr")
        out.append(stream)
    return out


def read_label_files(paths: list[str]) -> list[str]:
    """``--label-file``: KEY=VALUE lines (blank lines and # comments skipped), as -l values."""
    out = []
    for path in paths:
        try:
            with open(path) as fh:
                lines = fh.read().splitlines()
        except OSError as exc:
            raise UsageError(f"unable to process labels: open {path}: {(exc.strerror or '').lower()}",
                             hint="give a readable file of KEY=VALUE lines") from None
        out += [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    return out


def host_env(http_proxy: bool, env_host: bool) -> list[str]:
    """The host's variables a container gets before ``-e``: all with ``--env-host``, else the
    proxy ones (``--http-proxy``, true by default, as podman)."""
    if env_host:
        return [f"{k}={v}" for k, v in os.environ.items()]
    if http_proxy:
        return [f"{k}={os.environ[k]}" for k in PROXY_VARS if k in os.environ]
    return []


def parse_umask(value: str) -> int:
    """``--umask 0027`` -> 0o027 (octal, at most 0777)."""
    try:
        mask = int(value, 8)
    except ValueError:
        mask = -1
    if not 0 <= mask <= 0o777:
        raise UsageError(f"running container create option: invalid umask string {value}: invalid argument", hint="give an octal mask, e.g. --umask 0027")
    return mask


def timezone_file(tz: str) -> str:
    """``--tz NAME`` (``local``: the host's) -> the host's zoneinfo file for it."""
    if tz == "local":
        return os.path.realpath("/etc/localtime")
    path = os.path.join("/usr/share/zoneinfo", tz)
    if tz.startswith("/") or ".." in tz.split("/") or not os.path.isfile(path):
        raise UsageError(f"running container create option: stat {path}: no such file or directory", hint="give a name of /usr/share/zoneinfo (Asia/Tokyo) or local")
    return os.path.realpath(path)


def parse_expose(values: list[str]) -> list[str]:
    """``--expose 80``, ``--expose 8000-8001/udp`` -> ``PORT/PROTO`` keys (the image's ExposedPorts form)."""
    out = []
    for value in values:
        ports, _, proto = value.partition("/")
        proto = proto or "tcp"
        first, _, last = ports.partition("-")
        if proto not in ("tcp", "udp", "sctp") or not first.isdigit() or (last and not last.isdigit()):
            raise UsageError(f"invalid port format for --expose: {value}", hint="use PORT[/PROTO] or START-END[/PROTO]")
        lo, hi = int(first), int(last or first)
        if not 0 < lo <= hi <= 65535:
            raise UsageError(f"invalid port range for --expose: {value}", hint="ports are 1 to 65535")
        out += [f"{port}/{proto}" for port in range(lo, hi + 1)]
    return out


def check_choices(o: dict, config_extra: dict) -> None:
    """The flags that take a few values, capsa taking those it can honour (with the reason for
    the others) and recording what the container needs in ``config_extra``."""
    def one_of(flag: str, value: str | None, choices: tuple[str, ...], why: dict[str, str] | None = None) -> None:
        if value is None:
            return
        if why and value in why:
            raise UsageError(f"{flag} {value} is not supported: {why[value]}", hint="see docs/containers.md")
        if value not in choices:
            raise UsageError(f"invalid {flag} {value!r}", hint=f"{flag} takes {', '.join(choices)}")

    one_of("--log-driver", o.get("log_driver"), ("k8s-file", "none"), {
        "journald": "capsa runs without systemd's journal",
        "passthrough": "capsa's monitor, not the caller, holds a container's output", "json-file": "use k8s-file"})
    if o.get("log_driver") == "none":
        config_extra["log_driver"], config_extra["log_path"] = "none", os.devnull
    for opt in o.get("log_opt") or []:
        key, sep, value = opt.partition("=")
        if key == "path" and sep and value:
            if config_extra.get("log_driver") != "none":
                if not os.path.isdir(os.path.dirname(os.path.abspath(value))):
                    raise UsageError(f"--log-opt path={value}: no such directory", hint="create its directory first")
                config_extra["log_path"] = os.path.abspath(value)
        elif key in ("max-size", "tag"):
            raise UsageError(f"--log-opt {key} is not supported: "
                             + ("capsa does not rotate a container's log" if key == "max-size"
                                else "the k8s-file log has no tag (podman's conmon refuses it too)"),
                             hint="see docs/containers.md")
        else:
            raise UsageError(f"invalid log option {opt!r}", hint="--log-opt takes path=FILE")
    one_of("--sdnotify", o.get("sdnotify"), ("container", "conmon", "ignore"))
    one_of("--seccomp-policy", o.get("seccomp_policy"), ("default", "image"))
    one_of("--systemd", (o.get("systemd") or "").lower() or None, ("true", "false"),
           {"always": "capsa does not run systemd in containers (no systemd mode)"})
    one_of("--userns", o.get("userns") or None, ("host",), {
        k: "capsa runs containers without a user namespace (as root)" for k in ("auto", "keep-id", "nomap", "private", "ns")})
    if o.get("userns") and o["userns"] != "host":
        raise UsageError(f"--userns {o['userns']} is not supported: capsa runs containers without a user namespace",
                         hint="use --userns host, or leave it out")
    one_of("--image-volume", o.get("image_volume"), ("ignore",), {
        "bind": "capsa does not mount the image's VOLUME paths (as ignore)",
        "tmpfs": "capsa does not mount the image's VOLUME paths (as ignore)"})
