"""``exec``: run a command in a running container, through its isolation driver's ``exec``
(see :mod:`capsa.container.execsession` for the session, its stdio and its waiter).

On the path of ``capsa exec CONTAINER true``, which should cost a fraction of podman's: no
store, no image, no network, no monitor; one fork (the process itself) without ``-t``/``-d``.
"""
from __future__ import annotations

from capsa.engine.session import container_records
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.engine.session import Session


def exec_command(sess: Session, ref: str | None, latest: bool, command: list[str], o: dict[str, Any]) -> int | str | None:
    """Start the session ``o`` describes (exec's flags by name) in the container ``ref`` (or the
    latest one). Attached: the command's exit code (None: the user detached). ``-d``: the
    session's id."""
    import os

    from capsa.container import execsession, exectty
    from capsa.errors import IsolationError
    from capsa.fastpath.jsonio import loads

    if not command:
        raise UsageError("must provide a non-empty command to start an exec session: invalid argument",
                         hint="capsa exec CONTAINER COMMAND [ARG...]")
    from capsa.engine.attach import detach_keys

    keys = detach_keys(o.get("detach_keys"))
    preserve = int(o.get("preserve_fds") or 0)
    if preserve < 0:
        raise UsageError(f"invalid --preserve-fds {preserve}", hint="give a number of descriptors (0 or more)")
    for fd in range(3, 3 + preserve):
        try:
            os.fstat(fd)
        except OSError:
            raise UsageError(f"file descriptor {fd} is not available - the preserve-fds option requires that all "
                             "file descriptors between 3 and 3+N be available",
                             hint=f"open descriptors 3 to {2 + preserve} before running capsa, or lower --preserve-fds") from None
    env: list[str] = []
    if o.get("env") or o.get("env_file"):
        from capsa.container.flags import parse_env

        env = parse_env(list(o.get("env") or []), list(o.get("env_file") or []))
    records = container_records(sess)
    if latest:
        configs = sorted(records.all(), key=lambda c: c.created)[-1:]
        if not configs:
            raise UsageError("no containers to exec in", hint="create one first (capsa run -d IMAGE ...)")
        config = configs[0]
    else:
        config = records.find(ref or "")
    state = records.state(config.id)
    if state.status != "running":
        raise UsageError(execsession.NOT_RUNNING,
                         hint=f"container {config.name} is {state.status}; start it first (capsa start {config.name})")
    try:
        with open(records.run_dir(config.id, "bundle", "config.json"), "rb") as fh:  # (lifecycle.bundle_dir)
            spec = loads(fh.read())
    except (OSError, ValueError) as exc:
        raise UsageError(f"container {config.name}: its bundle is unreadable ({exc}): {execsession.NOT_RUNNING}",
                         hint="restart the container") from None
    process = execsession.process_for(config, spec, command, env, o.get("user") or "", o.get("workdir") or "",
                                      bool(o.get("tty")), bool(o.get("privileged")))
    from capsa.container.isodriver import isolation_driver

    driver = isolation_driver(sess, config)

    def start(stdio: tuple[int, int, int], console: int | None) -> Any:
        try:
            return driver.exec(config.id, process, stdio=stdio, console=console, preserve_fds=preserve)
        except IsolationError as exc:
            if exc.exit_code == 125 and records.state(config.id).status != "running":
                raise UsageError(execsession.NOT_RUNNING, hint=f"container {config.name} stopped meanwhile") from None
            raise

    exec_id = execsession.new_id()
    if o.get("detach") or o.get("tty"):
        sock, master = execsession.in_waiter(records, config.id, exec_id, command, start, bool(o.get("tty")),
                                             bool(o.get("detach")), preserve)
        if o.get("detach"):
            if master >= 0:
                os.close(master)
            os.close(sock)
            return exec_id
        return exectty.relay(master, sock, bool(o.get("interactive")), keys)
    return execsession.attached(records, config.id, exec_id, command, start, bool(o.get("interactive")))
