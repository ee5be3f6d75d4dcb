"""The kube backend: the Cluster protocol on a real Kubernetes cluster through the official client."""

from chaoskit.cluster.kube.api import PlannedAction
from chaoskit.cluster.kube.cluster import KubeCluster
from chaoskit.cluster.kube.config import KubeOptions
from chaoskit.cluster.protocol import UnsafeTargetError

__all__ = ["KubeCluster", "KubeOptions", "PlannedAction", "UnsafeTargetError"]
