# Two entry points: `make demo` (install and run the main job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_ROOT ?= $(CURDIR)/demo-root

.PHONY: demo test system-deps venv bytecode lint bench

system-deps:
	./scripts/install-system-deps.sh

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# Byte-compile like a regular install does (an editable one doesn't, and the environment may
# set PYTHONDONTWRITEBYTECODE): CLI start-up is a third of a second faster.
bytecode: venv
	$(PY) -m compileall -q src

venv: $(VENV)/.installed

demo: system-deps venv bytecode
	WHARFIE_ROOT=$(DEMO_ROOT) PATH=$(CURDIR)/$(VENV)/bin:$$PATH ./scripts/demo.sh

test: system-deps venv bytecode
	$(VENV)/bin/ruff check src tests bench
	$(PY) -m pytest -q

lint: venv
	$(VENV)/bin/ruff check src tests bench

bench: venv bytecode
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done
