# Fresh-machine entry points. `make run` and `make test` create .venv and install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-kube bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/chaoskit run pod-recreate

test: $(STAMP)
	$(BIN)/ruff check chaoskit dashboards tests bench
	$(BIN)/mypy
	$(BIN)/pytest

# The kube tier: builds (once, cached) and starts a real two-node Kubernetes on this machine (root only),
# runs the contract and kube tests and `chaoskit run pod-recreate --backend kube` against it, always tears it down.
test-kube: $(STAMP)
	bash scripts/test-kube

bench: $(STAMP)
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
