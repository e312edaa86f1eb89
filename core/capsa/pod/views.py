"""What pod commands show, podman-shaped and pure: ``pod ps``'s report (its JSON) and template
row, its filters, and the ``pod inspect`` document. The callers (capsa.engine.podlife) read the
records; these functions only shape what they are given: the pod, its members with their
states (infra first), the infra's network names.
"""
from __future__ import annotations

import re

from capsa.errors import UsageError
from capsa.pod.status import CONTAINER_FILTER_STATUSES, FILTER_STATUSES, ctr_status_matches, pod_status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from capsa.container.model import ContainerConfig
    from capsa.container.records import ContainerState
    from capsa.pod.model import PodConfig

    Members = list[tuple[ContainerConfig, ContainerState]]

FILTER_KEYS = ("ctr-ids", "ctr-names", "ctr-number", "ctr-status", "id", "label", "name", "network", "status", "until")
SORT_KEYS = ("created", "id", "name", "number", "status")


def ps_report(pod: PodConfig, members: Members, networks: list[str]) -> dict[str, Any]:
    """podman's ListPodsReport (``pod ps --format json``), keys in podman's order."""
    return {
        "Cgroup": cgroup_parent(pod),
        "Containers": [{"Id": c.id, "Names": c.name, "Status": s.status} for c, s in members],
        "Created": pod.created,
        "Id": pod.id,
        "InfraId": pod.infra_id,
        "Name": pod.name,
        "Namespace": "",
        "Networks": list(networks),
        "Status": pod_status([s.status for _, s in members]),
        "Labels": dict(pod.labels),
    }


def ps_row(report: dict[str, Any], no_trunc: bool) -> dict[str, Any]:
    """The fields ``pod ps --format`` templates see (podman's ListPodReporter): ids cut to 12
    characters unless ``no_trunc``, ``.Created`` as ``3 minutes ago``, ``.Networks`` joined."""
    from capsa.humanize import since

    def cut(text: str) -> str:
        return text if no_trunc else text[:12]

    ctrs = report["Containers"]
    return {
        "ID": cut(report["Id"]), "Id": cut(report["Id"]), "Name": report["Name"], "Status": report["Status"],
        "Created": since(report["Created"]), "CreatedAt": report["Created"],
        "InfraID": cut(report["InfraId"]), "InfraId": cut(report["InfraId"]),
        "NumberOfContainers": len(ctrs), "Labels": dict(report["Labels"]), "Networks": ",".join(report["Networks"]),
        "ContainerIds": ",".join(cut(c["Id"]) for c in ctrs), "ContainerNames": ",".join(c["Names"] for c in ctrs),
        "ContainerStatuses": ",".join(c["Status"] for c in ctrs), "Cgroup": report["Cgroup"],
        "Namespace": report["Namespace"],
    }


def cgroup_parent(pod: PodConfig) -> str:
    """The pod's cgroup parent as recorded ("" : capsa makes no pod-level cgroup; its members'
    cgroups are their own, under capsa's)."""
    return str(pod.extra.get("cgroup_parent") or "")


# -- filters --------------------------------------------------------------------------------------

def parse_filters(specs: list[str]) -> dict[str, list[str]]:
    """``--filter KEY=VALUE`` flags grouped by key (values of one key are ORed, keys ANDed, as
    podman); podman's errors for a malformed one, an unknown key or a bad status."""
    out: dict[str, list[str]] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        if not sep:
            raise UsageError(f"filter input must be in the form of filter=value: {spec} is invalid",
                             hint="e.g. --filter status=running")
        if key not in FILTER_KEYS:
            raise UsageError(f"{key} is an invalid filter", hint=f"supported: {', '.join(FILTER_KEYS)}")
        if key == "status" and value not in FILTER_STATUSES:
            raise UsageError(f"{value} is not a valid pod status", hint=f"use one of: {', '.join(FILTER_STATUSES)}")
        if key == "ctr-status" and value not in CONTAINER_FILTER_STATUSES:
            raise UsageError(f"{value} is not a valid status", hint=f"use one of: {', '.join(CONTAINER_FILTER_STATUSES)}")
        if key == "until":
            until_cutoff(value)  # (checked now: a bad one is an error, not an empty list)
        out.setdefault(key, []).append(value)
    return out


def until_cutoff(value: str) -> float:
    """podman's ``until`` value as a Unix time: a Unix timestamp (``1700000000[.5]``), an RFC 3339
    time (or ``2006-01-02``), or a Go duration before now (``10m``, ``1h30m``)."""
    import datetime
    import time

    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if parts and "".join(n + u for n, u in parts) == text:
        return time.time() - sum(float(n) * units[u] for n, u in parts)
    from capsa.humanize import parse_time

    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc).timestamp()
        return parse_time(text, strict=True).timestamp()
    except ValueError:
        raise UsageError(f"invalid until filter {value!r}", hint="a timestamp (RFC 3339 or Unix) or a duration like 10m") from None


def _regex_any(patterns: list[str], text: str) -> bool:
    for pattern in patterns:
        try:
            if re.search(pattern, text):
                return True
        except re.error:
            if pattern == text:
                return True
    return False


def _label_match(specs: list[str], labels: dict[str, str]) -> bool:
    """podman's MatchLabelFilters: every ``KEY[=VALUE]`` holds."""
    for spec in specs:
        key, sep, value = spec.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def matches(report: dict[str, Any], filters: dict[str, list[str]], network_names: Callable[[list[str]], list[str]]) -> bool:
    """Whether the pod of ``report`` passes every filter (``network_names``: the names of the
    networks the values name, unknown ones left out, as podman's)."""
    from capsa.humanize import parse_time

    ctrs = report["Containers"]
    tests: dict[str, Callable[[list[str]], bool]] = {
        "ctr-ids": lambda vs: any(c["Id"].startswith(v) for c in ctrs for v in vs),
        "ctr-names": lambda vs: any(_regex_any(vs, c["Names"]) for c in ctrs),
        "ctr-number": lambda vs: any(v.lstrip("-").isdigit() and int(v) == len(ctrs) for v in vs),
        "ctr-status": lambda vs: any(ctr_status_matches(c["Status"], v) for c in ctrs for v in vs),
        "id": lambda vs: any(report["Id"].startswith(v) for v in vs),
        "name": lambda vs: _regex_any(vs, report["Name"]),
        "status": lambda vs: report["Status"].lower() in vs,
        "label": lambda vs: _label_match(vs, report["Labels"]),
        "until": lambda vs: parse_time(report["Created"]).timestamp() < until_cutoff(vs[-1]),
        "network": lambda vs: bool(set(network_names(vs)) & set(report["Networks"])),
    }
    return all(tests[key](values) for key, values in filters.items())


def sort_reports(reports: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """``pod ps --sort``: created (newest first, the default), id, name, number, status."""
    if key not in SORT_KEYS:
        raise UsageError("invalid option for --sort, options are: id, names, or number",  # (podman 4.3's words)
                         hint=f"use one of: {', '.join(SORT_KEYS)}")
    if key == "created":
        return sorted(reports, key=lambda r: r["Created"], reverse=True)
    field = {"id": "Id", "name": "Name", "status": "Status"}.get(key)
    if field:
        return sorted(reports, key=lambda r: r[field])
    return sorted(reports, key=lambda r: len(r["Containers"]))


# -- inspect --------------------------------------------------------------------------------------

def inspect_doc(pod: PodConfig, members: Members, infra: ContainerConfig | None, networks: list[str]) -> dict[str, Any]:
    """podman 4.3's InspectPodData (``pod inspect``): empty optional parts left out as podman's
    ``omitempty`` does."""
    doc: dict[str, Any] = {
        "Id": pod.id, "Name": pod.name, "Created": pod.created,
        "CreateCommand": list(pod.extra.get("create_command") or []),
        "ExitPolicy": pod.exit_policy, "State": pod_status([s.status for _, s in members]),
        "Hostname": pod.hostname, "Labels": dict(pod.labels),
        "CreateCgroup": bool(cgroup_parent(pod)), "CgroupParent": cgroup_parent(pod),
        "CreateInfra": bool(pod.infra_id), "InfraContainerID": pod.infra_id,
        "InfraConfig": infra_config(pod, infra, networks) if infra is not None else None,
        "SharedNamespaces": list(pod.share) if pod.infra_id else [],
        "NumContainers": len(members),
        "Containers": [{"Id": c.id, "Name": c.name, "State": s.status} for c, s in members],
    }
    keep = ("Id", "Name", "Created", "ExitPolicy", "State", "Hostname", "CreateCgroup", "CreateInfra", "NumContainers")
    return {k: v for k, v in doc.items() if k in keep or v}


def infra_config(pod: PodConfig, infra: ContainerConfig, networks: list[str]) -> dict[str, Any]:
    """InspectPodInfraConfig: the infra container's network settings, as podman shows them."""
    net = infra.extra.get("net") or {}
    ports: dict[str, Any] = {}
    if infra.extra.get("ports"):
        from capsa.container.ports import inspect_ports

        ports = inspect_ports(infra.extra["ports"])
    host_net = infra.network == "host"
    return {
        "PortBindings": ports, "HostNetwork": host_net,
        "StaticIP": str(net.get("ip") or ""), "StaticMAC": str(net.get("mac") or ""),
        "NoManageResolvConf": False,
        "DNSServer": list(net["dns"]) if net.get("dns") else None,
        "DNSSearch": list(net["dns_search"]) if net.get("dns_search") else None,
        "DNSOption": list(net["dns_options"]) if net.get("dns_options") else None,
        "NoManageHosts": False,
        "HostAdd": [f"{names.replace(' ', ';')}:{addr}" for names, addr in net["add_hosts"]] if net.get("add_hosts") else None,
        "Networks": list(networks), "NetworkOptions": None,
        "pid_ns": infra.namespaces.get("pid") or "private", "userns": "host",
        "uts_ns": infra.namespaces.get("uts") or "private",
    }
