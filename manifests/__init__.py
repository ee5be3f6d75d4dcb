"""Not code: lets setuptools ship manifests/ as the package chaoskit.builtin.manifests (see pyproject.toml)."""
