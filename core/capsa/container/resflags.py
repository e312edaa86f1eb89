"""The resource, device, namespace and health check flags of ``run``/``create``, podman's way.

:func:`apply` checks them (bad input: UsageError, exit 125, nothing made) and records them on
the ContainerConfig: OCI fragments in ``extra["resources"]`` (merged into
``linux.resources``), ``extra["oom_score_adj"]``, ``extra["sysctl"]``, ``extra["shm_size"]``,
``extra["group_add"]``, ``extra["cgroup_conf"]``; namespace modes in ``config.namespaces``
(``host``, ``container:NAME`` resolved later to an id by the engine, ``ns:PATH``; ``ipc``
also ``none``/``shareable``); the health check in ``extra["healthcheck"]`` (podman's
``Config.Healthcheck`` shape, durations in nanoseconds). :func:`apply_to_spec` puts them in
the OCI spec, so the ``linux`` driver and crun/runc (the ``oci`` driver) get the same thing.
"""
from __future__ import annotations

import os

from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.container.model import ContainerConfig

NS_FLAGS = (("pid", "pid"), ("ipc", "ipc"), ("uts", "uts"), ("cgroupns", "cgroup"))
NS_MODES = ("host", "private")
HEALTH_DEFAULTS = {"interval": "30s", "timeout": "30s", "start_period": "0s", "retries": 3}
ON_FAILURE = ("none", "kill", "restart", "stop")
KERNEL_MEMORY_WARNING = "The --kernel-memory flag is no longer supported. This flag is a noop."
BLKIO_WEIGHT_WARNING = "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."


def warn(message: str) -> None:
    """A warning on standard error in podman's (logrus) form."""
    import sys
    import time

    sys.stderr.write(f'time="{time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}" level=warning msg="{message}"\n')


def apply(o: dict[str, Any], config: ContainerConfig) -> None:
    """Check the flags of this module in ``o`` (parsed options) and record them on ``config``."""
    res: dict[str, Any] = {}
    _cpu(o, res)
    _memory(o, res)
    _blkio(o, res)
    if o.get("device_cgroup_rule"):
        res["devices"] = [parse_cgroup_rule(r) for r in o["device_cgroup_rule"]]
    if res:
        config.extra["resources"] = res
    if o.get("kernel_memory"):
        warn(KERNEL_MEMORY_WARNING)
    if o.get("oom_score_adj") is not None:
        if not -1000 <= o["oom_score_adj"] <= 1000:
            raise UsageError(f"oom_score_adj {o['oom_score_adj']} is not in the range [-1000, 1000]",
                             hint="give --oom-score-adj between -1000 and 1000")
        config.extra["oom_score_adj"] = o["oom_score_adj"]
    if o.get("shm_size"):
        from capsa.container.flags import parse_size

        size = parse_size(o["shm_size"], "--shm-size")
        if size <= 0:
            raise UsageError(f"invalid --shm-size {o['shm_size']}", hint="give a positive size, e.g. --shm-size 128m")
        ipc = o.get("ipc") or ""
        if ipc in ("host", "none") or ipc.startswith("container:"):  # (podman's words, Go's struct print)
            raise UsageError(f"invalid config provided: cannot set shmsize when running in the "
                             f"{{{ipc.partition(':')[0]} {ipc.partition(':')[2]}}} IPC Namespace",
                             hint="drop --shm-size: that /dev/shm is not the container's own")
        config.extra["shm_size"] = size
    if o.get("sysctl"):
        config.extra["sysctl"] = parse_sysctls(o["sysctl"], config.network, o.get("ipc") or "")
    if o.get("group_add"):
        for group in o["group_add"]:
            if group == "keep-groups":
                raise UsageError("--group-add keep-groups is not supported: it keeps a rootless user's groups "
                                 "(crun's run.oci.keep_original_groups); capsa runs containers as root",
                                 hint="name the groups: --group-add GROUP")
            if not group:
                raise UsageError("invalid --group-add ''", hint="give a group name or id")
        config.extra["group_add"] = list(o["group_add"])
    _namespaces(o, config)
    _cgroups(o, config)
    if o.get("cgroup_conf"):
        config.extra["cgroup_conf"] = parse_cgroup_conf(o["cgroup_conf"])
    health = parse_healthcheck(o)
    if health is not None:
        config.extra["healthcheck"] = health
    if o.get("health_on_failure"):
        if o["health_on_failure"] not in ON_FAILURE:
            raise UsageError(f"invalid on-failure action \"{o['health_on_failure']}\" for health check: "
                             "supported actions are none,kill,restart,stop", hint="see podman-run(1)")
        config.extra["health_on_failure"] = o["health_on_failure"]


def _cpu(o: dict[str, Any], res: dict[str, Any]) -> None:
    cpu: dict[str, Any] = {}
    for key in ("cpu_period", "cpu_quota"):
        if o.get("cpus") and o.get(key) is not None:
            raise UsageError(f"--{key.replace('_', '-')} and --cpus cannot be set together", hint="give one of them")
    for key, oci in (("cpu_period", "period"), ("cpu_quota", "quota"), ("cpu_rt_period", "realtimePeriod"),
                     ("cpu_rt_runtime", "realtimeRuntime")):
        if o.get(key) is not None:
            cpu[oci] = o[key]
    if "period" in cpu and not 1000 <= cpu["period"] <= 1000000:
        raise UsageError("CPU cfs period cannot be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
                         hint="give --cpu-period between 1000 and 1000000")
    if "quota" in cpu and cpu["quota"] != -1 and cpu["quota"] < 1000:
        raise UsageError("CPU cfs quota cannot be less than 1ms (i.e. 1000)", hint="give --cpu-quota 1000 or more")
    for key, oci in (("cpuset_cpus", "cpus"), ("cpuset_mems", "mems")):
        if o.get(key):
            _check_set(o[key], key.replace("_", " "))
            cpu[oci] = o[key]
    if cpu:
        res["cpu"] = cpu


def _check_set(text: str, flag: str) -> None:
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and (not hi.isdigit() or int(hi) < int(lo))):
            raise UsageError(f"invalid value {text} for {flag}", hint="give a list such as 0-3 or 0,1")


def _memory(o: dict[str, Any], res: dict[str, Any]) -> None:
    from capsa.container.flags import parse_size

    mem: dict[str, Any] = {}
    if o.get("memory_reservation"):
        mem["reservation"] = parse_size(o["memory_reservation"], "--memory-reservation")
    if o.get("memory_swappiness") is not None and o["memory_swappiness"] != -1:
        if not 0 <= o["memory_swappiness"] <= 100:
            raise UsageError(f"invalid value: {o['memory_swappiness']}, valid memory swappiness range is 0-100",
                             hint="give --memory-swappiness between 0 and 100 (-1: the system's default)")
        mem["swappiness"] = o["memory_swappiness"]
    if o.get("oom_kill_disable"):
        mem["disableOOMKiller"] = True
    if mem:
        res["memory"] = mem


def _device_numbers(path: str, flag: str) -> tuple[int, int]:
    import stat

    try:
        st = os.stat(path)
    except OSError as exc:
        raise UsageError(f"{flag}: could not parse device at {path}: {os.strerror(exc.errno or 0).lower()}",
                         hint="give the path of a block device on this host") from None
    if not stat.S_ISBLK(st.st_mode):
        raise UsageError(f"{flag}: {path} is not a block device", hint="give a block device such as /dev/vda")
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def _blkio(o: dict[str, Any], res: dict[str, Any]) -> None:
    from capsa.container.flags import parse_size

    blkio: dict[str, Any] = {}
    for key, oci, sized in (("device_read_bps", "throttleReadBpsDevice", True),
                            ("device_write_bps", "throttleWriteBpsDevice", True),
                            ("device_read_iops", "throttleReadIOPSDevice", False),
                            ("device_write_iops", "throttleWriteIOPSDevice", False)):
        flag = "--" + key.replace("_", "-")
        for item in o.get(key) or []:
            path, sep, rate = item.rpartition(":")
            if not sep or not path:
                raise UsageError(f"invalid {flag} {item!r}", hint=f"use {flag} DEVICE:RATE, e.g. /dev/vda:1mb")
            if sized:
                value = parse_size(rate, flag)
            elif rate.isdigit():
                value = int(rate)
            else:
                raise UsageError(f"invalid rate for {flag}: {rate!r}", hint="IO per second is a whole number")
            major, minor = _device_numbers(path, flag)
            blkio.setdefault(oci, []).append({"major": major, "minor": minor, "rate": value, "path": path})
    if o.get("blkio_weight"):
        if blkio_weight_supported():
            blkio["weight"] = _weight(o["blkio_weight"], "--blkio-weight")
        else:
            import sys

            sys.stderr.write(BLKIO_WEIGHT_WARNING + "\n")
    for item in o.get("blkio_weight_device") or []:
        path, sep, weight_text = item.rpartition(":")
        if not sep or not path:
            raise UsageError(f"invalid --blkio-weight-device {item!r}", hint="use --blkio-weight-device DEVICE:WEIGHT")
        weight = _weight(weight_text, "--blkio-weight-device")
        major, minor = _device_numbers(path, "--blkio-weight-device")
        if not blkio_weight_supported():
            raise UsageError("--blkio-weight-device: the kernel's blkio controller has no weight (blkio.weight_device)",
                             hint="use --device-read-bps and the other throttle limits instead")
        blkio.setdefault("weightDevice", []).append({"major": major, "minor": minor, "weight": weight, "path": path})
    if blkio:
        res["blockIO"] = blkio


def _weight(text: str, flag: str) -> int:
    if not text.isdigit() or not 10 <= int(text) <= 1000:
        raise UsageError(f"invalid {flag} {text!r}: the weight is 10 to 1000", hint=f"give {flag} between 10 and 1000")
    return int(text)


def blkio_weight_supported() -> bool:
    """Whether a blkio weight can be set here (v1 blkio.weight or blkio.bfq.weight, v2 io.weight)."""
    from capsa.hostinfo import cgroup_layout

    layout = cgroup_layout()
    where = layout.v1_controllers.get("blkio")
    if where:
        return any(os.path.exists(os.path.join(where, f)) for f in ("blkio.weight", "blkio.bfq.weight"))
    return bool(layout.v2_mount) and os.path.exists(os.path.join(layout.v2_mount, "io.weight")) \
        or _v2_has("io")


def _v2_has(controller: str) -> bool:
    from capsa.hostinfo import cgroup_layout

    v2 = cgroup_layout().v2_mount
    try:
        with open(os.path.join(v2, "cgroup.controllers")) as fh:
            return controller in fh.read().split()
    except (OSError, TypeError):
        return False


def parse_cgroup_rule(rule: str) -> dict[str, Any]:
    """``--device-cgroup-rule 'c 42:* rmw'`` -> an OCI ``linux.resources.devices`` entry."""
    parts = rule.split()
    bad = UsageError(f'invalid device cgroup rule requires type, major:Minor, and access rules: "{rule}"', hint="use 'TYPE MAJOR:MINOR PERMS', e.g. 'c 42:* rmw'")
    if len(parts) != 3 or parts[0] not in ("a", "b", "c") or not parts[2] or set(parts[2]) - set("rwm"):
        raise bad
    major, sep, minor = parts[1].partition(":")
    if not sep or not all(x == "*" or x.isdigit() for x in (major, minor)):
        raise bad
    out: dict[str, Any] = {"allow": True, "type": parts[0], "access": parts[2]}
    if major != "*":
        out["major"] = int(major)
    if minor != "*":
        out["minor"] = int(minor)
    return out


SYSCTL_IPC = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
              "kernel.shmmni", "kernel.shm_rmid_forced")


def parse_sysctls(values: list[str], network: str, ipc: str = "") -> dict[str, str]:
    """``--sysctl NAME=VALUE``: only namespaced ones (podman's list: ipc, ``fs.mqueue.*``, ``net.*``)."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{item!r} is invalid, sysctl values must be in the form of KEY=VALUE",
                             hint="give --sysctl NAME=VALUE")
        if not (key in SYSCTL_IPC or key.startswith(("fs.mqueue.", "net."))):
            raise UsageError(f"sysctl '{key}' is not allowed", hint="only namespaced sysctls can be set: "
                             "kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*")
        if key.startswith("net.") and network == "host":
            raise UsageError(f"sysctl {item} can't be set since Network Namespace set to host: invalid argument",
                             hint="drop the sysctl or give the container a network of its own")
        if not key.startswith("net.") and ipc == "host":
            raise UsageError(f"sysctl {item} can't be set since IPC Namespace set to host: invalid argument",
                             hint="drop the sysctl or give the container an ipc namespace of its own")
        out[key] = value
    return out


def _namespaces(o: dict[str, Any], config: ContainerConfig) -> None:
    for flag, kind in NS_FLAGS:
        mode = o.get(flag)
        if not mode:
            continue
        if mode == "private" or (kind == "ipc" and mode in ("shareable", "none")):
            if kind == "ipc":
                config.extra["ipc_mode"] = mode
            config.namespaces.pop(kind, None)
            continue
        if mode == "host" or mode.startswith("container:") and len(mode) > 10:
            config.namespaces[kind] = mode
        elif mode.startswith("ns:") and len(mode) > 3:
            if not os.path.exists(mode[3:]):
                what = "cgroup" if kind == "cgroup" else kind.upper()
                raise UsageError(f"cannot find specified {what} namespace path: stat {mode[3:]}: no such file or directory",
                                 hint="give the path of a namespace file, e.g. ns:/proc/PID/ns/" + kind)
            config.namespaces[kind] = mode
        else:
            what = "host, container:NAME, private, shareable, none or ns:PATH" if kind == "ipc" else \
                "host, container:NAME, private or ns:PATH"
            raise UsageError(f"unrecognized namespace mode {mode} passed", hint=f"--{flag} takes {what}")
    if config.namespaces.get("uts") == "host" and o.get("hostname"):
        raise UsageError("invalid config provided: cannot set hostname when running in the host UTS namespace: "
                         "invalid configuration", hint="drop --hostname or --uts host")


def _cgroups(o: dict[str, Any], config: ContainerConfig) -> None:
    mode = o.get("cgroups")
    if mode and mode not in ("enabled", "no-conmon"):
        if mode in ("disabled", "split"):
            why = ("split puts the container in the cgroup of the systemd unit calling capsa"
                   if mode == "split" else "capsa's isolation drivers track, freeze and kill a container "
                   "through its cgroup, so every container has one")
            raise UsageError(f"--cgroups {mode} is not supported: {why}", hint="use --cgroups enabled (the default)")
        raise UsageError(f'invalid cgroup mode "{mode}": invalid argument', hint="--cgroups takes enabled, disabled, no-conmon or split")


def parse_cgroup_conf(values: list[str]) -> dict[str, str]:
    """``--cgroup-conf KEY=VALUE``: files of the container's cgroup v2 directory (only where the
    host is cgroup v2 only, as podman: ``linux.resources.unified``)."""
    from capsa.hostinfo import cgroup_layout

    out = {}
    for item in values:  # (the form first, then the host: podman's order)
        key, sep, value = item.partition("=")
        if not sep or not key or "/" in key:
            raise UsageError("--cgroup-conf must be formatted KEY=VALUE", hint=f"not {item!r}: e.g. memory.high=1g")
        out[key] = value
    if cgroup_layout().mode != "unified":
        raise UsageError("cannot use --cgroup-conf without cgroup v2", hint="this host mounts cgroup v1 controllers")
    return out


def parse_duration(text: str, flag: str) -> int:
    """A Go duration (``30s``, ``1m30s``, ``500ms``, ``1h``) in nanoseconds."""
    import re

    units = {"ns": 1, "us": 1000, "µs": 1000, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if text == "0":
        return 0
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UsageError(f'invalid {flag.lstrip("-").replace("health-", "healthcheck-")}: time: invalid duration "{text}"', hint=f"give {flag} a duration such as 30s or 1m")
    return int(sum(float(n) * units[u] for n, u in parts))


def health_test(cmd: str) -> list[str]:
    """``--health-cmd``'s ``Test``, as podman's makeHealthCheckFromCli: a JSON list of strings
    (``["CMD", ...]``, ``["CMD-SHELL", "..."]``, or a command and its arguments), else a shell
    command (``[ -e /tmp/ok ]`` too); ``CMD a b`` is split in words; ``none`` disables."""
    import json

    try:
        words = json.loads(cmd) if cmd.startswith("[") else None
    except ValueError:
        words = None
    is_list = isinstance(words, list) and all(isinstance(x, str) for x in words)
    if not is_list:
        words = cmd.split(" ", 1)
    if not words:
        raise UsageError("must define a healthcheck command for all healthchecks", hint="give --health-cmd a command")
    if words[0].lower() == "none":
        return ["NONE"]
    if words[0] == "CMD" and not is_list:
        return cmd.split()
    if words[0] in ("CMD", "CMD-SHELL"):
        return list(words)
    if is_list and len(words) > 1:
        return ["CMD", *words]
    return ["CMD-SHELL", " ".join(words)]


def parse_healthcheck(o: dict[str, Any]) -> dict[str, Any] | None:
    """``--health-*`` -> podman's ``Config.Healthcheck`` ({"Test": ["NONE"]} with
    ``--no-healthcheck`` or ``--health-cmd none``); None when no health flag is given."""
    cmd = o.get("health_cmd")
    if o.get("no_healthcheck"):
        if cmd:
            raise UsageError("cannot specify both --no-healthcheck and --health-cmd",
                             hint="drop --no-healthcheck or --health-cmd")
        return {"Test": ["NONE"]}
    if not cmd:  # (podman ignores the other --health-* flags without a command, and an empty one)
        return None
    test = health_test(cmd)
    interval = o.get("health_interval") or HEALTH_DEFAULTS["interval"]
    out = {"Test": test,
           "Interval": 0 if interval == "disable" else parse_duration(interval, "--health-interval"),
           "Timeout": parse_duration(o.get("health_timeout") or HEALTH_DEFAULTS["timeout"], "--health-timeout"),
           "Retries": HEALTH_DEFAULTS["retries"] if o.get("health_retries") is None else o["health_retries"]}
    if out["Timeout"] < 10**9:
        raise UsageError("healthcheck-timeout must be at least 1 second", hint="give --health-timeout 1s or more")
    if out["Retries"] < 1:
        raise UsageError("healthcheck-retries must be greater than 0", hint="give --health-retries 1 or more")
    start = parse_duration(o.get("health_start_period") or HEALTH_DEFAULTS["start_period"], "--health-start-period")
    if start:
        out["StartPeriod"] = start
    return out
