"""chaoskit: resilience experiments for services on Kubernetes, measured."""

__version__ = "0.1.0"
