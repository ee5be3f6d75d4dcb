"""The embedded local cluster: pods as real processes on their own loopback IPs, Services as real TCP proxies,
volumes as directories with Kubernetes lifetimes (docs/architecture.md lists what it models)."""
