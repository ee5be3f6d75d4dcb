"""Kube backend options, kubeconfig/in-cluster loading and the safety checks (context allowlist, namespaces).

The CLI fills ``KubeOptions``; nothing here prints. Unsafe targets raise ``UnsafeTargetError`` before any
request that could change the cluster is sent.
"""

from __future__ import annotations

import importlib
import os
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from chaoskit.cluster.protocol import ClusterError, ConfigurationError, UnsafeTargetError
from chaoskit.vocab import LoadOrigin

IN_CLUSTER_CONTEXT: Final = "in-cluster"
"""The context name used for the allowlist when chaoskit runs inside a pod (service-account config)."""

FORBIDDEN_NAMESPACES: Final = frozenset({"kube-system", "kube-public", "kube-node-lease"})
"""Never touched, whatever the experiment says: the control plane lives there."""

DEFAULT_CONFIG_FILE: Final = Path("~/.config/chaoskit/config.yaml")

RUN_ID_LABEL: Final = "chaoskit.io/run-id"
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE: Final = "chaoskit"
CORDONED_BY_ANNOTATION: Final = "chaoskit.io/cordoned-by"
FIELD_MANAGER: Final = "chaoskit"

# The Locust image pinned to the version chaoskit's locustfile is developed against (pyproject: locust 2.47).
AGENT_IMAGE: Final = "locustio/locust:2.47.0"
AGENT_NAME: Final = "chaoskit-load-agent"
NODE_AGENT_IMAGE: Final = "busybox:1.36.1"
"""The node-failure agent's image: small and public; its script needs only busybox's sh, grep, kill, nsenter and
readlink (and the node's own iptables for ``partition``). ``--node-agent-image`` replaces it."""
NODE_AGENT_NAMESPACE: Final = "chaoskit-system"
NAME_LABEL: Final = "app.kubernetes.io/name"


def new_run_id() -> str:
    """A label-safe run id: UTC time plus randomness, so two runs never share one."""
    return time.strftime("%Y%m%dt%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


@dataclass(frozen=True, slots=True, kw_only=True)
class KubeOptions:
    """How the kube backend reaches a cluster and what it may touch. Filled by the CLI."""

    kubeconfig: Path | None = None
    """Path to a kubeconfig; None = ``$KUBECONFIG`` or ``~/.kube/config``."""
    context: str | None = None
    """Kubeconfig context; None = the file's current-context."""
    in_cluster: bool | None = None
    """Use the pod's service account. None = auto: only when no kubeconfig exists and
    ``KUBERNETES_SERVICE_HOST`` is set."""
    allow_contexts: tuple[str, ...] = ()
    """Contexts allowed in addition to the config file's ``allowed_contexts`` (``--allow-context``)."""
    config_file: Path = DEFAULT_CONFIG_FILE
    """chaoskit's own config file holding ``allowed_contexts:``."""
    yes: bool = False
    """Skip the context allowlist (``--yes``). Forbidden namespaces stay forbidden."""
    dry_run: bool = False
    """Record every object and action the backend would touch; send no change to the cluster."""
    namespaces: frozenset[str] = frozenset()
    """Namespaces the experiment names. Empty = the namespaces of the manifests passed to ``apply``."""
    create_namespaces: bool = False
    """Create a missing experiment namespace (labelled with the run id) and delete it at teardown."""
    run_id: str = field(default_factory=new_run_id)
    """Label value put on every object chaoskit creates (``chaoskit.io/run-id``)."""
    node_addresses: Mapping[str, str] = field(default_factory=dict)
    """node name -> host to use for NodePort (kind/minikube port mappings); overrides node addresses."""
    node_ports: Mapping[int, int] = field(default_factory=dict)
    """nodePort -> port on the override host (kind ``extraPortMappings``)."""
    address_types: tuple[str, ...] = ("InternalIP", "ExternalIP")
    """Node address types tried in order for NodePort."""
    request_timeout_s: float = 30.0
    """Timeout of one API request (seconds)."""
    watch_window_s: int = 300
    """Server-side timeout of one watch request before it is renewed (seconds)."""
    kill_confirm_timeout_s: float = 30.0
    """How long ``kill_container`` watches for the container to die before it reports failure (s)."""
    drain_all_namespaces: bool = False
    """Evict pods of every namespace on drain (kubectl's behaviour). Default: only experiment namespaces."""
    keep_objects: bool = False
    """Leave applied objects in place on ``close`` (nodes are uncordoned regardless)."""
    load_from: LoadOrigin = LoadOrigin.AUTO
    """Where ClusterIP load runs: the chaoskit process (``local``), an in-cluster Job, or ``auto`` (probe)."""
    probe_timeout_s: float = 0.5
    """TCP connect timeout of the ``load_from=auto`` ClusterIP reachability probe (s)."""
    agent_image: str = AGENT_IMAGE
    """Image of the in-cluster load agent Job."""
    agent_cpu: str = "1"
    """CPU request and limit of the in-cluster load agent (Kubernetes quantity; one core runs ~8,000 req/s
    keep-alive, ~3,000 new-connection)."""
    node_agent_image: str = NODE_AGENT_IMAGE
    """Image of the node-failure agent pod (busybox: sh, grep, kill, nsenter); ``--node-agent-image``."""
    node_agent_namespace: str = NODE_AGENT_NAMESPACE
    """Where node-failure agents run (privileged pods): created, labelled for Pod Security ``privileged``, when
    missing and removed at the end; never an experiment namespace."""


def read_allowed_contexts(config_file: Path) -> tuple[str, ...]:
    """``allowed_contexts:`` from chaoskit's config file; a missing file allows nothing."""
    from ruamel.yaml import YAML

    path = config_file.expanduser()
    if not path.exists():
        return ()
    try:
        data: Any = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except Exception as exc:  # ruamel raises many unrelated types for bad YAML
        raise UnsafeTargetError(f"{path}: not valid YAML: {exc}") from exc
    allowed = data.get("allowed_contexts", []) if isinstance(data, dict) else []
    if not isinstance(allowed, list) or not all(isinstance(c, str) for c in allowed):
        raise UnsafeTargetError(f"{path}: allowed_contexts must be a list of context names")
    return tuple(allowed)


def check_context(context: str, *, allowed: Iterable[str], yes: bool) -> None:
    """Refuse a context outside the allowlist unless the user said ``--yes``."""
    allowed_set = set(allowed)
    if yes or context in allowed_set:
        return
    raise UnsafeTargetError(
        f"context {context!r} is not in the allowlist ({', '.join(sorted(allowed_set)) or 'empty'})",
        hint=f"add it to allowed_contexts in {DEFAULT_CONFIG_FILE}, pass --allow-context {context}, "
        "or confirm with --yes",
    )


def check_namespace(namespace: str, *, allowed: Iterable[str]) -> None:
    """Refuse control-plane namespaces always, and any namespace the experiment did not name."""
    if namespace in FORBIDDEN_NAMESPACES:
        raise UnsafeTargetError(
            f"namespace {namespace!r} is never touched by chaoskit",
            hint="run the experiment in its own namespace",
        )
    allowed_set = set(allowed)
    if namespace not in allowed_set:
        raise UnsafeTargetError(
            f"namespace {namespace!r} is not named by the experiment "
            f"(allowed: {', '.join(sorted(allowed_set)) or 'none'})",
            hint="name the namespace in the experiment's manifests or target",
        )


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A client configuration plus the context name it came from."""

    configuration: Any
    """``kubernetes.client.Configuration``."""
    context: str


def load_configuration(options: KubeOptions) -> LoadedConfig:
    """Build a client Configuration from kubeconfig (honouring ``$KUBECONFIG``) or the pod's account."""
    client: Any = importlib.import_module("kubernetes.client")
    config: Any = importlib.import_module("kubernetes.config")
    cfg = client.Configuration()
    if _use_in_cluster(options):
        try:
            config.load_incluster_config(client_configuration=cfg)
        except config.ConfigException as exc:
            raise ClusterError(f"in-cluster config failed: {exc}") from exc
        return LoadedConfig(cfg, IN_CLUSTER_CONTEXT)
    path = kubeconfig_path(options)
    name = check_kubeconfig(options)
    try:
        config.load_kube_config(
            config_file=path, context=options.context, client_configuration=cfg,
            persist_config=False,
        )
    except Exception as exc:  # ConfigException, OSError, YAML errors, bad base64 in certificates, ...
        raise ConfigurationError(
            f"cannot load kubeconfig {path}" + (f" (context {options.context})" if options.context else "")
            + f": {exc}", hint="pass --kubeconfig/--context, set KUBECONFIG, or run inside a cluster",
        ) from exc
    return LoadedConfig(cfg, name)


def kubeconfig_path(options: KubeOptions) -> str:
    """The kubeconfig file(s) to read: --kubeconfig, else $KUBECONFIG (':'-joined paths), else ~/.kube/config."""
    # Read $KUBECONFIG now: the client reads it once, at import.
    if options.kubeconfig:
        return str(options.kubeconfig.expanduser())
    return os.environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())


def check_kubeconfig(options: KubeOptions) -> str:
    """The context to use, once the kubeconfig is readable and holds it (no network: a flag check that runs
    before anything starts). ConfigurationError otherwise."""
    merger: Any = importlib.import_module("kubernetes.config.kube_config").KubeConfigMerger
    path = kubeconfig_path(options)
    try:  # the client's own reader: several ':'-joined files merged, as load_kube_config reads them
        merged = merger(path).config
        document = merged.value if merged is not None else None
        names = [str(c["name"]) for c in (document or {}).get("contexts") or []]
    except Exception as exc:  # YAML errors for a broken file, KeyError/TypeError for a malformed one
        raise ConfigurationError(f"cannot read kubeconfig {path}: {exc}".strip(),
                                 hint="pass --kubeconfig FILE, set KUBECONFIG, or create ~/.kube/config") from exc
    if not isinstance(document, dict):
        raise ConfigurationError(f"cannot read kubeconfig {path}: no such file, or no configuration in it",
                                 hint="pass --kubeconfig FILE, set KUBECONFIG, or create ~/.kube/config")
    current = document.get("current-context")
    wanted = options.context or current
    if not wanted:
        raise ConfigurationError(f"kubeconfig {path} has no current-context",
                                 hint=f"pass --context (one of: {', '.join(names) or 'none'})")
    if wanted not in names:
        raise ConfigurationError(f"context {wanted!r} is not in kubeconfig {path}",
                                 hint=f"contexts there: {', '.join(names) or 'none'}; pass --context with one, "
                                 "or --kubeconfig with the file that holds it")
    return str(wanted)


def preflight(options: KubeOptions) -> str:
    """Everything about the options that can be checked without the network, before anything starts: the
    kubeconfig holds the context, and the context is allowed. Returns the context name."""
    context = IN_CLUSTER_CONTEXT if _use_in_cluster(options) else check_kubeconfig(options)
    check_context(context, allowed=(*read_allowed_contexts(options.config_file), *options.allow_contexts),
                  yes=options.yes)
    return context


def _use_in_cluster(options: KubeOptions) -> bool:
    if options.in_cluster is not None:
        return options.in_cluster
    if options.kubeconfig is not None or os.environ.get("KUBECONFIG"):
        return False
    return (
        not Path("~/.kube/config").expanduser().exists()
        and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    )
