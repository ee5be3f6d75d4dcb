"""The local Service proxy (kube-proxy's data path): a separate process (``python -m
chaoskit.cluster.local.proxy``, in ``__main__``) and its client (``client.ProxyClient``).

Nothing is imported here: the proxy process must start fast and import only what it uses.
"""
