"""The flags of ``run`` and ``create``, declared once, and a parser for them that needs no typer.

``run`` is capsa's hottest command: building its typer command costs more than running a
container. So :data:`FLAGS` is the one declaration of these flags: :func:`parse` reads a command
line with them the way podman's (cobra/pflag) parser does, and ``capsa.cli.containers`` turns
the same table into the typer command that serves ``--help`` and shell completion.

Contract of :func:`parse`: flags come before IMAGE; everything after IMAGE is the command, taken
verbatim. Long flags take ``--flag value`` or ``--flag=value``; booleans take ``--flag`` or
``--flag=true|false``; short flags can be clustered (``-it``, ``-dit``) and the last of a
cluster may take a value (``-ePATH=/bin``, ``-e PATH=/bin``); ``--`` ends the flags. The global
flags (``--root``, ``--runroot``, ...) are accepted anywhere before IMAGE. Bad input raises
:class:`~capsa.errors.UsageError` (exit 125) with podman's wording.
"""
from __future__ import annotations

from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

BOOL, STR, MULTI, INT, FLOAT = "bool", "str", "multi", "int", "float"

# (parameter name, flag names, kind, default, help): the order is the order of --help.
FLAGS: tuple[tuple[str, tuple[str, ...], str, Any, str], ...] = (
    ("name", ("--name",), STR, None, "Assign a name to the container"),
    ("detach", ("--detach", "-d"), BOOL, False, "Run the container in the background and print its id"),
    ("rm", ("--rm",), BOOL, False, "Remove the container when it exits"),
    ("interactive", ("--interactive", "-i"), BOOL, False, "Keep STDIN open"),
    ("tty", ("--tty", "-t"), BOOL, False, "Allocate a pseudo-TTY"),
    ("detach_keys", ("--detach-keys",), STR, None, "Override the key sequence for detaching a container (default ctrl-p,ctrl-q; \"\" disables it)"),
    ("sig_proxy", ("--sig-proxy",), BOOL, True, "Proxy received signals to the process"),
    ("env", ("--env", "-e"), MULTI, None, "Set environment variables"),
    ("env_file", ("--env-file",), MULTI, None, "Read in a file of environment variables"),
    ("workdir", ("--workdir", "-w"), STR, None, "Working directory inside the container"),
    ("user", ("--user", "-u"), STR, None, "Username or UID (format: <name|uid>[:<group|gid>])"),
    ("entrypoint", ("--entrypoint",), STR, None, "Overwrite the default ENTRYPOINT of the image"),
    ("hostname", ("--hostname", "-h"), STR, None, "Set container hostname"),
    ("volume", ("--volume", "-v"), MULTI, None, "Bind mount a volume: SRC:DST[:ro]"),
    ("mount", ("--mount",), MULTI, None, "Attach a filesystem mount: type=bind|volume|tmpfs,..."),
    ("tmpfs", ("--tmpfs",), MULTI, None, "Mount a temporary filesystem: DST[:OPTS]"),
    ("read_only", ("--read-only",), BOOL, False, "Make the container's root filesystem read-only"),
    ("memory", ("--memory", "-m"), STR, None, "Memory limit (e.g. 512m)"),
    ("memory_swap", ("--memory-swap",), STR, None, "Memory plus swap limit; -1 unlimited"),
    ("cpus", ("--cpus",), FLOAT, None, "Number of CPUs"),
    ("cpu_shares", ("--cpu-shares", "-c"), INT, None, "CPU shares (relative weight)"),
    ("pids_limit", ("--pids-limit",), INT, 1024, "Tune container pids limit (-1 for unlimited)"),
    ("ulimit", ("--ulimit",), MULTI, None, "Ulimit options: NAME=SOFT[:HARD]"),
    ("label", ("--label", "-l"), MULTI, None, "Set metadata on the container"),
    ("stop_signal", ("--stop-signal",), STR, None, "Signal to stop the container"),
    ("stop_timeout", ("--stop-timeout",), INT, 10, "Seconds to wait before forcibly stopping"),
    ("restart", ("--restart",), STR, None, "Restart policy: no, on-failure[:N], always"),
    ("cap_add", ("--cap-add",), MULTI, None, "Add capabilities"),
    ("cap_drop", ("--cap-drop",), MULTI, None, "Drop capabilities"),
    ("privileged", ("--privileged",), BOOL, False, "Give extended privileges to the container"),
    ("device", ("--device",), MULTI, None, "Add a host device to the container: HOST[:CONTAINER][:PERMS]"),
    ("security_opt", ("--security-opt",), MULTI, None, "seccomp=unconfined|PROFILE.json, no-new-privileges"),
    ("init", ("--init",), BOOL, False, "Run an init inside the container that forwards signals and reaps processes"),
    ("rootfs", ("--rootfs",), BOOL, False, "The first argument is an exploded root filesystem, not an image"),
    # -- issue 15, run/create behaviour flags (slice runflags): new rows go below this line
    ("annotation", ("--annotation",), MULTI, None, "Add an annotation to the container: KEY=VALUE"),
    ("attach", ("--attach", "-a"), MULTI, None, "Attach to STDIN, STDOUT or STDERR"),
    ("cidfile", ("--cidfile",), STR, None, "Write the container ID to the file"),
    ("conmon_pidfile", ("--conmon-pidfile",), STR, None, "Path to the file that will receive the PID of the container's monitor"),
    ("pidfile", ("--pidfile",), STR, None, "Write the container process's PID to the file"),
    ("replace", ("--replace",), BOOL, False, "If a container with the same name exists, replace it"),
    ("rmi", ("--rmi",), BOOL, False, "Remove the container's image after it exits, unless a container uses it (with --rm: not this one)"),
    ("label_file", ("--label-file",), MULTI, None, "Read in a line delimited file of labels"),
    ("env_host", ("--env-host",), BOOL, False, "Use all the current host environment variables in the container"),
    ("env_merge", ("--env-merge",), MULTI, None, "Preprocess default environment variables for the container: KEY=${KEY}..."),
    ("unsetenv", ("--unsetenv",), MULTI, None, "Unset an environment variable of the defaults or the image"),
    ("unsetenv_all", ("--unsetenv-all",), BOOL, False, "Unset all default environment variables (capsa's and the image's)"),
    ("tz", ("--tz",), STR, None, "Set the timezone in the container: a zoneinfo name, or local"),
    ("umask", ("--umask",), STR, None, "Set the umask inside the container (default 0022)"),
    ("read_only_tmpfs", ("--read-only-tmpfs",), BOOL, True, "With --read-only, mount tmpfs on /run, /tmp and /var/tmp"),
    ("init_path", ("--init-path",), STR, None, "Path to the container-init binary (with --init)"),
    ("no_hosts", ("--no-hosts",), BOOL, False, "Do not create /etc/hosts for the container"),
    ("http_proxy", ("--http-proxy",), BOOL, True, "Set the host's proxy environment variables in the container"),
    ("expose", ("--expose",), MULTI, None, "Expose a port or a range of ports (for -P): PORT, PORT/PROTO or FIRST-LAST/PROTO"),
    ("log_driver", ("--log-driver",), STR, None, "Logging driver for the container: k8s-file (default) or none"),
    ("log_opt", ("--log-opt",), MULTI, None, "Logging driver options: path=FILE"),
    ("chrootdirs", ("--chrootdirs",), MULTI, None, "Chroot directories inside the container: /etc/hosts and /etc/resolv.conf are mounted there too"),
    ("personality", ("--personality",), STR, None, "Execution domain of the container's process: LINUX or LINUX32"),
    ("timeout", ("--timeout",), INT, None, "Maximum time in seconds a container may run before it is killed (SIGKILL; exit code -1)"),
    ("sdnotify", ("--sdnotify",), STR, None, "Control sd-notify behaviour: container, conmon or ignore (no effect without NOTIFY_SOCKET)"),
    ("seccomp_policy", ("--seccomp-policy",), STR, None, "Policy for selecting a seccomp profile: default or image"),
    ("systemd", ("--systemd",), STR, None, "Run the container in systemd mode: true or false (always is refused)"),
    ("userns", ("--userns",), STR, None, "User namespace: host (capsa's only mode)"),
    ("image_volume", ("--image-volume",), STR, None, "Tells how to handle the image's VOLUMEs: ignore (capsa's only way)"),
    ("volumes_from", ("--volumes-from",), MULTI, None, "Mount the volumes and bind mounts of a container: CONTAINER[:ro|rw]"),
    ("requires", ("--requires",), MULTI, None, "Containers (comma-separated) started before this one"),
    ("passwd", ("--passwd",), BOOL, True, "Add an entry to /etc/passwd and /etc/group for a --user the image does not have"),
    ("passwd_entry", ("--passwd-entry",), STR, None, "Entry to write to /etc/passwd ($USERNAME, $UID, $GID, $NAME, $HOME replaced)"),
    ("hostuser", ("--hostuser",), MULTI, None, "Host user account to add to /etc/passwd within the container"),
    # -- issue 15, resource and namespace flags (slice resources): new rows go below this line
    ("device_cgroup_rule", ("--device-cgroup-rule",), MULTI, None, "Add a rule to the cgroup allowed devices list: TYPE MAJOR:MINOR PERMS"),
    ("device_read_bps", ("--device-read-bps",), MULTI, None, "Limit read rate (bytes per second) from a device: PATH:RATE"),
    ("device_read_iops", ("--device-read-iops",), MULTI, None, "Limit read rate (IO per second) from a device: PATH:RATE"),
    ("device_write_bps", ("--device-write-bps",), MULTI, None, "Limit write rate (bytes per second) to a device: PATH:RATE"),
    ("device_write_iops", ("--device-write-iops",), MULTI, None, "Limit write rate (IO per second) to a device: PATH:RATE"),
    ("blkio_weight", ("--blkio-weight",), STR, None, "Block IO relative weight, 10 to 1000"),
    ("blkio_weight_device", ("--blkio-weight-device",), MULTI, None, "Block IO relative device weight: DEVICE:WEIGHT"),
    ("cpu_period", ("--cpu-period",), INT, None, "Limit the CPU CFS (Completely Fair Scheduler) period (microseconds)"),
    ("cpu_quota", ("--cpu-quota",), INT, None, "Limit the CPU CFS (Completely Fair Scheduler) quota (microseconds)"),
    ("cpu_rt_period", ("--cpu-rt-period",), INT, None, "Limit the CPU real-time period in microseconds"),
    ("cpu_rt_runtime", ("--cpu-rt-runtime",), INT, None, "Limit the CPU real-time runtime in microseconds"),
    ("cpuset_cpus", ("--cpuset-cpus",), STR, None, "CPUs in which to allow execution (0-3, 0,1)"),
    ("cpuset_mems", ("--cpuset-mems",), STR, None, "Memory nodes (MEMs) in which to allow execution (0-3, 0,1)"),
    ("memory_reservation", ("--memory-reservation",), STR, None, "Memory soft limit (e.g. 32m)"),
    ("memory_swappiness", ("--memory-swappiness",), INT, None, "Tune container memory swappiness (0 to 100, or -1 for system default)"),
    ("kernel_memory", ("--kernel-memory",), STR, None, "No longer supported: ignored with a warning, as podman"),
    ("oom_kill_disable", ("--oom-kill-disable",), BOOL, False, "Disable OOM Killer"),
    ("oom_score_adj", ("--oom-score-adj",), INT, None, "Tune the host's OOM preferences (-1000 to 1000)"),
    ("shm_size", ("--shm-size",), STR, None, "Size of /dev/shm (e.g. 64m)"),
    ("sysctl", ("--sysctl",), MULTI, None, "Set namespaced kernel parameters: NAME=VALUE"),
    ("pid", ("--pid",), STR, None, "PID namespace: host, container:NAME, private or ns:PATH"),
    ("ipc", ("--ipc",), STR, None, "IPC namespace: host, container:NAME, private, shareable, none or ns:PATH"),
    ("uts", ("--uts",), STR, None, "UTS namespace: host, container:NAME, private or ns:PATH"),
    ("cgroupns", ("--cgroupns",), STR, None, "Cgroup namespace: host, container:NAME, private or ns:PATH"),
    ("cgroups", ("--cgroups",), STR, None, "Control the container's cgroup: enabled, disabled or no-conmon"),
    ("cgroup_conf", ("--cgroup-conf",), MULTI, None, "Configure a cgroup v2 file of the container: KEY=VALUE"),
    ("group_add", ("--group-add",), MULTI, None, "Add additional groups to the container's process"),
    ("health_cmd", ("--health-cmd",), STR, None, "Set a healthcheck command for the container ('none' disables the image's)"),
    ("health_interval", ("--health-interval",), STR, None, "Set an interval for the healthcheck (default 30s; 'disable' for none)"),
    ("health_retries", ("--health-retries",), INT, None, "The number of retries allowed before a healthcheck is considered unhealthy (default 3)"),
    ("health_start_period", ("--health-start-period",), STR, None, "The initialization time needed for a container to bootstrap (default 0s)"),
    ("health_timeout", ("--health-timeout",), STR, None, "The maximum time allowed to complete the healthcheck before an interval is considered failed (default 30s)"),
    ("health_on_failure", ("--health-on-failure",), STR, None, "Action to take once the container turns unhealthy: none, kill, restart or stop"),
    ("no_healthcheck", ("--no-healthcheck",), BOOL, False, "Disable healthchecks on container"),
    ("network", ("--network", "--net"), STR, None, "Network mode: none, host, bridge, container:NAME, a network's name or an installed network driver"),
    ("publish", ("--publish", "-p"), MULTI, None, "Publish a container's port to the host: HOST_IP:HOST_PORT:CONTAINER_PORT/PROTO (all but CONTAINER_PORT optional; ranges: 8000-8001:80-81)"),
    ("publish_all", ("--publish-all", "-P"), BOOL, False, "Publish every exposed port of the image to a free host port"),
    ("ip", ("--ip",), STR, None, "Static IPv4 address of the container on its network"),
    ("add_host", ("--add-host",), MULTI, None, "Add a line to /etc/hosts: HOST:IP"),
    ("dns", ("--dns",), MULTI, None, "Set a DNS server of the container"),
    ("dns_search", ("--dns-search",), MULTI, None, "Set a DNS search domain of the container"),
    ("dns_option", ("--dns-option",), MULTI, None, "Set a DNS option of the container (resolv.conf options)"),
    ("network_alias", ("--network-alias",), MULTI, None, "Add a name the container has on its network"),
    ("pod", ("--pod",), STR, None, "Run the container in an existing pod (NAME or ID), or in a new one: new:NAME"),
    ("pod_id_file", ("--pod-id-file",), STR, None, "Read the pod ID from the file"),
    ("cgroup_parent", ("--cgroup-parent",), STR, None, "Cgroup (under capsa's own) for the container"),
    ("pull", ("--pull",), STR, "missing", "Pull image policy: missing, always, never or newer"),
    ("platform", ("--platform",), STR, None, "Specify the platform for selecting the image (conflicts with --arch and --os)"),
    ("arch", ("--arch",), STR, None, "Use ARCH instead of the architecture of the machine for choosing images"),
    ("os", ("--os",), STR, None, "Use OS instead of the running OS for choosing images"),
    ("variant", ("--variant",), STR, None, "Use VARIANT instead of the running architecture variant for choosing images"),
    ("authfile", ("--authfile",), STR, None, "Path of the authentication file"),
    ("tls_verify", ("--tls-verify",), BOOL, None, "Require HTTPS and verify certificates when contacting registries for pulling images"),
    ("disable_content_trust", ("--disable-content-trust",), BOOL, False, "This is a Docker specific option and is a NOOP"),
    ("quiet", ("--quiet", "-q"), BOOL, False, "Suppress output information when pulling images"),
)
CREATE_ONLY_SKIPS = ("detach", "detach_keys", "sig_proxy", "rmi", "passwd")  # `create` takes every flag of `run` but these

# The global flags (podman's persistent flags), valid after the command word too.
GLOBAL_FLAGS: tuple[tuple[str, tuple[str, ...], str, Any, str], ...] = (
    ("root", ("--root",), STR, None, ""),
    ("runroot", ("--runroot",), STR, None, ""),
    ("storage_driver", ("--storage-driver",), STR, None, ""),
    ("storage_opt", ("--storage-opt",), MULTI, None, ""),
    ("log_level", ("--log-level",), STR, None, ""),
    ("runtime", ("--runtime",), STR, None, ""),
    ("runtime_flag", ("--runtime-flag",), MULTI, None, ""),
    ("cgroup_manager", ("--cgroup-manager",), STR, None, ""),
    ("tmpdir", ("--tmpdir",), STR, None, ""),
    ("volumepath", ("--volumepath",), STR, None, ""),
    ("network_config_dir", ("--network-config-dir",), STR, None, ""),
    ("noout", ("--noout",), BOOL, False, ""),
)
BEFORE_COMMAND_ONLY = ("noout",)  # (as capsa.cli.app's: podman's `run --noout` is an unknown flag)
LOG_LEVELS = ("trace", "debug", "info", "warn", "warning", "error", "fatal", "panic")


class HelpRequested(BaseException):
    """``--help`` among the flags: the caller shows the command's help page (a BaseException,
    so that it passes the error boundary like KeyboardInterrupt would, to be caught by
    ``main()``)."""


def _table(command: str, flags: tuple[tuple[str, tuple[str, ...], str, Any, str], ...] = FLAGS) -> dict[str, tuple[str, str]]:
    """flag name -> (parameter, kind), for ``command`` and the global flags."""
    out = {}
    for param, names, kind, _default, _help in flags + GLOBAL_FLAGS:
        if command == "create" and param in CREATE_ONLY_SKIPS:
            continue
        for name in names:
            out[name] = (param, kind)
    return out


def defaults(command: str, flags: tuple[tuple[str, tuple[str, ...], str, Any, str], ...] = FLAGS) -> dict[str, Any]:
    return {param: default for param, _n, _k, default, _h in flags + GLOBAL_FLAGS
            if not (command == "create" and param in CREATE_ONLY_SKIPS)}


def _convert(flag: str, kind: str, value: str) -> Any:
    if kind == INT:
        try:
            return int(value)
        except ValueError:
            pass
    elif kind == FLOAT:
        try:
            return float(value)
        except ValueError:
            pass
    elif kind == BOOL:
        lowered = value.lower()
        if lowered in ("true", "1", "t"):
            return True
        if lowered in ("false", "0", "f"):
            return False
    else:
        return value
    raise UsageError(f'invalid argument "{value}" for "{flag}" flag: parse error',
                     hint=f"{flag} takes {'a number' if kind in (INT, FLOAT) else 'true or false'}")


def parse(command: str, args: list[str], flags: tuple[tuple[str, tuple[str, ...], str, Any, str], ...] = FLAGS,
          optional_first: bool = False, before: int | None = None) -> tuple[dict[str, Any], str, list[str]]:
    """``args`` after the command word -> (options by parameter name, IMAGE, command); ``flags``:
    another command's table (``exec``'s), whose first argument may be ``optional_first``
    (``exec --latest COMMAND``: then "" and every word is the command). The first ``before``
    words were given before the command word: only there is a :data:`BEFORE_COMMAND_ONLY` flag
    taken (None: anywhere)."""
    table = _table(command, flags)
    values = defaults(command, flags)
    see = f"See 'capsa {command} --help'"

    def store(flag: str, param: str, kind: str, value: Any) -> None:
        if kind == MULTI:
            values[param] = [*(values[param] or []), value]
        else:
            values[param] = _convert(flag, kind, value) if isinstance(value, str) else value

    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            if i < len(args):
                return _finish(values, args[i], args[i + 1:])
            break
        if arg == "--help":
            raise HelpRequested()
        if not arg.startswith("-") or arg == "-":
            return _finish(values, arg, args[i:])
        if arg.startswith("--"):
            name, eq, inline = arg.partition("=")
            if name not in table:
                raise _unknown(command, name, f"unknown flag: {name}", see)
            param, kind = table[name]
            if before is not None and i > before and param in BEFORE_COMMAND_ONLY:
                raise UsageError(f"unknown flag: {name}", hint=see)
            if kind == BOOL:
                store(name, param, kind, inline if eq else True)
                continue
            if not eq:
                if i >= len(args):
                    raise UsageError(f"flag needs an argument: {name}", hint=see)
                inline, i = args[i], i + 1
            store(name, param, kind, inline)
            continue
        cluster = arg[1:]
        while cluster:
            name, cluster = f"-{cluster[0]}", cluster[1:]
            if name not in table:  # (pflag's words)
                raise _unknown(command, name, f"unknown shorthand flag: {name[1]!r} in {name}{cluster}", see)
            param, kind = table[name]
            if kind == BOOL and not cluster.startswith("="):
                store(name, param, kind, True)
                continue
            value = cluster[1:] if cluster.startswith("=") else cluster
            if not value:
                if i >= len(args):
                    raise UsageError(f"flag needs an argument: {name[1]!r} in {arg}", hint=see)
                value, i = args[i], i + 1
            store(name, param, kind, value)
            cluster = ""
    if optional_first:
        return _finish(values, "", [])
    raise UsageError(f"'capsa {command}' requires at least 1 argument", hint=see)


def _unknown(command: str, flag: str, message: str, see: str) -> UsageError:
    """A flag ``command``'s table does not take: refused in one line when
    :mod:`capsa.cli.refusals` lists it (``run``, ``create``, ``exec``), else pflag's error."""
    from capsa.cli import refusals

    why = refusals.reason((command,), flag)
    return refusals.refusal(flag, why) if why is not None else UsageError(message, hint=see)


def _finish(values: dict[str, Any], image: str, command: list[str]) -> tuple[dict[str, Any], str, list[str]]:
    level = values.get("log_level")
    if level is not None and level.lower() not in LOG_LEVELS:
        raise UsageError(f"invalid --log-level {level!r}", hint=f"use one of {', '.join(LOG_LEVELS)}")
    return values, image, list(command)
