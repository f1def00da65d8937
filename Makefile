# `make test` is the README's second command and what CI runs (.ci/run): install, then every check.
PYTHON ?= python3
PYTEST_ARGS ?=

.PHONY: test install install-test check pytest slow bench

test: install-test check pytest

install:
	$(PYTHON) -m pip install -q -e .

install-test:
	bash tools/install-test-deps.sh
	$(PYTHON) -m pip install -q -e '.[test]'

check:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy
	lint-imports
	$(PYTHON) tools/gen_protocol.py --check

pytest:
	$(PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The full fault matrix (slow tests); CI runs only the bounded smoke set.
slow:
	ODRADEK_SLOW=1 $(PYTHON) -m pytest -q -p no:cacheprovider -m slow

bench:
	$(PYTHON) bench/run.py
