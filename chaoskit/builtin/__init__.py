"""The experiments and manifests that ship with chaoskit, as package data.

In the repository they live at the top (``experiments/``, ``manifests/``); pyproject.toml maps them to
``chaoskit.builtin.experiments`` and ``chaoskit.builtin.manifests`` (folders without ``__init__.py``), so a
wheel carries them side by side and the experiments' relative ``../manifests/...`` paths still resolve.
Find them with :mod:`chaoskit.catalog`, never by path arithmetic on ``__file__``.
"""
