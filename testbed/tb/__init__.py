"""chaoskit test bed: a real single-node Kubernetes built from upstream sources and run on this machine."""
