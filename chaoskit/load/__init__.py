"""Load generation: a Locust agent process driving open-model HTTP load, and its per-request records.

Import ``chaoskit.load.agent`` from chaoskit; ``locustfile``, ``schedule`` and ``gclient`` run only
inside the agent process (gevent). Nothing is imported here so the agent process stays light.
"""
