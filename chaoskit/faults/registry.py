"""The fault registry: an instance (no global state) mapping a spec ``kind`` to its plugin class."""

from __future__ import annotations

from importlib.metadata import entry_points

from chaoskit.experiment import Fault
from chaoskit.faults.base import FaultPlugin

ENTRY_POINT_GROUP = "chaoskit.faults"


class FaultRegistry:
    def __init__(self) -> None:
        self._plugins: dict[str, type[FaultPlugin]] = {}

    def register(self, plugin: type[FaultPlugin]) -> None:
        if plugin.kind in self._plugins:
            raise ValueError(f"fault kind {plugin.kind!r} is already registered")
        self._plugins[plugin.kind] = plugin

    @property
    def kinds(self) -> list[str]:
        return sorted(self._plugins)

    def create(self, spec: Fault) -> FaultPlugin:
        plugin = self._plugins.get(spec.kind)
        if plugin is None:
            raise KeyError(f"no fault plugin for kind {spec.kind!r} (known: {', '.join(self.kinds)})")
        return plugin(spec)


def default_registry(*, load_entry_points: bool = True) -> FaultRegistry:
    """The built-in faults, plus third-party ones from the ``chaoskit.faults`` entry-point group."""
    from chaoskit.faults.container_restart import ContainerRestartFault
    from chaoskit.faults.node_drain import NodeDrainFault
    from chaoskit.faults.pod_delete import PodDeleteFault
    from chaoskit.faults.pod_kill import PodKillFault

    registry = FaultRegistry()
    for plugin in (PodDeleteFault, PodKillFault, ContainerRestartFault, NodeDrainFault):
        registry.register(plugin)
    if load_entry_points:
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            registry.register(entry.load())
    return registry
