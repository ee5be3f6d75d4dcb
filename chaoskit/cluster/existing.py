"""A target that already runs (an experiment without manifests): what the API lists in its namespace, and the
target resolved from it: the pods' selector, the expected replica count, the objects that are the user's.

chaoskit never creates, changes or deletes these objects; only the faults act on their pods. A backend that can
read a namespace implements ``ExistingWorkloads`` (the kube backend); the embedded cluster holds nothing it did
not apply, so an experiment without manifests is bad input there. ``resolve`` is pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

from chaoskit.cluster.protocol import ManifestError
from chaoskit.vocab import selector_matches, selector_text

Obj = Mapping[str, Any]
WORKLOAD_KINDS: Final = ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet")
"""The workload kinds an experiment can name (``target.workload.kind``); read, never written."""


class ExistingTargetError(ManifestError):
    """The experiment names running objects that are not there, or that cannot be its target (bad input: exit 2,
    nothing changed)."""


@dataclass(frozen=True, slots=True)
class LiveObjects:
    """Everything in one namespace that can make up a target, as the API server lists it (read only)."""

    namespace: str
    workloads: tuple[Obj, ...] = ()
    """Deployments, StatefulSets, ReplicaSets and DaemonSets (each with its ``kind``)."""
    pods: tuple[Obj, ...] = ()
    services: tuple[Obj, ...] = ()
    budgets: tuple[Obj, ...] = ()
    """PodDisruptionBudgets."""


@runtime_checkable
class ExistingWorkloads(Protocol):
    """A backend that can read what already runs in a namespace, without changing anything."""

    async def read_namespace(self, namespace: str) -> LiveObjects: ...


@dataclass(frozen=True, slots=True)
class OwnedObject:
    """One of the user's objects: chaoskit reads it and never changes it."""

    kind: str
    name: str
    uid: str

    @property
    def text(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    """The running target: what the faults pick from and what the run expects back."""

    namespace: str
    selector: dict[str, str]
    replicas: int
    """Ready pods expected: the workloads' spec.replicas (a DaemonSet's desiredNumberScheduled), bare pods one."""
    workloads: tuple[OwnedObject, ...]
    """The workloads whose pods are the target (a Deployment's ReplicaSets too)."""
    pods: tuple[Obj, ...]
    """The pods the selector matches now."""
    budgets: tuple[Obj, ...] = ()
    """PodDisruptionBudgets that cover the target's pods."""
    templates: tuple[Obj, ...] = field(default_factory=tuple)
    """The objects whose pod templates the experiment is checked against (workloads, bare pods)."""

    def notes(self) -> list[str]:
        """What the run's notes say up front about the target."""
        out = [f"the target already runs: {', '.join(w.text for w in self.workloads) or 'bare pods'} in "
               f"{self.namespace} (pods {selector_text(self.selector)}, {self.replicas} expected ready); chaoskit "
               "only read these objects: the faults acted on their pods"]
        if self.replicas == 1:
            out.append(f"single replica: the target has 1 pod ({selector_text(self.selector)}), so any pod fault is "
                       "a full outage until its replacement is Ready; the availability and recovery numbers measure "
                       "that outage")
        return out


def resolve(live: LiveObjects, *, selector: Mapping[str, str], workload: tuple[str, str] | None) -> ResolvedTarget:
    """The target named by ``workload`` (kind, name; ``selector`` adds to its matchLabels) or by ``selector``
    among ``live``. Raises
    ExistingTargetError naming what is missing (the workload, any matching pod, a usable selector)."""
    if workload is not None:
        found = _find_workload(live, *workload)
        labels = {**_match_labels(found), **selector}
        if not selector_matches(labels, _template_labels(found)):
            raise ExistingTargetError(f"the pods of {found.get('kind')} {workload[1]} do not carry the labels "
                                      f"{selector_text(selector)}", hint="leave `selector` out (the workload's own "
                                      "selector names its pods) or use labels of its pod template")
        replicas = _desired(found)
        workloads = [found]
    else:
        labels = dict(selector)
        workloads = [w for w in live.workloads if selector_matches(labels, _template_labels(w))]
        replicas = sum(_desired(w) for w in workloads if not _owned_by(w, "Deployment"))
    pods = [p for p in live.pods if selector_matches(labels, _labels(p)) and not _meta(p).get("deletionTimestamp")]
    bare = [p for p in pods if not _controller(p)] if workload is None else []  # a named workload: its pods only
    replicas += len(bare)
    if not pods and not workloads:
        raise ExistingTargetError(f"no pod and no workload in namespace {live.namespace} matches "
                                  f"{selector_text(labels)}", hint=_what_runs(live))
    if replicas == 0:
        raise ExistingTargetError(f"the workloads matching {selector_text(labels)} in {live.namespace} want 0 pods: "
                                  "there is nothing to test", hint="scale it up, or set target.replicas")
    if not pods:
        raise ExistingTargetError(f"no pod in namespace {live.namespace} matches {selector_text(labels)}",
                                  hint="the workload has no pods yet: wait until it runs, or check its selector")
    owned = [_owned(w) for w in workloads]
    owned += [_owned(r) for r in live.workloads if r.get("kind") == "ReplicaSet" and r not in workloads
              and any(_owned_by(r, w.kind, w.name) for w in owned if w.kind == "Deployment")]
    return ResolvedTarget(namespace=live.namespace, selector=labels, replicas=replicas, workloads=tuple(owned),
                          pods=tuple(pods), budgets=tuple(_budgets(live.budgets, pods)),
                          templates=(*workloads, *bare))


def desired_replicas(live: LiveObjects, target: ResolvedTarget) -> int:
    """The target's expected ready pods as the workloads say now (a HorizontalPodAutoscaler may have changed
    them during the run); bare pods count as at the start."""
    now = {(w.get("kind"), _meta(w).get("name")): w for w in live.workloads}
    total = 0
    for owned in target.workloads:
        current = now.get((owned.kind, owned.name))
        if current is not None and not _owned_by(current, "Deployment"):
            total += _desired(current)
    return total + sum(1 for t in target.templates if t.get("kind", "Pod") == "Pod")


def _find_workload(live: LiveObjects, kind: str, name: str) -> Obj:
    for obj in live.workloads:
        if obj.get("kind") == kind and _meta(obj).get("name") == name:
            return obj
    same = sorted(str(_meta(o).get("name")) for o in live.workloads if o.get("kind") == kind)
    raise ExistingTargetError(f"{kind} {name} does not exist in namespace {live.namespace}",
                              hint=f"{kind}s there: {', '.join(same) or 'none'} (kubectl get {kind.lower()} -n "
                              f"{live.namespace})")


def _match_labels(workload: Obj) -> dict[str, str]:
    selector = _map(_map(workload.get("spec")).get("selector"))
    what = f"{workload.get('kind')} {_meta(workload).get('name')}"
    if selector.get("matchExpressions"):
        raise ExistingTargetError(f"{what} selects its pods with matchExpressions, which chaoskit does not evaluate",
                                  hint="name the target by `selector:` (labels its pods carry) instead of `workload`")
    labels = {str(k): str(v) for k, v in _map(selector.get("matchLabels")).items()}
    if not labels:
        raise ExistingTargetError(f"{what} has no matchLabels", hint="name the target by `selector:` instead")
    return labels


def _desired(workload: Obj) -> int:
    """Pods a workload wants: spec.replicas (default 1), a DaemonSet's status.desiredNumberScheduled."""
    if workload.get("kind") == "DaemonSet":
        value = _map(workload.get("status")).get("desiredNumberScheduled", 0)
    else:
        value = _map(workload.get("spec")).get("replicas", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _budgets(budgets: Sequence[Obj], pods: Sequence[Obj]) -> list[Obj]:
    out = []
    for budget in budgets:
        selector = _map(_map(budget.get("spec")).get("selector"))
        labels = {str(k): str(v) for k, v in _map(selector.get("matchLabels")).items()}
        if labels and any(selector_matches(labels, _labels(p)) for p in pods):
            out.append(budget)
    return out


def describe_budget(budget: Obj) -> str:
    """``PodDisruptionBudget web: minAvailable 2 (1 disruption allowed now)``."""
    spec, status = _map(budget.get("spec")), _map(budget.get("status"))
    rule = ", ".join(f"{k} {spec[k]}" for k in ("minAvailable", "maxUnavailable") if k in spec) or "no rule"
    allowed = status.get("disruptionsAllowed")
    now = f" ({allowed} disruption(s) allowed now)" if isinstance(allowed, int) else ""
    return f"PodDisruptionBudget {_meta(budget).get('name')}: {rule}{now}"


def _what_runs(live: LiveObjects) -> str:
    shown = [f"{w.get('kind')} {_meta(w).get('name')} ({selector_text(_template_labels(w))})"
             for w in live.workloads if not _owned_by(w, "Deployment")]
    return (f"workloads in {live.namespace}: {', '.join(shown) or 'none'}; name one by `workload:` or use labels its "
            "pods carry in `selector:`")


def _owned(obj: Obj) -> OwnedObject:
    meta = _meta(obj)
    return OwnedObject(str(obj.get("kind", "Pod")), str(meta.get("name", "")), str(meta.get("uid", "")))


def _controller(obj: Obj) -> Obj | None:
    refs = _meta(obj).get("ownerReferences")
    return next((r for r in refs if isinstance(r, Mapping) and r.get("controller")), None) if isinstance(
        refs, list) else None


def _owned_by(obj: Obj, kind: str, name: str | None = None) -> bool:
    ref = _controller(obj)
    return ref is not None and ref.get("kind") == kind and (name is None or ref.get("name") == name)


def _template_labels(workload: Obj) -> Mapping[str, Any]:
    return _map(_map(_map(_map(workload.get("spec")).get("template")).get("metadata")).get("labels"))


def _labels(obj: Obj) -> Mapping[str, Any]:
    return _map(_meta(obj).get("labels"))


def _meta(obj: Obj) -> Mapping[str, Any]:
    return _map(obj.get("metadata"))


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
