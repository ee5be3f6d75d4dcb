"""Grafana dashboards for chaoskit, generated from Python: `python -m dashboards.generate` writes dashboards/json/."""
