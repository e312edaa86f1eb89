"""Which isolation driver a container uses (kept for its whole life, as podman keeps its
runtime): light, for exec's path; :mod:`capsa.container.lifecycle` re-exports it."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.container.model import ContainerConfig
    from capsa.engine.session import Session


def session_isolation(sess: Session) -> dict[str, Any]:
    """The isolation driver this session selects, as a container records it (``extra["isolation"]``):
    ``{"name", "options"}``. A container keeps it for its whole life, as podman keeps its runtime."""
    cfg = sess.config
    name = cfg.driver("isolation")
    if sess.options.runtime_flag and name != "oci":
        from capsa.errors import UsageError

        raise UsageError(f"--runtime-flag applies to an OCI runtime, and the {name} isolation driver runs none",
                         hint="select the oci isolation driver with --runtime crun (or runc)")
    return {"name": name, "options": cfg.driver_options("isolation")}


def recorded_isolation(sess: Session, config: ContainerConfig) -> dict[str, Any]:
    """The isolation driver ``config`` was created with (the session's for older records)."""
    return config.extra.get("isolation") or session_isolation(sess)


def isolation_driver(sess: Session, config: ContainerConfig) -> Any:
    """The container's own isolation driver: the session's when they agree, else loaded."""
    recorded = recorded_isolation(sess, config)
    if recorded == session_isolation(sess):
        return sess.driver("isolation")
    from capsa.drivers import load_driver

    return load_driver("isolation", recorded["name"], recorded["options"], root=sess.config.root,
                       runroot=sess.config.runroot)
