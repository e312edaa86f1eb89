"""Derive a container's OCI runtime spec (``config.json``) from its record and its image.

The spec is plain OCI runtime-spec 1.0.2 (validated in the tests against the runtime-spec JSON
schemas), so capsa's ``linux`` isolation driver, runc or crun (the ``oci`` driver) all run the
same bundle. Capabilities, the seccomp filter and the devices come from :mod:`capsa.security`,
resolved here for the container: the bundle carries no condition a runtime would have to know. The
defaults mirror what podman 4.3 generates on this kind of host (see docs and the tests for the
values observed); DESIGN.md section 5 is the list of security defaults.

Two runc/crun extensions appear, as in podman's own specs: the ``tmpcopyup`` tmpfs option
(copy the image's directory into the new tmpfs) and the ``cgroup`` mount type for
/sys/fs/cgroup. A runtime must understand both.
"""
from __future__ import annotations

import os

from capsa.container.etcfiles import GeneratedFiles, container_hostname
from capsa.container.model import ContainerConfig, MountSpec
from capsa.container.userinfo import resolve_user
from capsa.errors import UsageError
from capsa.security.caps import process_caps
from capsa.security.devices import cgroup_rules, default_devices, device

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

OCI_VERSION = "1.0.2"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
INIT_DEST = "/run/capsa-init"
UINT64_MAX = 2**64 - 1

MASKED_PATHS = ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/sched_debug",
                "/proc/scsi", "/proc/timer_list", "/proc/timer_stats", "/sys/firmware",
                "/sys/devices/virtual/powercap", "/proc/interrupts"]
READONLY_PATHS = ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
NAMESPACES = ["pid", "network", "ipc", "uts", "mount", "cgroup"]
READ_ONLY_TMPFS = ["/run", "/tmp", "/var/tmp"]
TMPFS_DEFAULTS = ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]
RESOURCE_KEYS = {"resources", "cgroup_conf", "oom_score_adj", "sysctl", "shm_size", "ipc_mode", "group_add", "mask",
                 "unmask", "proc_opts"}  # config.extra keys of capsa.container.resflags
PROPAGATIONS = {"private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"}


def build_spec(config: ContainerConfig, image_config: dict, rootfs: str, files: GeneratedFiles, *,
               init_path: str | None = None, netns_path: str = "", ns_paths: dict[str, str] | None = None) -> dict:
    """The OCI runtime spec for ``config`` on ``rootfs`` (the mounted root filesystem).

    ``image_config`` is the image config's ``config`` object (Env, Entrypoint, Cmd, WorkingDir,
    User) or the whole image config holding it; {} with ``--rootfs``. ``files`` are the
    generated /etc files (:func:`capsa.container.etcfiles.write_files`). ``init_path`` is the
    host's catatonit, needed with ``config.init``. ``netns_path``: the network namespace to join
    (``--network container:NAME``: the running target's ``/proc/PID/ns/net``). A volume mount's ``source`` must already be
    the volume's host directory (the caller resolves names). ``ns_paths``: the other namespaces
    to join (OCI type -> path: a pod's infra's, see ``ContainerConfig.namespaces``; "" : the
    host's, no namespace of its own). Bad user input raises UsageError.
    """
    image = image_config.get("config") if isinstance(image_config.get("config"), dict) else image_config
    image = image or {}
    args = resolve_args(config, image)
    mounts: list[dict] = []
    if config.init:
        if not init_path or not os.path.isfile(init_path):
            raise UsageError("--init needs catatonit, which was not found" + (f" at {init_path}" if init_path else ""),
                             "install catatonit (apt-get install catatonit) or run without --init")
        args = [INIT_DEST, "--", *args]
    user = resolve_user(rootfs, config.user or image.get("User") or "")
    if config.user.partition(":")[0].isdigit() or config.extra.get("hostuser"):  # (podman's --passwd entries)
        from capsa.container.passwd import write_entries

        mounts += write_entries(config, rootfs, os.path.dirname(files.hosts), user.uid, user.gid)
    caps = process_caps(config.cap_add, config.cap_drop, config.privileged, user.uid)
    hostname = container_hostname(config)
    process: dict[str, Any] = {
        "terminal": config.tty,
        "user": {"uid": user.uid, "gid": user.gid, "umask": config.extra.get("umask", 0o022)},
        "args": args,
        "env": _env(config, image, hostname, user.home),
        "cwd": container_cwd(config, image),
        "capabilities": caps,
        "rlimits": resolve_rlimits(config.ulimits),
        "noNewPrivileges": config.no_new_privileges,
    }
    if user.additional_gids:
        process["user"]["additionalGids"] = user.additional_gids
    if config.init:
        mounts.append({"destination": INIT_DEST, "type": "bind", "source": init_path,
                       "options": ["bind", "ro", "rprivate"]})
    joined = dict(ns_paths or {})
    if netns_path:
        joined["network"] = netns_path
    elif config.network == "host":
        joined["network"] = ""
    linux: dict[str, Any] = {
        "namespaces": [({"type": ns, "path": joined[ns]} if joined.get(ns) else {"type": ns})
                       for ns in NAMESPACES if joined.get(ns, "x")],
        "resources": _resources(config),
        "cgroupsPath": "",
        "devices": _host_devices() if config.privileged else default_devices(),
    }
    if config.devices:
        from capsa.container.hostdevices import add_devices

        add_devices(linux, config.devices)
    if config.extra.get("personality"):  # --personality (OCI linux.personality)
        linux["personality"] = {"domain": config.extra["personality"]}
    if config.network != "host" and not netns_path:
        linux["sysctl"] = {"net.ipv4.ping_group_range": "0 0"}  # podman's value
    if not config.privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
        seccomp = _seccomp(config, caps["bounding"])
        if seccomp is not None:
            linux["seccomp"] = seccomp
    annotations = dict(config.annotations)
    annotations.update({"io.capsa.cgroup-parent": config.cgroup_parent, "io.capsa.container-name": config.name})
    all_mounts = build_mounts(config, files, extra=mounts)
    from capsa.container.workdir import ensure_workdir

    ensure_workdir(rootfs, process["cwd"], from_user=bool(config.workdir), container_id=config.id,
                   mounts=[m["destination"] for m in all_mounts])
    spec = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": rootfs, "readonly": config.read_only},
        "hostname": hostname,
        "mounts": all_mounts,
        "annotations": annotations,
        "linux": linux,
    }
    if "uts" in joined:  # the joined namespace's hostname (a pod's): a runtime must not set one
        del spec["hostname"]
    if config.extra.keys() & RESOURCE_KEYS:
        from capsa.container.resspec import apply_to_spec

        apply_to_spec(spec, config, rootfs)
    return spec


def resolve_args(config: ContainerConfig, image: dict) -> list[str]:
    """Entrypoint + command, podman's way: ``--entrypoint`` drops the image's Cmd (unless it is
    an empty list); ``[""]`` as entrypoint means none; a given command replaces the image's."""
    entrypoint = config.entrypoint if config.entrypoint is not None else list(image.get("Entrypoint") or [])
    args = [] if entrypoint == [""] else list(entrypoint)
    cmd = config.cmd
    if not cmd and not config.entrypoint:
        cmd = image.get("Cmd") or []
    args += list(cmd or [])
    if not args:
        raise UsageError("no command specified",
                         "give a command after the image name, or an entrypoint with --entrypoint")
    return args


def container_env(config: ContainerConfig, image: dict) -> dict[str, str]:
    """The environment a container's process gets before HOME and HOSTNAME: PATH, TERM and
    ``container`` by default, then the image's, then ``-e``/``--env-file`` (``commit`` keeps it)."""
    env: dict[str, str] = {}
    extra = config.extra
    defaults = [] if extra.get("unsetenv_all") else [DEFAULT_PATH, "TERM=xterm", "container=capsa", *(image.get("Env") or [])]
    for item in defaults:
        key, sep, value = item.partition("=")
        if sep and key:
            env[key] = value
    for key in extra.get("unsetenv") or []:
        env.pop(key, None)
    for item in extra.get("env_merge") or []:  # --env-merge KEY=${KEY}...: over the defaults
        merged = _merge_env(item, env)
        if merged is not None:
            env[item.partition("=")[0]] = merged
    for item in config.env:
        key, sep, value = item.partition("=")
        if sep and key:  # "KEY" alone was resolved (or dropped) by the CLI
            env[key] = value
    return env


def _merge_env(item: str, env: dict[str, str]) -> str | None:
    """``KEY=...${NAME}...`` with each ``${NAME}`` from ``env``; None (podman drops the
    variable) when a NAME is not set."""
    import re

    _key, _, value = item.partition("=")
    names = re.findall(r"\$\{(\w+)\}", value)
    if any(name not in env for name in names):
        return None
    return re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], value)


def _env(config: ContainerConfig, image: dict, hostname: str, home: str | None) -> list[str]:
    env = container_env(config, image)
    env.setdefault("HOME", home or "/")  # (podman's HOME for a user without a passwd entry)
    env.setdefault("HOSTNAME", hostname)
    return [f"{key}={value}" for key, value in env.items()]


def container_cwd(config: ContainerConfig, image: dict) -> str:
    """The container's working directory: ``-w``, else the image's, else ``/``."""
    if config.workdir:
        if not config.workdir.startswith("/"):
            raise UsageError(f"workdir {config.workdir!r} is not an absolute path", "use -w /some/dir")
        return os.path.normpath(config.workdir)
    workdir = image.get("WorkingDir") or "/"
    return os.path.normpath("/" + workdir.lstrip("/"))


def resolve_rlimits(ulimits: list[str]) -> list[dict]:
    """``--ulimit name=soft[:hard]`` (-1 or "unlimited": infinity) over the defaults podman uses
    as root: RLIMIT_NOFILE and RLIMIT_NPROC at the current hard limits. No value may exceed the
    current hard limit: raising it needs CAP_SYS_RESOURCE, which capsa does not assume."""
    import resource

    def current_hard(kind: int) -> int:
        hard = resource.getrlimit(kind)[1]
        return UINT64_MAX if hard == resource.RLIM_INFINITY else hard

    limits: dict[str, dict] = {}
    for name in ("NOFILE", "NPROC"):
        hard = current_hard(getattr(resource, f"RLIMIT_{name}"))
        limits[name] = {"type": f"RLIMIT_{name}", "hard": hard, "soft": hard}
    for item in ulimits:
        name, sep, values = item.partition("=")
        name = name.strip().upper().removeprefix("RLIMIT_")
        kind = getattr(resource, f"RLIMIT_{name}", None) if name.isalpha() else None
        if not sep or kind is None:
            raise UsageError(f"invalid ulimit {item!r}", "use --ulimit name=soft[:hard], e.g. nofile=1024:2048")
        soft_text, _, hard_text = values.partition(":")
        soft = _rlimit_value(soft_text, item)
        hard = _rlimit_value(hard_text, item) if hard_text else soft
        if soft > hard:
            raise UsageError(f"ulimit {item!r}: soft limit {soft_text} is above the hard limit {hard_text}",
                             "give soft <= hard")
        limit = current_hard(kind)
        if hard > limit:
            shown = "unlimited" if limit == UINT64_MAX else str(limit)
            raise UsageError(f"ulimit {item!r} is above this process's hard limit ({shown})",
                             "choose a value at or below the current hard limit (see ulimit -H)")
        limits[name] = {"type": f"RLIMIT_{name}", "hard": hard, "soft": soft}
    return list(limits.values())


def _rlimit_value(text: str, item: str) -> int:
    text = text.strip()
    if text in ("-1", "unlimited"):
        return UINT64_MAX
    if not text.isdigit():
        raise UsageError(f"invalid ulimit {item!r}", "values are numbers, -1 or unlimited")
    return int(text)


def _resources(config: ContainerConfig) -> dict[str, Any]:
    res: dict[str, Any] = {"devices": cgroup_rules(config.privileged)}
    if config.memory is not None:
        if config.memory <= 0:
            raise UsageError(f"invalid memory limit {config.memory}", "use -m with a positive size, e.g. -m 64m")
        memory: dict[str, int] = {"limit": config.memory}
        swap = config.memory_swap
        if swap is None or swap == 0:
            memory["swap"] = 2 * config.memory  # podman and Docker: as much swap as memory
        elif swap > 0:
            if swap < config.memory:
                raise UsageError("--memory-swap must be at least --memory (it is memory plus swap)",
                                 "set --memory-swap >= --memory, or -1 for unlimited swap")
            memory["swap"] = swap
        res["memory"] = memory
    elif config.memory_swap not in (None, 0, -1):
        raise UsageError("you should always set a memory limit when using a memoryswap limit",
                         "add -m/--memory")
    cpu: dict[str, int] = {}
    if config.cpus:
        ncpu = os.cpu_count() or 1
        if not 0.01 <= config.cpus <= ncpu:
            raise UsageError(f"range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available",
                             "lower --cpus")
        cpu.update(quota=round(config.cpus * 100000), period=100000)
    if config.cpu_shares:
        if config.cpu_shares < 0:
            raise UsageError(f"invalid --cpu-shares {config.cpu_shares}", "use a positive weight (1024 is the default)")
        cpu["shares"] = config.cpu_shares
    if cpu:
        res["cpu"] = cpu
    if config.pids_limit is not None and config.pids_limit > 0:
        res["pids"] = {"limit": config.pids_limit}
    return res


def _host_devices() -> list[dict]:
    """Every device node of the host's /dev, as podman gives a privileged container (minus
    console and ptmx, which the runtime sets up, and pts/shm/mqueue, which are mounts)."""
    import stat

    found = []
    for top, dirs, names in os.walk("/dev"):
        dirs[:] = sorted(d for d in dirs if not (top == "/dev" and d in ("pts", "shm", "mqueue", "fd")))
        for name in sorted(names):
            path = os.path.join(top, name)
            if path in ("/dev/console", "/dev/ptmx"):
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue
            kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else None
            if kind:
                found.append(device(path, kind, os.major(st.st_rdev), os.minor(st.st_rdev), st.st_mode & 0o777))
    return found or default_devices()


def build_mounts(config: ContainerConfig, files: GeneratedFiles, extra: list[dict] | None = None) -> list[dict]:
    """podman's default mounts, then ``extra`` (the init binary), the generated /etc files and
    the user's mounts in order; a user mount replaces any default at the same destination, and
    one beneath a user mount's destination (/run/capsa-init under ``-v vol:/run``) follows it,
    so that it is not hidden."""
    sysopt = "rw" if config.privileged else "ro"
    mounts: list[dict] = [
        _mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
        _mount("/dev", "tmpfs", "tmpfs", ["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"]),
        _mount("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                                                "gid=5"]),
        _mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        _mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        _mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", sysopt]),
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", ["rprivate", "nosuid", "noexec", "nodev", "relatime", sysopt]),
    ]
    if config.read_only and config.extra.get("read_only_tmpfs", True):
        mounts += [_mount(dest, "tmpfs", "tmpfs", list(TMPFS_DEFAULTS)) for dest in READ_ONLY_TMPFS]
    mounts += extra or []
    generated = [(files.hosts if not config.extra.get("no_hosts") else "", "/etc/hosts"), (files.hostname, "/etc/hostname"),
                 (files.resolv_conf, "/etc/resolv.conf"), (files.containerenv, "/run/.containerenv")]
    chroots = [d for d in config.extra.get("chrootdirs") or [] if d != "/"]
    for source, dest in generated:
        if source:
            options = ["rbind", "rprivate"] + (["ro", "nosuid", "noexec", "nodev"] if config.read_only else [])
            mounts.append(_mount(dest, "bind", source, options))
            if dest in ("/etc/hosts", "/etc/resolv.conf"):  # --chrootdirs: podman's files there too
                mounts += [_mount(d + dest, "bind", source, list(options)) for d in chroots]
    user = [user_mount(m) for m in config.mounts]
    seen: set[str] = set()
    for m in user:
        if m["destination"] in seen:
            raise UsageError(f"duplicate mount destination {m['destination']}", "mount each path only once")
        seen.add(m["destination"])
    kept = [m for m in mounts if m["destination"] not in seen]
    parents = tuple(d.rstrip("/") + "/" for d in seen)
    beneath = [m for m in kept if m["destination"].startswith(parents)]
    return [m for m in kept if m not in beneath] + user + beneath


def _mount(dest: str, kind: str, source: str, options: list[str]) -> dict:
    return {"destination": dest, "type": kind, "source": source, "options": options}


def user_mount(spec: MountSpec) -> dict:
    """One user mount in OCI form (podman's options); a missing bind or volume source raises."""
    dest = spec.destination
    if not dest.startswith("/"):
        raise UsageError(f"mount destination {dest!r} is not an absolute path", "use -v SRC:/absolute/path")
    dest = os.path.normpath(dest)
    options = [o for o in spec.options if o and o not in ("z", "Z")]
    if spec.type == "tmpfs":
        return _mount(dest, "tmpfs", "tmpfs", _merge_options(options, TMPFS_DEFAULTS))
    if spec.type == "overlay":  # (--mount type=image of a layered image: its layers, read-only)
        return _mount(dest, "overlay", "overlay", options)
    if spec.type not in ("bind", "volume"):
        raise UsageError(f"unknown mount type {spec.type!r}", "use bind, volume or tmpfs")
    source = spec.source
    if not source.startswith("/"):
        raise UsageError(f"{spec.type} mount source {source!r} is not an absolute host path",
                         "give an absolute path (a volume must be resolved to its directory first)")
    if not os.path.exists(source):
        raise UsageError(f"{spec.type} mount source {source}: no such file or directory",
                         "create the file or directory first, or fix the path")
    defaults = ["rw", "rprivate"] + (["nosuid", "nodev"] if spec.type == "volume" else []) + ["rbind"]
    return _mount(dest, "bind", os.path.normpath(source), _merge_options(options, defaults))


def _merge_options(given: list[str], defaults: list[str]) -> list[str]:
    """``given`` then each default the given options do not already decide."""
    opposite = {"rw": "ro", "ro": "rw", "nosuid": "suid", "nodev": "dev", "noexec": "exec",
                "rbind": "bind", "tmpcopyup": "notmpcopyup"}
    out = [o for o in given if o != "notmpcopyup"]
    for default in defaults:
        if default in given or opposite.get(default) in given:
            continue
        if default in PROPAGATIONS and PROPAGATIONS & set(given):
            continue
        out.append(default)
    return out


def _seccomp(config: ContainerConfig, bounding: list[str]) -> dict | None:
    if config.seccomp_profile == "unconfined":
        return None
    from capsa.security import seccomp

    profile = seccomp.load_profile(config.seccomp_profile) if config.seccomp_profile else seccomp.default_profile()
    return seccomp.to_oci(profile, bounding)
