"""`chaoskit init`: write a ready, commented experiment for a workload into ./experiments/<name>.yaml.

From a live workload (``--context --namespace`` and ``--deployment``, ``--statefulset`` or ``--selector``: only
read, never changed) or offline from manifests for the embedded cluster (``--manifests FILE...``). The file is
validated before it is written; an existing file is kept unless ``--force``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from chaoskit import catalog, kinds
from chaoskit.cli import exits
from chaoskit.cluster.existing import ExistingTargetError, ResolvedTarget, describe_budget, resolve
from chaoskit.cluster.manifests import load_manifest_files
from chaoskit.cluster.protocol import ClusterError, ConfigurationError, ManifestError, UnsafeTargetError
from chaoskit.discovery import DiscoveryError, discover
from chaoskit.experiment import SpecError
from chaoskit.experiment.models import DNS_LABEL
from chaoskit.scaffold import Subject, experiment_name, pick_workload, render
from chaoskit.vocab import expected_replicas, pod_template_labels, selector_matches

WRITABLE_KINDS = ("Deployment", "StatefulSet")
"""What the embedded cluster runs (``--manifests``); a real cluster's target can be any workload kind."""


def init(
    context: Annotated[str | None, typer.Option(help="kube: kubeconfig context to read the workload from.")] = None,
    kubeconfig: Annotated[Path | None, typer.Option(help="kube: kubeconfig file.")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Namespace of the workload.")] = None,
    deployment: Annotated[str | None, typer.Option(help="The Deployment under test.")] = None,
    statefulset: Annotated[str | None, typer.Option(help="The StatefulSet under test.")] = None,
    selector: Annotated[list[str] | None, typer.Option(help="Labels of the pods under test: k=v (repeatable).")] = None,
    manifests: Annotated[list[Path] | None, typer.Option(help=(
        "Write an experiment for the embedded cluster from these manifest files (repeatable), reading no cluster."
    ))] = None,
    name: Annotated[str | None, typer.Option(help="Experiment name (default: the workload's).")] = None,
    port: Annotated[str | None, typer.Option(help=(
        "The Service port to load, by name or number (default: the first that looks like HTTP)."))] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing experiment file.")] = False,
) -> None:
    """Write a ready, commented experiment for a workload into ./experiments/<name>.yaml."""
    labels = _selector(selector or [])
    if sum(x is not None for x in (deployment, statefulset)) + bool(labels) > 1:
        exits.fail("give one of --deployment, --statefulset, --selector", hint="each names the pods under test")
    if name is not None and not re.fullmatch(DNS_LABEL, name):
        exits.fail(f"--name {name!r}: not a DNS label", hint="lowercase letters, digits and '-', e.g. checkout")
    port_ref: int | str | None = int(port) if port is not None and port.isdigit() else port
    kind, wanted = ("Deployment", deployment) if deployment else ("StatefulSet", statefulset) if statefulset else (
        None, None)
    if manifests:
        subject = _from_manifests(manifests, kind, wanted, labels, namespace, port_ref)
    else:
        if namespace is None or (kind is None and not labels):
            exits.fail("say what to read: --namespace and one of --deployment, --statefulset, --selector",
                       hint="or --manifests FILE... to write an experiment for the embedded cluster from YAML")
        subject = _from_cluster(context, kubeconfig, namespace, kind, wanted, labels, port_ref)
    if name is not None:
        subject = _renamed(subject, name)
    _write(subject, force=force)


def _selector(items: Sequence[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in (part for text in items for part in text.split(",") if part):
        key, sep, value = item.partition("=")
        if not sep or not key:
            exits.fail(f"--selector {item!r}: not key=value", hint="e.g. --selector app=checkout")
        labels[key.strip()] = value.strip()
    return labels


def _from_cluster(context: str | None, kubeconfig: Path | None, namespace: str, kind: str | None,
                  wanted: str | None, labels: dict[str, str], port: int | str | None) -> Subject:
    from chaoskit.cluster.kube.config import KubeOptions
    from chaoskit.cluster.kube.workloads import read_cluster

    options = KubeOptions(context=context, kubeconfig=kubeconfig, namespaces=frozenset({namespace}))
    try:
        live, nodes, used_context = read_cluster(options, namespace)
        target = resolve(live, selector=labels, workload=(kind, wanted) if kind and wanted else None)
        pod_labels = [(p.get("metadata") or {}).get("labels") or {} for p in target.pods]
        found = discover(live.services, pod_labels, live=True, port=port)
    except (ExistingTargetError, ConfigurationError, UnsafeTargetError) as exc:
        exits.fail(str(exc), hint=exc.hint)
    except DiscoveryError as exc:
        exits.fail(str(exc), hint=_port_hint(exc.hint))
    except ClusterError as exc:
        exits.fail(str(exc), hint=exc.hint, code=exits.INFRASTRUCTURE)
    source = target.templates[0] if target.templates else target.pods[0]
    what = f"{kind} {namespace}/{wanted}" if kind else f"pods {','.join(f'{k}={v}' for k, v in labels.items())}"
    return Subject(name=experiment_name(wanted or next(iter(labels.values()))), namespace=namespace, kind=kind or "",
                   workload=wanted or "", selector=target.selector, replicas=target.replicas,
                   pod_spec=_pod_spec(source), claim_templates=_claims(source), services=tuple(found),
                   service_objects=_by_name(live.services), budgets=_budgets(target),
                   origin=f"{what} on context {used_context}", context=used_context, nodes=max(1, nodes))


def _from_manifests(paths: Sequence[Path], kind: str | None, wanted: str | None, labels: dict[str, str],
                    namespace: str | None, port: int | str | None) -> Subject:
    try:
        objects = load_manifest_files(paths)
    except ManifestError as exc:
        exits.fail(str(exc), hint=exc.hint)
    workloads = [o for o in objects if o.get("kind") in WRITABLE_KINDS]
    try:
        chosen = pick_workload(workloads, kind=kind, name=wanted, selector=labels)
    except ValueError as exc:
        exits.fail(f"--manifests: {exc}", hint="name one with --deployment, --statefulset or --selector "
                   "(the embedded cluster runs Deployments and StatefulSets)")
    meta = chosen.get("metadata") or {}
    ns = str(meta.get("namespace") or namespace or "default")
    match = {str(k): str(v) for k, v in ((chosen.get("spec") or {}).get("selector") or {}).get(
        "matchLabels", {}).items()} or {str(k): str(v) for k, v in (pod_template_labels(chosen) or {}).items()}
    services = [o for o in objects if o.get("kind") == "Service"
                and str((o.get("metadata") or {}).get("namespace") or ns) == ns]
    pods = [found for o in objects if (found := pod_template_labels(o)) is not None and selector_matches(match, found)]
    try:
        found_services = discover(services, pods, live=False, port=port)
    except DiscoveryError as exc:
        exits.fail(f"--manifests: {exc}", hint=_port_hint(exc.hint))
    base = catalog.user_dir()
    return Subject(name=experiment_name(str(meta.get("name", "experiment"))), namespace=ns,
                   kind=str(chosen.get("kind")), workload=str(meta.get("name", "")), selector=match,
                   replicas=expected_replicas([chosen], match), pod_spec=_pod_spec(chosen),
                   claim_templates=_claims(chosen), services=tuple(found_services),
                   service_objects=_by_name(services),
                   origin=f"{chosen.get('kind')} {meta.get('name')} in {', '.join(str(p) for p in paths)}",
                   manifests=tuple(_reference(p, base) for p in paths))


def _reference(manifest: Path, experiments: Path) -> str:
    """How the experiment file names a manifest: relative to ./experiments when it lies in this directory (the
    two move together, as in a repository), else by its absolute path."""
    path, here = manifest.resolve(), Path.cwd().resolve()
    return os.path.relpath(path, experiments.resolve()) if path.is_relative_to(here) else str(path)


def _port_hint(hint: str) -> str:
    return f"{hint} (for `chaoskit init`: --port NAME|NUMBER)" if "port:" in hint else hint


def _pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec") or {}
    return spec if obj.get("kind", "Pod") == "Pod" else (spec.get("template") or {}).get("spec") or {}


def _claims(obj: Mapping[str, Any]) -> tuple[str, ...]:
    templates = (obj.get("spec") or {}).get("volumeClaimTemplates") or []
    return tuple(str((t.get("metadata") or {}).get("name")) for t in templates if isinstance(t, Mapping))


def _by_name(services: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str((s.get("metadata") or {}).get("name")): s for s in services}


def _budgets(target: ResolvedTarget) -> tuple[str, ...]:
    return tuple(f"{describe_budget(b)}: a drain waits for it; a pod delete does not ask it"
                 for b in target.budgets)


def _renamed(subject: Subject, name: str) -> Subject:
    from dataclasses import replace

    return replace(subject, name=name)


def _write(subject: Subject, *, force: bool) -> None:
    directory = catalog.user_dir()
    path = directory / f"{subject.name}.yaml"
    if path.exists() and not force:
        exits.fail(f"{path} exists", hint="choose another --name, or pass --force to overwrite it")
    text = render(subject)
    try:
        kinds.load_text(text, str(path), base_dir=directory)
    except SpecError as err:  # a workload chaoskit cannot describe yet: say it, write nothing
        issues = "; ".join(f"{i.location}: {i.message}" for i in err.issues)
        exits.fail(f"the experiment written for {subject.origin} does not validate: {issues}",
                   hint="please report it; meanwhile write the experiment by hand (`chaoskit schema`)")
    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    services = ", ".join(f"{s.name} ({'/'.join(w.value for w in s.ways)})" for s in subject.services)
    typer.echo(f"wrote {path}: {subject.origin}, {subject.replicas} replica(s); services {services}")
    typer.echo(f"next: chaoskit validate {subject.name}; then chaoskit run {subject.name}"
               + (" --backend kube" + (f" --context {subject.context}" if subject.context else "")
                  if not subject.manifests else ""))


def register(app: typer.Typer) -> None:
    app.command("init")(init)
