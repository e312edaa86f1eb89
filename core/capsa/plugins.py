"""The hook plugin manager, and the core's call sites for every hook.

Hook plugins come from the ``capsa.hooks`` entry-point group and are loaded one by one by
:func:`load_hook_plugins`, each guarded: a plugin that fails to import or register is skipped
with a warning that says how to fix it, and never breaks the CLI. pluggy itself is imported only
when a plugin is installed or a hook is called.
"""
from __future__ import annotations

import sys

from capsa.entrypoints import HOOKS_GROUP, PluginEntry, entries_in, import_entry
from capsa.errors import CapsaError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    import pluggy

    Warn = Callable[[str], None]

_manager: pluggy.PluginManager | None = None
failed_plugins: list[str] = []  # hook plugins that failed to load or to run in this process
_installed_loaded: list[str] | None = None  # what load_hook_plugins() loaded (once per process)


def _stderr_warning(message: str) -> None:
    print(f"Warning: {message}", file=sys.stderr)


def get_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager with capsa's hook specs (plugins not loaded here)."""
    global _manager
    if _manager is None:
        import pluggy

        from capsa import hookspecs

        _manager = pluggy.PluginManager("capsa")
        _manager.add_hookspecs(hookspecs)
    return _manager


def reset_manager() -> None:
    """Forget every registered plugin (tests use it to start clean)."""
    global _manager, _installed_loaded
    _manager = None
    _installed_loaded = None
    failed_plugins.clear()


def load_hook_plugins(entries: list[PluginEntry] | None = None, warn: Warn = _stderr_warning) -> list[str]:
    """Import and register every ``capsa.hooks`` plugin, one by one; return the names loaded.
    Without ``entries`` (the installed plugins) this is done once per process: the engine's
    operations and the CLI may both ask, and a broken plugin warns once."""
    global _installed_loaded
    if entries is None:
        if _installed_loaded is not None:
            return list(_installed_loaded)
        _installed_loaded = load_hook_plugins(entries_in(HOOKS_GROUP), warn)
        return list(_installed_loaded)
    loaded: list[str] = []
    for entry in entries:
        try:
            plugin = import_entry(entry)
            manager = get_manager()
            if manager.get_plugin(entry.name) is None:
                manager.register(plugin, name=entry.name)
            loaded.append(entry.name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # one broken plugin (even one calling sys.exit) spares the rest
            failed_plugins.append(entry.name)
            warn(
                f"hook plugin {entry.name!r} from {entry.dist} {entry.version} failed to load "
                f"({type(exc).__name__}: {exc}); fix it with 'pip install --force-reinstall {entry.dist}' "
                f"or remove it with 'pip uninstall {entry.dist}'"
            )
    return loaded


def loaded_plugin_names() -> list[str]:
    """Names of the hook plugins registered in this process."""
    if _manager is None:
        return []
    return sorted(name for name, _ in _manager.list_name_plugin())


def _has_impls(hook_name: str) -> bool:
    return _manager is not None and bool(getattr(_manager.hook, hook_name).get_hookimpls())


def wants(hook_name: str) -> bool:
    """Whether any loaded plugin implements ``hook_name``: a caller builds the hook's arguments
    (a container's view, say) only then, so that hooks cost nothing when no plugin listens."""
    return _has_impls(hook_name)


class HookFailed(CapsaError):
    """A hook implementation raised where its failure must stop the operation (a container's
    ``capsa_adjust_runtime_spec`` and ``capsa_container_prestart``)."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def call(hook_name: str, **kwargs: Any) -> list[Any]:
    """Call a hook with keyword arguments; return the implementations' results (pluggy order)."""
    if not _has_impls(hook_name):
        return []
    return getattr(get_manager().hook, hook_name)(**kwargs)


def call_first(hook_name: str, **kwargs: Any) -> Any:
    """Call a ``firstresult`` hook; None when no implementation answers."""
    if not _has_impls(hook_name):
        return None
    return getattr(get_manager().hook, hook_name)(**kwargs)


def call_each_warning(hook_name: str, warn: Warn = _stderr_warning, **kwargs: Any) -> None:
    """Call every implementation even when some raise; each error becomes a one-line warning
    naming the hook and the plugin, and the operation goes on.

    For hooks that report what happened (a container created, started or stopped, an image
    event), and ``capsa_container_poststop``, where the OCI runtime spec says a failing hook
    must not stop the others.
    """
    for plugin_name, exc in _each_impl(hook_name, kwargs):
        warn(f"{hook_name} of plugin {plugin_name!r} failed: {_one_line(exc)}")


def call_or_fail(hook_name: str, **kwargs: Any) -> None:
    """Call every implementation (pluggy's order); the first that raises stops the call with
    :class:`HookFailed` naming the hook and the plugin (a failed start: ``run`` exits 126,
    ``start`` 125). For hooks that shape what is about to happen (``capsa_adjust_runtime_spec``,
    ``capsa_adjust_network_attachment``, ``capsa_container_prestart``): going on
    without the plugin's change could run a container other than the one asked for."""
    for plugin_name, exc in _each_impl(hook_name, kwargs):
        raise HookFailed(f"{hook_name} of plugin {plugin_name!r} failed: {_one_line(exc)}",
                         hint="fix the hook plugin, or uninstall it (see 'capsa plugins')") from None


def _each_impl(hook_name: str, kwargs: dict[str, Any]) -> Iterator[tuple[str, BaseException]]:
    """Call the hook's implementations one by one (pluggy's order, wrappers left out: they need
    pluggy's own call loop); yield (plugin name, error) for each that raises, after recording
    the plugin in ``failed_plugins``. The caller decides: warn and go on, or stop."""
    if not _has_impls(hook_name):
        return
    assert _manager is not None
    for impl in reversed(getattr(_manager.hook, hook_name).get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            continue
        try:
            impl.function(**{name: kwargs[name] for name in impl.argnames})
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            failed_plugins.append(impl.plugin_name)
            yield impl.plugin_name, exc


def resolve_short_name(name: str, search_registries: list[str]) -> str | None:
    """Ask plugins to qualify a short image name; None lets the core use its own rules."""
    return call_first("capsa_resolve_short_name", name=name, search_registries=search_registries)


def registry_credentials(registry: str) -> tuple[str, str] | None:
    """Credentials a plugin offers for ``registry``, or None."""
    return call_first("capsa_registry_credentials", registry=registry)
