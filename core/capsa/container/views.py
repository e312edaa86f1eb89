"""What container commands show: ``ps`` rows and the ``inspect`` document, podman-shaped. The
``inspect`` document is also the view hook plugins receive (:func:`container_document`)."""
from __future__ import annotations

import os

from capsa.container.model import ContainerConfig
from capsa.container.records import ContainerRecords, ContainerState

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.store.store import Store


def effective_status(records: ContainerRecords, config: ContainerConfig) -> ContainerState:
    """The recorded state, corrected when the monitor died without recording an exit; a running
    container a stop was requested of is ``stopping``."""
    from capsa.container.stopping import ACTIVE, monitor_alive

    state = records.state(config.id)
    if state.status in ACTIVE and not monitor_alive(records, config.id):
        state.status = "exited"
    elif state.status == "running" and state.stop_requested:
        state.status = "stopping"  # (stop's or rm -f's wait for it to exit, as podman shows it)
    return state


def status_text(state: ContainerState) -> str:
    """``Up 2 minutes``, ``Exited (0) 3 seconds ago``, ``Created``."""
    from capsa.humanize import human_duration, parse_time, since

    if state.status in ("running", "stopping"):
        import datetime

        up = (datetime.datetime.now(datetime.timezone.utc) - parse_time(state.started_at)).total_seconds()
        return f"Up {human_duration(up)}"
    if state.status == "paused":
        return "Paused"
    if state.status == "restarting":
        return "Restarting"
    if state.status == "exited":
        return f"Exited ({state.exit_code}) {since(state.finished_at)}" if state.finished_at else f"Exited ({state.exit_code})"
    return state.status.capitalize()


def template_state(row: dict[str, Any]) -> str:
    """A ``ps`` row's ``{{.State}}`` in a template, as podman's: ``Up 2 minutes ago``, ``Exited
    (0) 3 seconds ago``, else the state capitalized (``Created``, ``Paused``)."""
    if row["State"] == "running":
        return f"{row['Status']} ago"
    if row["State"] == "exited":
        return str(row["Status"])
    return str(row["State"]).capitalize()


def command_of(config: ContainerConfig, image_config: dict[str, Any]) -> list[str]:
    runtime = image_config.get("config") or {}
    entrypoint = config.entrypoint if config.entrypoint is not None else runtime.get("Entrypoint") or []
    if config.cmd is not None:
        cmd = config.cmd
    elif config.entrypoint is not None:
        cmd = []
    else:
        cmd = runtime.get("Cmd") or []
    return [*entrypoint, *cmd]


def _ports_text(config: ContainerConfig) -> str:
    if not config.extra.get("ports"):
        return ""
    from capsa.container.ports import ps_text

    return ps_text(config.extra["ports"])


def _health_suffix(records: ContainerRecords, config: ContainerConfig, state: ContainerState,
                   image_config: dict[str, Any]) -> str:
    """`` (healthy)``, `` (unhealthy)`` or `` (starting)`` after a running container's status
    when it has a health check, as podman's ps shows it."""
    if state.status not in ("running", "stopping") or not (config.extra.get("healthcheck") or
                                                            (image_config.get("config") or {}).get("Healthcheck")):
        return ""
    from capsa.container.health import health_state, healthcheck_of

    if healthcheck_of(config, image_config) is None:
        return ""
    return f" ({health_state(records, config, state.started_at, True)['Status']})"


def ps_row(records: ContainerRecords, config: ContainerConfig, image_config: dict[str, Any]) -> dict[str, Any]:
    from capsa.humanize import go_time, since

    state = effective_status(records, config)
    command = command_of(config, image_config)
    return {
        "ID": config.id[:12], "Id": config.id, "Names": config.name, "Image": config.image_name,
        "ImageID": config.image_id or "", "Command": " ".join(command), "CreatedAt": go_time(config.created),
        "Created": since(config.created), "RunningFor": since(config.created),
        "Status": status_text(state) + _health_suffix(records, config, state, image_config),
        "State": state.status, "ExitCode": state.exit_code, "Ports": _ports_text(config), "Labels": dict(config.labels),
        "Pid": state.pid, "Mounts": [m.destination for m in config.mounts], "AutoRemove": config.remove,
        "Pod": config.pod, "PodName": "",  # (podman fills PodName only for ps --pod: see capsa.cli.ps)
        "IsInfra": bool(config.extra.get("infra")),
        "Args": command, "StartedAtTime": state.started_at, "ExitedAtTime": state.finished_at,
        "CreatedTime": config.created, "NetworkNames": _network_names(config),
    }


def _network_names(config: ContainerConfig) -> list[str]:
    """The networks a container is on, by name (``ps``'s Networks)."""
    definition = config.extra.get("network_definition") or {}
    if definition.get("name"):
        return [str(definition["name"])]
    return [] if config.network in ("none", "host") or config.network.startswith("container:") else [config.network]


def ps_json(row: dict[str, Any]) -> dict[str, Any]:
    """One element of ``ps --format json``, with podman's keys and kinds (lists for Names and
    Command, Unix times for Created, StartedAt and ExitedAt)."""
    from capsa.humanize import parse_time

    def unix(text: str) -> int:
        return int(parse_time(text).timestamp()) if text else 0

    return {
        "AutoRemove": row["AutoRemove"], "Command": list(row["Args"]), "CreatedAt": row["Created"],
        "Exited": row["State"] == "exited", "ExitedAt": unix(row["ExitedAtTime"]), "ExitCode": row["ExitCode"],
        "Id": row["Id"], "Image": row["Image"], "ImageID": row["ImageID"], "IsInfra": row["IsInfra"],
        "Labels": row["Labels"] or None, "Mounts": row["Mounts"], "Names": [row["Names"]],
        "Namespaces": row.get("Namespaces", {}), "Networks": row["NetworkNames"], "Pid": row["Pid"],
        "Pod": row["Pod"], "PodName": row["PodName"], "Ports": None if not row["Ports"] else row["Ports"].split(", "),
        "Size": row.get("Size"), "StartedAt": unix(row["StartedAtTime"]), "State": row["State"],
        "Status": row["Status"], "Created": unix(row["CreatedTime"]),
    }


def oci_runtime(config: ContainerConfig) -> str:
    """``inspect``'s OCIRuntime, as podman shows it: ``linux`` for the built-in driver, the
    runtime's name (crun, runc) for the ``oci`` driver, else the isolation driver's name."""
    recorded = config.extra.get("isolation") or {"name": "linux", "options": {}}
    if recorded.get("name") == "oci":
        return os.path.basename(str((recorded.get("options") or {}).get("runtime") or "crun"))
    return str(recorded.get("name") or "linux")


def container_document(records: ContainerRecords, config: ContainerConfig, store: Store | None = None,
                       image_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The container's ``inspect`` document: what ``capsa inspect`` prints and what container
    hooks receive as ``container``. Its image's configuration (read from ``store`` unless
    ``image_config`` is given) fills in what the container does not set itself."""
    from capsa.errors import CapsaError

    if image_config is None:
        image_config = {}
        if store is not None and config.image_id:
            try:
                with store.reading():
                    image_config = store.config_of(store.image_by_id(config.image_id))
            except CapsaError:
                pass
    return inspect_doc(records, config, image_config, store.driver.name if store is not None else "")


def exec_ids(records: ContainerRecords, container_id: str) -> list[str]:
    """The ids of the container's running exec sessions (see :mod:`capsa.container.execsession`)."""
    from capsa.container.execsession import session_ids

    return session_ids(records, container_id)


def inspect_doc(records: ContainerRecords, config: ContainerConfig, image_config: dict[str, Any], driver: str) -> dict[str, Any]:
    from capsa.container.health import health_state, healthcheck_of
    from capsa.container.netattach import network_settings

    state = effective_status(records, config)
    runtime = image_config.get("config") or {}
    command = command_of(config, image_config)
    env = list(runtime.get("Env") or [])
    for item in config.env:
        key = item.split("=", 1)[0]
        env = [e for e in env if e.split("=", 1)[0] != key] + [item]
    mounts = [{"Type": m.type, "Name": m.source if m.type == "volume" else "", "Source": m.source,
               "Destination": m.destination, "Driver": "local" if m.type == "volume" else "",
               "Mode": "", "Options": list(m.options), "RW": "ro" not in m.options, "Propagation": "rprivate"}
              for m in config.mounts]
    doc = {
        "Id": config.id,
        "Created": config.created,
        "Path": command[0] if command else "",
        "Args": command[1:],
        "State": {
            "Status": state.status, "Running": state.status in ("running", "stopping"),
            "Paused": state.status == "paused", "OOMKilled": state.oom_killed, "Dead": False,
            "Pid": state.pid if state.status in ("running", "stopping", "paused") else 0,
            "Restarting": state.status == "restarting",
            "ConmonPid": state.monitor_pid, "ExitCode": state.exit_code, "Error": state.error,
            "StartedAt": state.started_at or "0001-01-01T00:00:00Z", "FinishedAt": state.finished_at or "0001-01-01T00:00:00Z",
            "Health": health_state(records, config, state.started_at, healthcheck_of(config, image_config) is not None),
        },
        "Image": config.image_id or "",
        "ImageName": config.image_name,
        "Rootfs": config.rootfs or "",
        "Name": config.name,
        "Pod": config.pod,
        "IsInfra": bool(config.extra.get("infra")),
        "RestartCount": state.restart_count,
        "ExecIDs": exec_ids(records, config.id),
        "Driver": driver,
        "OCIRuntime": oci_runtime(config),
        "LogPath": config.extra.get("log_path") or str(records.log_path(config.id)),
        "Mounts": mounts,
        "Config": {
            "Hostname": config.hostname or config.id[:12], "User": config.user or runtime.get("User", ""), "Env": env,
            "Cmd": config.cmd if config.cmd is not None else runtime.get("Cmd"), "Image": config.image_name,
            "WorkingDir": config.workdir or runtime.get("WorkingDir") or "/",
            "Entrypoint": config.entrypoint if config.entrypoint is not None else runtime.get("Entrypoint"),
            "Labels": dict(config.labels), "StopSignal": config.stop_signal or runtime.get("StopSignal") or "SIGTERM",
            "StopTimeout": config.stop_timeout, "Tty": config.tty, "OpenStdin": config.interactive,
            "Volumes": runtime.get("Volumes"), "Annotations": dict(config.annotations),
            **({"Healthcheck": config.extra.get("healthcheck") or runtime.get("Healthcheck")}
               if config.extra.get("healthcheck") or runtime.get("Healthcheck") else {}),
            "HealthcheckOnFailureAction": config.extra.get("health_on_failure") or "none",
            "Timezone": config.extra.get("tz", ""), "Umask": f"{config.extra.get('umask', 0o022):04o}",
        },
        "HostConfig": {
            "Binds": [f"{m.source}:{m.destination}" + (":ro" if "ro" in m.options else "") for m in config.mounts if m.type == "bind"],
            "NetworkMode": config.network, "RestartPolicy": {"Name": config.restart_policy, "MaximumRetryCount": config.restart_max},
            "AutoRemove": config.remove, "CapAdd": list(config.cap_add), "CapDrop": list(config.cap_drop),
            "Privileged": config.privileged, "ReadonlyRootfs": config.read_only,
            "SecurityOpt": ([f"seccomp={config.seccomp_profile}"] if config.seccomp_profile else [])
                           + (["no-new-privileges"] if config.no_new_privileges else []),
            "Memory": config.memory or 0, "MemorySwap": config.memory_swap or 0,
            "NanoCpus": int((config.cpus or 0) * 1e9), "CpuShares": config.cpu_shares or 0,
            "PidsLimit": config.pids_limit or 0, "Ulimits": list(config.ulimits), "Init": config.init,
            "CgroupParent": config.cgroup_parent,
            "IpcMode": config.namespaces.get("ipc") or config.extra.get("ipc_mode") or "shareable",  # (podman's default)
            "UTSMode": config.namespaces.get("uts") or "private",
            "PidMode": config.namespaces.get("pid") or "private",
            "CgroupMode": config.namespaces.get("cgroup") or "private",
            **_names_settings(config.extra.get("net") or {}),
            "Tmpfs": {m.destination: ",".join(m.options) for m in config.mounts if m.type == "tmpfs"},
            **resource_settings(config),
            "LogConfig": {"Type": config.extra.get("log_driver") or "k8s-file",
                          "Path": config.extra.get("log_path") or str(records.log_path(config.id))},
        },
        "NetworkSettings": network_settings(config.network, state.extra,
                                            state.pid if state.status in ("running", "stopping", "paused") else 0,
                                            config.extra.get("connected_networks"),
                                            (config.extra.get("net") or {}).get("aliases"), _first_network(config)),
    }
    if config.extra.get("ports"):
        from capsa.container.ports import inspect_ports

        doc["NetworkSettings"]["Ports"] = doc["HostConfig"]["PortBindings"] = inspect_ports(config.extra["ports"])
    return doc


def resource_settings(config: ContainerConfig) -> dict[str, Any]:
    """HostConfig's resource fields from ``--cpu-period`` ... ``--group-add`` (podman's names)."""
    extra = config.extra
    res = extra.get("resources") or {}
    cpu, mem, blkio = res.get("cpu") or {}, res.get("memory") or {}, res.get("blockIO") or {}

    def throttle(key: str) -> list[dict[str, Any]]:
        return [{"Path": d.get("path", f"{d['major']}:{d['minor']}"), "Rate": d["rate"]} for d in blkio.get(key) or []]

    return {"CpuPeriod": cpu.get("period", 0), "CpuQuota": cpu.get("quota", 0),
            "CpuRealtimePeriod": cpu.get("realtimePeriod", 0), "CpuRealtimeRuntime": cpu.get("realtimeRuntime", 0),
            "CpusetCpus": cpu.get("cpus", ""), "CpusetMems": cpu.get("mems", ""),
            "MemoryReservation": mem.get("reservation", 0), "MemorySwappiness": mem.get("swappiness", -1),
            "OomKillDisable": bool(mem.get("disableOOMKiller")), "OomScoreAdj": extra.get("oom_score_adj", 0),
            "BlkioWeight": blkio.get("weight", 0),
            "BlkioWeightDevice": [{"Path": d.get("path", f"{d['major']}:{d['minor']}"), "Weight": d["weight"]}
                                  for d in blkio.get("weightDevice") or []],
            "BlkioDeviceReadBps": throttle("throttleReadBpsDevice"),
            "BlkioDeviceWriteBps": throttle("throttleWriteBpsDevice"),
            "BlkioDeviceReadIOps": throttle("throttleReadIOPSDevice"),
            "BlkioDeviceWriteIOps": throttle("throttleWriteIOPSDevice"),
            "ShmSize": extra.get("shm_size", 65536000), "GroupAdd": list(extra.get("group_add") or [])}


def _names_settings(net: dict) -> dict:
    """HostConfig's Dns, DnsSearch, DnsOptions, ExtraHosts (podman's ``HOST:IP``) from ``--dns*``, ``--add-host``."""
    return {"Dns": list(net.get("dns") or []), "DnsSearch": list(net.get("dns_search") or []),
            "DnsOptions": list(net.get("dns_options") or []),
            "ExtraHosts": [f"{names.replace(' ', ';')}:{addr}" for names, addr in net.get("add_hosts") or []]}


def _first_network(config: ContainerConfig) -> str:
    """The name of a container's first network, when networks were connected to it ("" once
    it was disconnected)."""
    if not config.extra.get("connected_networks") or config.extra.get("first_network_detached"):
        return ""
    from capsa.network.definitions import DEFAULT_NAME

    return str((config.extra.get("network_definition") or {}).get("name") or DEFAULT_NAME)
