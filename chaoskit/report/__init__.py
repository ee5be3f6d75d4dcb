"""Renderers of a run summary: Markdown (report.md), rich tables for the terminal, JUnit XML."""
