"""Which port of a Service chaoskit loads: the one an experiment names (by name or number), else a default.

Works on a Service's ``spec.ports`` as both manifests and the API server write them (plain mappings), so the
validator, both cluster backends, discovery and ``chaoskit init`` choose the same port. A leaf: imports
nothing from chaoskit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

HTTP_NAMES: Final = ("http", "web", "http-web", "http-alt", "www")
"""Port names that say HTTP (Istio's convention: ``http`` or ``http-<suffix>``, also counted)."""
HTTP_NUMBERS: Final = (80, 8080, 8000, 8008, 8081, 8888, 3000, 5000, 9000)
"""Port numbers web servers and frameworks listen on by default."""

PortRef = int | str
"""A Service port by number (``spec.ports[].port``) or by name (``spec.ports[].name``)."""


class PortChoiceError(ValueError):
    """No port of the Service fits: ``hint`` says which there are and how to choose."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def ports_of(service: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The mappings in ``spec.ports`` (anything else is skipped: the API server rejects it anyway)."""
    spec = service.get("spec")
    ports = spec.get("ports") if isinstance(spec, Mapping) else None
    return [p for p in ports if isinstance(p, Mapping)] if isinstance(ports, list) else []


def describe_port(port: Mapping[str, Any]) -> str:
    """``http 80->http`` (name, port, targetPort; ``/nodePort`` when it has one)."""
    name = f"{port.get('name')} " if port.get("name") else ""
    target = port.get("targetPort", port.get("port"))
    node = f" nodePort {port['nodePort']}" if port.get("nodePort") else ""
    return f"{name}{port.get('port')}->{target}{node}"


def find_port(ports: Sequence[Mapping[str, Any]], ref: PortRef) -> Mapping[str, Any] | None:
    """The port named ``ref`` (a string) or numbered ``ref`` (an int), else None."""
    for port in ports:
        if (port.get("name") == ref) if isinstance(ref, str) else (_int(port.get("port")) == ref):
            return port
    return None


def default_port(ports: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The port used when an experiment names none: the one named ``http``, else the first."""
    return next((p for p in ports if p.get("name") == "http"), ports[0] if ports else None)


def looks_http(port: Mapping[str, Any]) -> bool:
    """Whether a port looks like plain HTTP: ``appProtocol: http``, an HTTP-ish name, or a web server's number."""
    name = str(port.get("name") or "").lower()
    if str(port.get("appProtocol") or "").lower() in ("http", "kubernetes.io/h2c"):
        return True
    if name in HTTP_NAMES or name.startswith("http-"):
        return True
    target = port.get("targetPort")
    return not name and (_int(port.get("port")) in HTTP_NUMBERS or _int(target) in HTTP_NUMBERS)


def choose_port(service: Mapping[str, Any], ref: PortRef | None, *, discovering: bool) -> Mapping[str, Any]:
    """The port to load: ``ref`` when given; else the only one; else (``discovering``) the first HTTP-looking
    one, or (named in the experiment) the default. Raises PortChoiceError naming the ports there are."""
    ports = ports_of(service)
    name = str((service.get("metadata") or {}).get("name", "?"))
    listed = ", ".join(describe_port(p) for p in ports) or "none"
    if not ports:
        raise PortChoiceError(f"Service {name} has no ports", "a Service needs spec.ports to be loaded")
    if ref is not None:
        found = find_port(ports, ref)
        if found is None:
            what = f"named {ref}" if isinstance(ref, str) else f"numbered {ref}"
            raise PortChoiceError(f"Service {name} has no port {what}",
                                  f"its ports: {listed}; set `port:` to one of their names or numbers")
        return found
    if len(ports) == 1:
        return ports[0]
    if not discovering:
        chosen = default_port(ports)
        assert chosen is not None
        return chosen
    http = [p for p in ports if looks_http(p)]
    if not http:
        raise PortChoiceError(f"Service {name} has {len(ports)} ports and none looks like HTTP",
                              f"its ports: {listed}; list it in load.services with `port:` (a name or number)")
    return http[0]


def target_port_number(target: Any, container_ports: Sequence[tuple[str, int]]) -> int | None:
    """A ``targetPort`` resolved as kube-proxy does it, per pod: a number as is, a name through the pod's own
    container port names (None when the pod declares no port of that name: it is no endpoint of this port)."""
    number = _int(target)
    if number is not None:
        return number
    return next((n for name, n in container_ports if name == target), None)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
