"""The fault registry: an instance (no global state) mapping a spec ``kind`` to its plugin class, and the
experiment model that accepts exactly the registered kinds."""

from __future__ import annotations

import typing
from importlib.metadata import entry_points

from chaoskit.experiment.faults import FaultSpec
from chaoskit.experiment.model import Experiment
from chaoskit.faults.base import FaultPlugin

ENTRY_POINT_GROUP = "chaoskit.faults"


class PluginError(ValueError):
    """A fault plugin is malformed or clashes with another one."""


class FaultRegistry:
    def __init__(self) -> None:
        self._plugins: dict[str, type[FaultPlugin]] = {}

    def register(self, plugin: type[FaultPlugin]) -> None:
        """Add a plugin class; its ``kind`` must be new and equal its spec model's ``kind`` literal."""
        model = getattr(plugin, "spec_model", None)
        if not (isinstance(model, type) and issubclass(model, FaultSpec)):
            raise PluginError(f"fault plugin {plugin.__name__} has no spec_model (a FaultSpec subclass)")
        literal = typing.get_args(model.model_fields["kind"].annotation)
        if literal != (plugin.kind,):
            raise PluginError(f"fault plugin {plugin.__name__}: kind {plugin.kind!r} but its spec model "
                              f"{model.__name__} has kind {literal!r}; declare kind: Literal[{plugin.kind!r}]")
        if plugin.kind in self._plugins:
            raise PluginError(f"fault kind {plugin.kind!r} is already registered")
        self._plugins[plugin.kind] = plugin

    @property
    def kinds(self) -> list[str]:
        """Registered kinds, in registration order (built-ins first: how messages list them)."""
        return list(self._plugins)

    def plugin(self, kind: str) -> type[FaultPlugin]:
        found = self._plugins.get(kind)
        if found is None:
            raise KeyError(f"no fault plugin for kind {kind!r} (known: {', '.join(self.kinds)})")
        return found

    def create(self, spec: FaultSpec) -> FaultPlugin:
        return self.plugin(spec.kind)(spec)

    def experiment_model(self) -> type[Experiment]:
        """The Experiment model whose ``faults`` are the registered kinds (cached per set of kinds)."""
        return Experiment.for_faults([self._plugins[k].spec_model for k in self.kinds])


def builtin_plugins() -> tuple[type[FaultPlugin], ...]:
    from chaoskit.faults.container_restart import ContainerRestartFault
    from chaoskit.faults.node_drain import NodeDrainFault
    from chaoskit.faults.node_failure import NodeFailureFault
    from chaoskit.faults.pod_delete import PodDeleteFault
    from chaoskit.faults.pod_kill import PodKillFault

    return PodDeleteFault, PodKillFault, ContainerRestartFault, NodeDrainFault, NodeFailureFault


def default_registry(*, load_entry_points: bool = True) -> FaultRegistry:
    """The built-in faults, plus third-party ones from the ``chaoskit.faults`` entry-point group."""
    registry = FaultRegistry()
    for plugin in builtin_plugins():
        registry.register(plugin)
    if load_entry_points:
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            registry.register(entry.load())
    return registry
