# `make test` is the README's second command and what CI runs (.ci/run): install, then every check.
PYTHON ?= python3
PYTEST_ARGS ?=

.PHONY: test install install-test check pytest slow bench mutation

test: install-test check pytest

install:
	$(PYTHON) -m pip install -q -e .

install-test:
	bash tools/install-test-deps.sh
	PYTHON=$(PYTHON) bash tools/install-quixstreams-venv.sh
	$(PYTHON) -m pip install -q -e '.[test]'

check:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy
	lint-imports
	$(PYTHON) tools/gen_protocol.py --check
	$(PYTHON) tools/gen_chart_crds.py --check
	$(PYTHON) tools/gen_update_modes.py --check
	@# pytest imports test modules by basename (rootdir, no packages): two with one name break collection.
	@dups=$$(find tests -name 'test_*.py' -printf '%f\n' | sort | uniq -d); \
	if [ -n "$$dups" ]; then echo "test module basenames must be unique under tests/: $$dups"; exit 1; fi

pytest:
	$(PYTHON) -m pytest -q -p no:cacheprovider --durations=30 $(PYTEST_ARGS)

# The full fault matrix (slow tests); CI runs only the bounded smoke set.
slow:
	ODRADEK_SLOW=1 $(PYTHON) -m pytest -q -p no:cacheprovider -m slow

bench:
	$(PYTHON) bench/run.py

# Mutation testing (docs/mutation-testing.md): `pip install mutmut==3.8.1` first. mutmut 3 imports mutated code
# from a source root named `src`, so it runs in build/mutation/ with `src` -> broker/, `tests` -> tests/ and
# `tools` -> tools/.
# MUTANTS narrows the run to mutant names (globs), e.g. MUTANTS='odradek.broker.log.offset_index.*'.
# MUTATION_TESTS narrows the tests run (default: [tool.mutmut]'s, all unit and property tests), e.g.
# MUTATION_TESTS='tests/unit/log'.
# MUTATION_JOBS is the number of mutants tested at once (mutmut's --max-children); 1 by default, because the
# machine is shared; mutmut alone would take every core.
MUTANTS ?=
MUTATION_TESTS ?=
MUTATION_JOBS ?= 1
mutation:
	rm -rf build/mutation && mkdir -p build/mutation
	ln -s ../../broker build/mutation/src
	ln -s ../../tests build/mutation/tests
	ln -s ../../tools build/mutation/tools
	cp pyproject.toml build/mutation/
	$(if $(MUTATION_TESTS),printf 'pytest_add_cli_args_test_selection = [%s]\n' "$(foreach t,$(MUTATION_TESTS),\"$(t)\",)" >> build/mutation/pyproject.toml)
	cd build/mutation && env -u PYTHONPATH nice -n 10 mutmut run --max-children $(MUTATION_JOBS) $(MUTANTS)
	cd build/mutation && mutmut results | { grep -v ': not checked$$' || true; }
