"""Name registries for neurons, surrogates, encoders, models and datasets.

Each registry maps a lowercase-hyphenated name to an object (usually a class or a factory) and records
which plugin registered it. Plugins register at import time of their entry-point module, for example::

    from snn_core.registry import NEURONS

    @NEURONS.register("adaptive-lif")
    class AdaptiveLIF(BaseNeuron): ...

Looking a name up first loads every installed plugin, so names from plugins are always visible.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import Any, Generic, TypeVar, overload

__all__ = [
    "DATASETS",
    "ENCODERS",
    "MODELS",
    "NEURONS",
    "SURROGATES",
    "DuplicateNameError",
    "Registry",
    "RegistryEntry",
    "UnknownNameError",
    "registering_as",
]

T = TypeVar("T")

_NAME_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

# The plugin whose entry point is being loaded; registrations made meanwhile belong to it.
_current_owner: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "snn_core_registry_owner", default=None
)


class UnknownNameError(KeyError):
    """Raised when a name is not in a registry. The message lists the known names."""

    def __str__(self) -> str:  # KeyError would otherwise print the message in quotes
        return str(self.args[0])


class DuplicateNameError(ValueError):
    """Raised when a name is registered twice. The message names both owners."""


@dataclass(frozen=True)
class RegistryEntry(Generic[T]):
    """One registered object with its name and the plugin that registered it."""

    name: str
    obj: T
    owner: str


@contextlib.contextmanager
def registering_as(owner: str) -> Iterator[None]:
    """Attribute every registration made inside the block to ``owner`` (a distribution name)."""
    token = _current_owner.set(owner)
    try:
        yield
    finally:
        _current_owner.reset(token)


@cache
def _distribution_of_module() -> dict[str, list[str]]:
    return dict(metadata.packages_distributions())


def normalize_distribution_name(name: str) -> str:
    """Return the normalised form of a distribution name (PEP 503): ``snn_core`` -> ``snn-core``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _owner_of(obj: Any) -> str:
    """Return the distribution that ships ``obj``'s module, or the module's top-level name."""
    module = getattr(obj, "__module__", None) or "unknown"
    top_level = module.split(".")[0]
    distributions = _distribution_of_module().get(top_level)
    return normalize_distribution_name(distributions[0] if distributions else top_level)


class Registry(Generic[T]):
    """A mapping from lowercase-hyphenated names to registered objects.

    Args:
        kind: What the registry holds, in the plural ("neurons"); used in messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, RegistryEntry[T]] = {}
        # Set by snn_core.plugins so that the first lookup loads the installed plugins.
        self._before_lookup: Callable[[], None] | None = None

    @overload
    def register(
        self, name: str, obj: None = None, *, owner: str | None = None
    ) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, obj: T, *, owner: str | None = None) -> T: ...

    def register(
        self, name: str, obj: T | None = None, *, owner: str | None = None
    ) -> T | Callable[[T], T]:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator that does so.

        Args:
            name: Lowercase words joined by hyphens, such as ``"spiking-cnn"``.
            obj: The class or factory to register.
            owner: The plugin that owns the entry. Defaults to the plugin being loaded, else the
                distribution that ships ``obj``'s module.

        Raises:
            ValueError: If ``name`` is not lowercase-hyphenated.
            DuplicateNameError: If ``name`` is taken; the message names both owners.
        """
        if not _NAME_PATTERN.match(name):
            raise ValueError(
                f"invalid {self.kind} name {name!r}: use lowercase letters and digits joined by "
                "single hyphens, such as 'adaptive-lif'"
            )

        def add(target: T) -> T:
            new_owner = owner or _current_owner.get() or _owner_of(target)
            existing = self._entries.get(name)
            if existing is not None:
                if existing.obj is target:
                    return target  # the same module imported twice, e.g. by reload
                raise DuplicateNameError(
                    f"{self.kind} name {name!r} is registered by {existing.owner!r} and again by "
                    f"{new_owner!r}: rename one of them"
                )
            self._entries[name] = RegistryEntry(name=name, obj=target, owner=new_owner)
            return target

        if obj is None:
            return add
        return add(obj)

    def unregister(self, name: str) -> None:
        """Remove ``name``. Raises :class:`UnknownNameError` if it is not registered."""
        self._lookup_entry(name, load_plugins=False)
        del self._entries[name]

    def unregister_owner(self, owner: str) -> list[str]:
        """Remove every entry that ``owner`` registered and return their names."""
        names = [name for name, entry in self._entries.items() if entry.owner == owner]
        for name in names:
            del self._entries[name]
        return names

    def get(self, name: str) -> T:
        """Return the object registered as ``name``.

        Raises:
            UnknownNameError: If ``name`` is unknown; the message lists the known names.
        """
        return self._lookup_entry(name).obj

    def entry(self, name: str) -> RegistryEntry[T]:
        """Return the entry (object and owner) registered as ``name``."""
        return self._lookup_entry(name)

    def build(self, name: str, /, **kwargs: Any) -> Any:
        """Call the object registered as ``name`` with ``kwargs`` and return the result.

        Raises:
            UnknownNameError: If ``name`` is not registered.
            TypeError: If the entry is not callable or rejects ``kwargs``.
        """
        factory = self.get(name)
        if not callable(factory):
            raise TypeError(f"{self.kind} entry {name!r} is not callable, so it cannot be built")
        return factory(**kwargs)

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        self._load_plugins()
        return sorted(self._entries)

    def entries(self) -> list[RegistryEntry[T]]:
        """Return every entry, sorted by name."""
        self._load_plugins()
        return [self._entries[name] for name in sorted(self._entries)]

    def name_of(self, obj: Any) -> str | None:
        """Return the name under which ``obj`` (or ``type(obj)``) is registered, or None."""
        for entry in self.entries():
            if entry.obj is obj or entry.obj is type(obj):
                return entry.name
        return None

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"

    def _load_plugins(self) -> None:
        if self._before_lookup is not None:
            self._before_lookup()

    def _lookup_entry(self, name: str, load_plugins: bool = True) -> RegistryEntry[T]:
        if load_plugins:
            self._load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownNameError(
                f"unknown {self.kind[:-1]} {name!r}; known {self.kind}: {known}"
            ) from None


NEURONS: Registry[Any] = Registry("neurons")
SURROGATES: Registry[Any] = Registry("surrogates")
ENCODERS: Registry[Any] = Registry("encoders")
MODELS: Registry[Any] = Registry("models")
DATASETS: Registry[Any] = Registry("datasets")

ALL_REGISTRIES: dict[str, Registry[Any]] = {
    "neurons": NEURONS,
    "surrogates": SURROGATES,
    "encoders": ENCODERS,
    "models": MODELS,
    "datasets": DATASETS,
}
