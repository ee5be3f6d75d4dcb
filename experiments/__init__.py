"""Not code: lets setuptools ship experiments/ as the package chaoskit.builtin.experiments (see pyproject.toml)."""
