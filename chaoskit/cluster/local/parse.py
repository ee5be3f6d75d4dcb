"""Manifest -> typed local objects (Pod, Deployment, StatefulSet, Service); rejects what the local backend cannot
honour."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from chaoskit.cluster.local.objects import (
    COMMAND_ANNOTATION,
    SUPPORTED_CONTAINER_FIELDS,
    SUPPORTED_POD_FIELDS,
    ContainerSpec,
    FieldReader,
    PodTemplate,
    Probe,
    ServicePort,
    ServiceSpec,
    StatefulSpec,
    Toleration,
    VolumeSpec,
    Workload,
)
from chaoskit.cluster.local.spread import parse_spread
from chaoskit.cluster.local.statefulset import parse_stateful

BUILTIN_IMAGES = ("httpd", "nginx", "chaoskit/target", "chaoskit-target")
"""Images the built-in target service stands in for (repository name, any tag or registry prefix)."""
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")


def is_builtin_image(image: str) -> bool:
    repository = image.rsplit("@", 1)[0].rsplit(":", 1)[0] if "/" in image or ":" in image else image
    repository = repository.removeprefix("docker.io/").removeprefix("library/")
    return repository in BUILTIN_IMAGES or repository.endswith(("/httpd", "/nginx"))


def parse_workload(manifest: Mapping[str, Any]) -> Workload:
    """A Pod, Deployment or StatefulSet (the StatefulSet's own fields: ``statefulset.parse_stateful``)."""
    read = FieldReader(manifest)
    meta = read.mapping(manifest.get("metadata"), "metadata")
    namespace = str(meta.get("namespace", "default"))
    name = read.string(meta.get("name"), "metadata.name")
    if manifest["kind"] == "Pod":
        template = parse_pod_spec(read, meta, manifest.get("spec"), "spec")
        return Workload(namespace, name, 1, dict(template.labels), template, controller=False)
    spec = read.mapping(manifest.get("spec"), "spec")
    stateful: StatefulSpec | None = None
    claim_volumes: tuple[VolumeSpec, ...] = ()
    if manifest["kind"] == "StatefulSet":
        stateful = parse_stateful(read, spec)
        claim_volumes = tuple(VolumeSpec(t.name, "persistentVolumeClaim") for t in stateful.claim_templates)
    selector = read.mapping(spec.get("selector"), "spec.selector")
    if "matchExpressions" in selector:
        raise read.fail("spec.selector.matchExpressions", "is not supported by the local backend",
                        hint="use matchLabels")
    match = read.labels(selector.get("matchLabels"), "spec.selector.matchLabels")
    replicas = int(read.number(spec.get("replicas"), "spec.replicas", 1))
    tmpl = read.mapping(spec.get("template"), "spec.template")
    tmeta = read.mapping(tmpl.get("metadata"), "spec.template.metadata")
    template = parse_pod_spec(read, tmeta, tmpl.get("spec"), "spec.template.spec", claim_volumes=claim_volumes)
    if not match or any(template.labels.get(k) != v for k, v in match.items()):
        raise read.fail("spec.selector", "does not match the pod template's labels",
                        hint="make spec.selector.matchLabels a subset of spec.template.metadata.labels")
    return Workload(namespace, name, replicas, match, template, controller=True, stateful=stateful)


def parse_pod_spec(read: FieldReader, meta: Mapping[str, Any], value: Any, path: str, *,
                   claim_volumes: tuple[VolumeSpec, ...] = ()) -> PodTemplate:
    """``claim_volumes``: a StatefulSet's claim templates, mountable by name like the pod's own volumes."""
    spec = read.mapping(value, path)
    read.only(spec, SUPPORTED_POD_FIELDS, path)
    annotations = read.labels(meta.get("annotations"), "metadata.annotations")
    own = tuple(_volume(read, v, f"{path}.volumes[{i}]")
                for i, v in enumerate(read.items(spec.get("volumes"), f"{path}.volumes")))
    for volume in own:
        if volume.name in {c.name for c in claim_volumes}:
            raise read.fail(f"{path}.volumes", f"volume {volume.name!r} is also a volumeClaimTemplate",
                            hint="rename one of them: each volume name must be unique in the pod")
    volumes = own + claim_volumes
    containers = tuple(
        _container(read, c, f"{path}.containers[{i}]", annotations, {v.name for v in volumes})
        for i, c in enumerate(read.items(spec.get("containers"), f"{path}.containers"))
    )
    if not containers:
        raise read.fail(f"{path}.containers", "a pod needs at least one container")
    restart = spec.get("restartPolicy", "Always")
    if restart not in ("Always", "OnFailure", "Never"):
        raise read.fail(f"{path}.restartPolicy", f"unknown policy {restart!r}")
    return PodTemplate(
        labels=read.labels(meta.get("labels"), "metadata.labels"),
        containers=containers,
        volumes=volumes,
        node_name=str(spec.get("nodeName", "")),
        node_selector=read.labels(spec.get("nodeSelector"), f"{path}.nodeSelector"),
        grace_s=read.number(spec.get("terminationGracePeriodSeconds"), f"{path}.grace", 30.0),
        restart_always=restart != "Never",
        tolerations=_tolerations(read, spec.get("tolerations"), f"{path}.tolerations"),
        spread=parse_spread(read, spec.get("topologySpreadConstraints"), f"{path}.topologySpreadConstraints"),
    )


def _tolerations(read: FieldReader, value: Any, path: str) -> tuple[Toleration, ...]:
    found = []
    for i, item in enumerate(read.items(value, path)):
        entry = read.mapping(item, f"{path}[{i}]")
        operator = entry.get("operator") or "Equal"
        if operator not in ("Equal", "Exists"):
            raise read.fail(f"{path}[{i}].operator", f"unknown operator {operator!r}", hint="Equal or Exists")
        effect = entry.get("effect") or ""
        if effect not in ("", "NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise read.fail(f"{path}[{i}].effect", f"unknown effect {effect!r}",
                            hint="NoSchedule, PreferNoSchedule or NoExecute")
        seconds = entry.get("tolerationSeconds")
        found.append(Toleration(
            key=str(entry.get("key") or ""), operator=operator, value=str(entry.get("value") or ""), effect=effect,
            seconds=None if seconds is None else read.number(seconds, f"{path}[{i}].tolerationSeconds", 0)))
    return tuple(found)


def _volume(read: FieldReader, value: Any, path: str) -> VolumeSpec:
    volume = read.mapping(value, path)
    name = read.string(volume.get("name"), f"{path}.name")
    if "emptyDir" in volume:
        return VolumeSpec(name, "emptyDir")
    if "hostPath" in volume:
        host = read.mapping(volume["hostPath"], f"{path}.hostPath")
        kind = host.get("type", "") or ""
        if kind not in ("", "Directory", "DirectoryOrCreate"):
            raise read.fail(f"{path}.hostPath.type", f"{kind!r} is not supported by the local backend",
                            hint="use Directory or DirectoryOrCreate")
        return VolumeSpec(name, "hostPath", read.string(host.get("path"), f"{path}.hostPath.path"))
    if "persistentVolumeClaim" in volume:
        claim = read.mapping(volume["persistentVolumeClaim"], f"{path}.persistentVolumeClaim")
        return VolumeSpec(name, "persistentVolumeClaim",
                          claim=read.string(claim.get("claimName"), f"{path}.persistentVolumeClaim.claimName"))
    other = sorted(k for k in volume if k != "name")
    raise read.fail(path, f"volume type {other} is not supported by the local backend",
                    hint="the local backend models emptyDir, hostPath and persistentVolumeClaim; use --backend kube "
                         "for others")


def _container(read: FieldReader, value: Any, path: str, annotations: Mapping[str, str],
               volume_names: set[str]) -> ContainerSpec:
    spec = read.mapping(value, path)
    read.only(spec, SUPPORTED_CONTAINER_FIELDS, path)
    name = read.string(spec.get("name"), f"{path}.name")
    image = read.string(spec.get("image"), f"{path}.image")
    ports = tuple(
        (str(p.get("name", "")), int(read.number(p.get("containerPort"), f"{path}.ports[{i}]", 0)))
        for i, p in enumerate(read.items(spec.get("ports"), f"{path}.ports"))
    )
    mounts = []
    for i, m in enumerate(read.items(spec.get("volumeMounts"), f"{path}.volumeMounts")):
        volume = read.string(m.get("name"), f"{path}.volumeMounts[{i}].name")
        if volume not in volume_names:
            raise read.fail(f"{path}.volumeMounts[{i}]", f"volume {volume!r} is not declared in volumes")
        mounts.append((volume, read.string(m.get("mountPath"), f"{path}.volumeMounts[{i}].mountPath")))
    return ContainerSpec(
        name=name, image=image, command=_command(read, image, name, annotations, path),
        env=_env(read, spec.get("env"), f"{path}.env"), ports=ports,
        readiness=_probe(read, spec.get("readinessProbe"), f"{path}.readinessProbe", ports),
        liveness=_probe(read, spec.get("livenessProbe"), f"{path}.livenessProbe", ports),
        mounts=tuple(mounts), pre_stop_sleep_s=_pre_stop(read, spec.get("lifecycle"), f"{path}.lifecycle"),
    )


def _command(read: FieldReader, image: str, container: str, annotations: Mapping[str, str],
             path: str) -> tuple[str, ...]:
    override = annotations.get(f"{COMMAND_ANNOTATION}.{container}") or annotations.get(COMMAND_ANNOTATION)
    if override:
        return tuple(shlex.split(override))
    if is_builtin_image(image):
        return ()  # the built-in target service
    raise read.fail(
        f"{path}.image", f"image {image!r} has no local stand-in",
        hint=f"annotate the pod with {COMMAND_ANNOTATION}.{container}: '<command>' to run a local "
             "process for it, or use --backend kube",
    )


def _env(read: FieldReader, value: Any, path: str) -> tuple[tuple[str, str], ...]:
    env = []
    for i, item in enumerate(read.items(value, path)):
        entry = read.mapping(item, f"{path}[{i}]")
        name = read.string(entry.get("name"), f"{path}[{i}].name")
        if "valueFrom" in entry:
            continue  # POD_NAME/POD_IP/NODE_NAME are always set; other sources are not modelled
        env.append((name, str(entry.get("value", ""))))
    return tuple(env)


def _probe(read: FieldReader, value: Any, path: str, ports: tuple[tuple[str, int], ...]) -> Probe | None:
    if value is None:
        return None
    probe = read.mapping(value, path)
    if "httpGet" not in probe:
        raise read.fail(path, "only httpGet probes are supported by the local backend",
                        hint="use an httpGet probe, or --backend kube")
    get = read.mapping(probe["httpGet"], f"{path}.httpGet")
    port = get.get("port")
    if isinstance(port, str):
        port = dict(ports).get(port)
    if not isinstance(port, int):
        raise read.fail(f"{path}.httpGet.port", f"unknown port {get.get('port')!r}")
    return Probe(
        path=str(get.get("path", "/")), port=port,
        initial_delay_s=read.number(probe.get("initialDelaySeconds"), f"{path}.initialDelaySeconds", 0),
        period_s=read.number(probe.get("periodSeconds"), f"{path}.periodSeconds", 10),
        timeout_s=read.number(probe.get("timeoutSeconds"), f"{path}.timeoutSeconds", 1),
        success_threshold=int(read.number(probe.get("successThreshold"), f"{path}.successThreshold", 1)),
        failure_threshold=int(read.number(probe.get("failureThreshold"), f"{path}.failureThreshold", 3)),
    )


def _pre_stop(read: FieldReader, value: Any, path: str) -> float:
    lifecycle = read.mapping(value, path)
    pre_stop = read.mapping(lifecycle.get("preStop"), f"{path}.preStop")
    if not pre_stop:
        return 0.0
    if "sleep" in pre_stop:
        return read.number(read.mapping(pre_stop["sleep"], f"{path}.preStop.sleep").get("seconds"),
                           f"{path}.preStop.sleep.seconds", 0)
    command = read.mapping(pre_stop.get("exec"), f"{path}.preStop.exec").get("command") or []
    words = [w for w in command if w not in ("/bin/sh", "sh", "-c")]
    joined = " ".join(str(w) for w in words).split()
    if len(joined) == 2 and joined[0] in ("sleep", "/bin/sleep"):
        return read.number(float(joined[1]), f"{path}.preStop.exec", 0)
    raise read.fail(f"{path}.preStop", "only a sleep preStop hook is supported by the local backend",
                    hint="use lifecycle.preStop.sleep.seconds, or --backend kube")


def parse_service(manifest: Mapping[str, Any]) -> ServiceSpec:
    read = FieldReader(manifest)
    meta = read.mapping(manifest.get("metadata"), "metadata")
    spec = read.mapping(manifest.get("spec"), "spec")
    kind = spec.get("type", "ClusterIP")
    if kind not in SERVICE_TYPES:
        raise read.fail("spec.type", f"unknown or unsupported Service type {kind!r}",
                        hint="the local backend supports ClusterIP (also headless), NodePort and LoadBalancer")
    if spec.get("sessionAffinity", "None") != "None":
        raise read.fail("spec.sessionAffinity", "is not supported by the local backend")
    ports = []
    for i, item in enumerate(read.items(spec.get("ports"), "spec.ports")):
        port = read.mapping(item, f"spec.ports[{i}]")
        number = int(read.number(port.get("port"), f"spec.ports[{i}].port", 0))
        node_port = port.get("nodePort")
        if node_port is not None and not 30000 <= int(node_port) <= 32767:
            raise read.fail(f"spec.ports[{i}].nodePort", f"{node_port} is outside 30000-32767")
        ports.append(ServicePort(str(port.get("name", "")), number, port.get("targetPort", number),
                                 int(node_port) if node_port is not None else None))
    if not ports:
        raise read.fail("spec.ports", "a Service needs at least one port")
    policy = spec.get("externalTrafficPolicy", "Cluster")
    if policy not in ("Cluster", "Local"):
        raise read.fail("spec.externalTrafficPolicy", f"unknown policy {policy!r}")
    return ServiceSpec(
        namespace=str(meta.get("namespace", "default")), name=read.string(meta.get("name"), "metadata.name"),
        type=kind, selector=read.labels(spec.get("selector"), "spec.selector"), ports=tuple(ports),
        headless=spec.get("clusterIP") == "None", local_traffic=policy == "Local",
    )
