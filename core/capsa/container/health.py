"""A container's health check and its recorded health (see :mod:`capsa.engine.health`, which runs
the checks): what ``inspect`` (``State.Health``, ``Config.Healthcheck``) and ``ps`` (``(healthy)``)
show."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.container.model import ContainerConfig

HEALTHY, UNHEALTHY, STARTING = "healthy", "unhealthy", "starting"


def healthcheck_of(config: ContainerConfig, image_config: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The check ``config`` runs (its own, else its image's), or None when it has none."""
    check = config.extra.get("healthcheck")
    if check is None and image_config:
        check = (image_config.get("config") or {}).get("Healthcheck") or image_config.get("Healthcheck")
    if not check or not check.get("Test") or check["Test"][0] == "NONE":
        return None
    return check


def take_image_check(config: ContainerConfig, image_config: dict[str, Any]) -> None:
    """At create, a container given no ``--health-*`` check takes its image's, as podman's:
    the default 30s ``Interval`` and ``Timeout`` where the image gives none (0)."""
    check = healthcheck_of(config, image_config)
    if check is not None:
        config.extra["healthcheck"] = {**check, "Interval": check.get("Interval") or 30 * 10**9,
                                       "Timeout": check.get("Timeout") or 30 * 10**9}


def health_state(records: Any, config: ContainerConfig, started_at: str, has_check: bool) -> dict[str, Any]:
    """``State.Health`` of inspect: {"Status", "FailingStreak", "Log"} ("" status: no check)."""
    if not has_check:
        return {"Status": "", "FailingStreak": 0, "Log": None}
    from capsa.fastpath.jsonio import loads

    try:
        with open(records.run_dir(config.id, "health.json"), "rb") as fh:
            doc = loads(fh.read())
    except (OSError, ValueError):
        doc = None
    if not isinstance(doc, dict) or doc.get("StartedAt") != started_at:
        return {"Status": STARTING, "FailingStreak": 0, "Log": None}
    return {"Status": doc.get("Status", STARTING), "FailingStreak": doc.get("FailingStreak", 0), "Log": doc.get("Log")}
