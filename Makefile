# kubeproc — the two commands are `make demo` and `make test`; both install what is missing.
VENV   ?= .venv
PYTHON ?= python3
STAMP  := $(VENV)/.installed

.PHONY: install demo test unit e2e bench clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install.sh
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/install.sh
	@touch $(STAMP)

demo: install
	$(VENV)/bin/kubeproc demo

test: install
	$(VENV)/bin/python -m pytest -q tests

unit: install
	$(VENV)/bin/python -m pytest -q tests/unit

e2e: install
	$(VENV)/bin/python -m pytest -q tests/e2e tests/node

bench: install
	$(VENV)/bin/python -m bench.api
	$(VENV)/bin/python -m bench.pods
	$(VENV)/bin/python -m bench.workloads
	$(VENV)/bin/python -m bench.memory

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
