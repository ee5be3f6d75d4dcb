"""Faults chaoskit injects, one module per kind, created through a registry instance."""
