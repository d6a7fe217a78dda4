# The project's commands. `make test` is what CI runs (.ci/run).
#   make run     install into .venv and run the main job
#   make test    install into .venv (with test extras) and run the whole test suite
#   make bench   specc against hand-written Keras: one table of ratios (see bench/README.md)
#   make generated  regenerate the checked-in generated files (catalog, JSON Schema)
#   make golden  regenerate tests/golden/ (the scripts specc codegen writes for specs/)
#   make cases   rewrite the spec cases' expectations and IR goldens from specc's output (see tests/cases/README.md)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Keras reads ~/.keras/keras.json when this is unset; specc never leaves it to chance.
export KERAS_BACKEND ?= tensorflow

.PHONY: run test bench generated golden cases graphviz editor-server

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/specc train specs/quickstart.yaml

# Two workers on a 2-CPU machine (most tests wait on a subprocess or on TensorFlow's start): 7 to 11 minutes, not 15.
# A file's tests stay together in one worker (its module fixtures are built once). One test: $(PY) -m pytest PATH::NAME
test: $(VENV)/.installed graphviz editor-server
	$(PY) -m pytest --numprocesses=auto --maxprocesses=4 --dist=loadfile

# `specc build --plot` needs Graphviz's `dot` program (Debian's graphviz package).
graphviz:
	@command -v dot >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq graphviz >/dev/null) \
		|| echo "could not install graphviz (not root?): the --plot tests will be skipped"

# tests/test_editor_lsp.py drives the real yaml-language-server, pinned in tests/editor/package.json.
editor-server:
	@command -v npm >/dev/null 2>&1 && npm ci --prefix tests/editor --no-audit --no-fund --silent \
		|| echo "could not install yaml-language-server (no npm?): the editor tests will be skipped"

# One table: specc against hand-written Keras (cold start, build, codegen, training), measured side by side.
# The other scripts in bench/ measure one thing each in more depth (bench/README.md).
bench: $(VENV)/.installed
	$(PY) bench/ratios.py

generated: $(VENV)/.installed
	$(PY) -m specc.catalog.generate
	$(VENV)/bin/specc schema

# The golden copies of the scripts `specc codegen` writes for specs/ (tests/test_emit.py compares them).
golden: $(VENV)/.installed
	$(VENV)/bin/specc codegen specs --out-dir tests/golden

# The `# expect:` lines of tests/cases/{invalid,build_errors} and the `.ir` goldens of the valid cases and specs/
# (tests/test_cases.py compares them). One case: .venv/bin/python tests/update_cases.py CASE...
cases: $(VENV)/.installed
	$(PY) tests/update_cases.py
