# booksync: `make demo` runs a real sync end to end on the embedded default; `make test` runs the tests.
# Both create the virtual environment they need (.venv) from pinned packages (pyproject.toml + constraints.txt).

PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv bench clean lint system-tools

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "booksync needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[sandbox,test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/booksync demo $(DEMO_ARGS)

system-tools:
	@bash tests/support/system_tools.sh

# Test modules run in parallel processes (each module whole, so its servers start once); they mostly wait
# on servers and workers, so more processes than cores pay. TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 4

test: $(STAMP) system-tools
	$(BIN)/python -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile) $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .booksync .pytest_cache
