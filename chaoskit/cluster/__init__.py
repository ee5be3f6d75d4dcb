"""Clusters behind one protocol (``protocol.Cluster``): the embedded ``local`` backend and the ``kube``
backend, plus the event bus and manifest loading they share."""
