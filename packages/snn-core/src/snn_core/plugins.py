"""Plugin discovery: load every entry point of the group ``snn_core`` into one pluggy manager.

A plugin that fails to import or to register is recorded with its error, its registrations are
removed, and the other plugins still load. ``snn plugins`` prints the report.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from snn_core import hookspecs
from snn_core.registry import (
    ALL_REGISTRIES,
    RegistryEntry,
    normalize_distribution_name,
    registering_as,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "get_plugin_manager",
    "plugin_report",
    "reset_plugins",
]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "snn_core"
CORE_DISTRIBUTION = "snn-core"


@dataclass
class PluginInfo:
    """A plugin's identity, its registrations and its load error.

    Attributes:
        name: The entry-point name (or "snn-core" for the built-ins).
        distribution: The distribution that declares the entry point.
        version: That distribution's version.
        registered: ``{"neurons": [...], "encoders": [...], ...}`` for the kinds it registered.
        error: The failure message if the plugin could not load, else None.
    """

    name: str
    distribution: str
    version: str
    registered: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None

    @property
    def loaded(self) -> bool:
        """Whether the plugin loaded without error."""
        return self.error is None


_lock = threading.RLock()
_manager: pluggy.PluginManager | None = None
_report: list[PluginInfo] = []
_loading = False


def _names_where(
    keep: Callable[[str, str, RegistryEntry[Any]], bool],
) -> dict[str, list[str]]:
    """Return the sorted names, per registry kind, whose ``keep(kind, name, entry)`` is true."""
    found: dict[str, list[str]] = {}
    for kind, registry in ALL_REGISTRIES.items():
        names = sorted(name for name, entry in registry._entries.items() if keep(kind, name, entry))
        if names:
            found[kind] = names
    return found


def _registered_by(owner: str) -> dict[str, list[str]]:
    return _names_where(lambda kind, name, entry: entry.owner == owner)


def _registered_names() -> dict[str, set[str]]:
    return {kind: set(registry._entries) for kind, registry in ALL_REGISTRIES.items()}


def _added_since(before: dict[str, set[str]]) -> dict[str, list[str]]:
    """Return the names registered after the snapshot ``before``, per registry kind."""
    return _names_where(lambda kind, name, entry: name not in before[kind])


def _defined_in(entry: RegistryEntry[Any]) -> str | None:
    """Return the module that defines the registered object, if it records one."""
    return getattr(entry.obj, "__module__", None)


def _within(module: str | None, package: str) -> bool:
    return module is not None and (module == package or module.startswith(package + "."))


def _load_entry_point(
    manager: pluggy.PluginManager,
    entry_point: metadata.EntryPoint,
    loaded: dict[str, str],
) -> PluginInfo:
    """Load one entry point; ``loaded`` maps the entry-point names loaded so far to distributions."""
    distribution = normalize_distribution_name(
        entry_point.dist.name if entry_point.dist is not None else entry_point.name
    )
    version = entry_point.dist.version if entry_point.dist is not None else "unknown"
    info = PluginInfo(name=entry_point.name, distribution=distribution, version=version)
    if entry_point.name in loaded:
        if loaded[entry_point.name] != distribution:
            info.error = (
                f"the entry-point name {entry_point.name!r} is already used by the distribution "
                f"{loaded[entry_point.name]!r}; rename the entry point in one of the two (the "
                f"[project.entry-points.{ENTRY_POINT_GROUP}] table of its pyproject.toml)"
            )
            logger.warning("plugin %r from %s not loaded: %s", info.name, distribution, info.error)
        return info  # else the same distribution is found twice on sys.path: load it once
    loaded[entry_point.name] = distribution
    module = entry_point.value.partition(":")[0].strip()
    # The registries record the distribution as owner, which users install and name. The names
    # added while an entry point loads belong to that entry point.
    before = _registered_names()
    try:
        with registering_as(distribution):
            plugin = entry_point.load()
            manager.register(plugin, name=entry_point.name)
    except Exception as error:  # a broken plugin must not stop the others from loading
        # A module that imported completely stays imported, and will not register again for
        # another entry point that imports it, so its names stay. The failing entry point's own
        # module, and modules whose import failed, lose theirs.
        remaining = _names_where(
            lambda kind, name, entry: (
                name not in before[kind]
                and _defined_in(entry) in sys.modules
                and not _within(_defined_in(entry), module)
            )
        )
        for kind, names in _added_since(before).items():
            for name in set(names) - set(remaining.get(kind, [])):
                ALL_REGISTRIES[kind].unregister(name)
        if manager.has_plugin(entry_point.name):
            manager.unregister(name=entry_point.name)
        summary = "".join(traceback.format_exception_only(type(error), error)).strip()
        info.error = f"{summary} (entry point {entry_point.value!r})"
        info.registered = remaining
        logger.warning(
            "plugin %r from %s failed to load: %s", entry_point.name, distribution, summary
        )
        if remaining:
            logger.warning(
                "plugin %r: names registered by modules it imported successfully stay: %s",
                entry_point.name,
                remaining,
            )
        logger.debug("traceback of plugin %r", entry_point.name, exc_info=True)
        return info
    # The names added while it loaded, and those of its own module that an earlier entry point
    # imported first.
    info.registered = _names_where(
        lambda kind, name, entry: name not in before[kind] or _within(_defined_in(entry), module)
    )
    return info


def _create_manager() -> tuple[pluggy.PluginManager, list[PluginInfo]]:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)

    from snn_core import builtin  # registers the built-in neurons, surrogates, encoders, ...

    manager.register(builtin, name=CORE_DISTRIBUTION)
    report = [
        PluginInfo(
            name=CORE_DISTRIBUTION,
            distribution=CORE_DISTRIBUTION,
            version=_version(CORE_DISTRIBUTION),
            registered=_registered_by(CORE_DISTRIBUTION),
        )
    ]
    manager.hook.snn_add_hookspecs.call_historic(kwargs={"plugin_manager": manager})

    if os.environ.get("SNN_CORE_DISABLE_PLUGIN_AUTOLOAD"):
        logger.info("SNN_CORE_DISABLE_PLUGIN_AUTOLOAD is set: entry points are not loaded")
        return manager, report
    entry_points = sorted(
        metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda point: point.name
    )
    loaded: dict[str, str] = {}
    for entry_point in entry_points:
        report.append(_load_entry_point(manager, entry_point, loaded))
    return manager, report


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def get_plugin_manager() -> pluggy.PluginManager:
    """Return the plugin manager, loading every installed plugin on the first call."""
    global _manager, _report, _loading
    with _lock:
        if _manager is None:
            if _loading:
                raise RuntimeError(
                    "a plugin asked for the plugin manager while plugins were still loading; "
                    "look names up inside functions, not at import time of the plugin"
                )
            _loading = True
            try:
                _manager, _report = _create_manager()
            finally:
                _loading = False
        return _manager


def plugin_report() -> list[PluginInfo]:
    """Return what each plugin registered and which plugins failed to load."""
    get_plugin_manager()
    return list(_report)


def register_plugin(plugin: ModuleType | Any, name: str) -> PluginInfo:
    """Register a plugin object by hand, as an entry point would (for notebooks and tests).

    Raises:
        ValueError: If a plugin with ``name`` is registered already.
    """
    manager = get_plugin_manager()
    if manager.has_plugin(name):
        raise ValueError(f"a plugin named {name!r} is registered already; choose another name")
    manager.register(plugin, name=name)
    info = PluginInfo(
        name=name, distribution=name, version="unknown", registered=_registered_by(name)
    )
    _report.append(info)
    return info


def reset_plugins() -> None:
    """Forget the plugin manager so the next lookup loads the plugins again (for tests)."""
    global _manager, _report
    with _lock:
        _manager = None
        _report = []


def _load_before_lookup() -> None:
    if _manager is None and not _loading:
        get_plugin_manager()


for _registry in ALL_REGISTRIES.values():
    _registry._before_lookup = _load_before_lookup
