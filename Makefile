# IKO developer tooling. `make help` lists the targets.
# Pass-through: ASSEMBLERS=N CONNECTOR_REPLICAS=N AUDIT_REPLICAS=N IKO_NAMESPACE=ns STACK_ARGS="--gateway-port 9080 ..."
#               PYTEST_ARGS="-k something" for `make test`.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-print-directory

VENV     := .venv
PY       := $(VENV)/bin/python
RUFF     := $(VENV)/bin/ruff
MYPY     := $(VENV)/bin/mypy
PYTEST   := $(VENV)/bin/pytest
STACK    := $(PY) scripts/stack.py
UV       := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
# Where `make test` leaves pytest's exit code for .ci/run (which tells "no test ran" from a failure).
PYTEST_EXIT_FILE := .run/pytest-exit-code

# Every package's source root (a new service under services/ is one more), for mypy.
SRC_ROOTS := $(wildcard shared/src services/*/src sandbox/src)
empty :=
space := $(empty) $(empty)
MYPY_PATH := $(subst $(space),:,$(SRC_ROOTS))

STACK_OPTS := $(if $(ASSEMBLERS),--assemblers $(ASSEMBLERS)) \
              $(if $(CONNECTOR_REPLICAS),--connector-replicas $(CONNECTOR_REPLICAS)) \
              $(if $(AUDIT_REPLICAS),--audit-replicas $(AUDIT_REPLICAS)) \
              $(if $(IKO_NAMESPACE),--namespace $(IKO_NAMESPACE)) \
              $(STACK_ARGS)

.PHONY: help venv services up down status demo test test-faults soak check lint typecheck fmt lock asyncapi check-config new-connector

help: ## list the targets
	@echo "IKO developer targets (GNU make):"
	@grep -E '^[a-z][a-zA-Z_-]*:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'
	@echo "Options: ASSEMBLERS=N CONNECTOR_REPLICAS=N AUDIT_REPLICAS=N IKO_NAMESPACE=ns STACK_ARGS='...' PYTEST_ARGS='...'"

venv: ## create/update .venv from requirements.lock with uv (skipped when the lock is unchanged)
	@bash scripts/bootstrap_venv.sh

services: ## make sure Redis, RabbitMQ and PostgreSQL answer; start the local ones if installed but stopped
	@bash scripts/ensure_services.sh

up: venv services ## provision the namespace's audit database, start the stack in the background
	@$(STACK) up $(STACK_OPTS)

down: ## stop the processes `make up` started (safe to repeat; the audit database stays)
	@py=$(PY); [[ -x $$py ]] || py=python3; $$py scripts/stack.py down $(STACK_OPTS)

status: ## show the stack's processes and the gateway's readiness (fails if a process died)
	@py=$(PY); [[ -x $$py ]] || py=python3; rc=0; $$py scripts/stack.py status $(STACK_OPTS) || rc=$$?; \
	  [[ $$rc == 3 ]] && rc=0; exit $$rc

demo: venv services up ## start the stack and run sample lookups against it; leaves the stack running
	@$(PY) scripts/demo.py $(if $(IKO_NAMESPACE),--namespace $(IKO_NAMESPACE))
	@echo "The stack is still running (make status). Stop it with: make down$(if $(IKO_NAMESPACE), IKO_NAMESPACE=$(IKO_NAMESPACE))"

test: venv services lint typecheck ## lint, typecheck and run the whole test suite
	@mkdir -p $(dir $(PYTEST_EXIT_FILE)); rm -f $(PYTEST_EXIT_FILE)
	@echo "pytest: $(PYTEST) -q $(PYTEST_ARGS)"
	@rc=0; $(PYTEST) -q $(PYTEST_ARGS) || rc=$$?; echo $$rc > $(PYTEST_EXIT_FILE); \
	  if [[ $$rc == 5 ]]; then echo "pytest: exit 5, NO TEST RAN (no test collected)"; fi; exit $$rc

test-faults: venv services ## the fault suite: a 3-node RabbitMQ cluster behind HAProxy and Redis Sentinel, started and removed by it
	@echo "pytest: $(PYTEST) -q tests/faults $(PYTEST_ARGS)"
	@$(PYTEST) -q tests/faults $(PYTEST_ARGS)

SOAK_MINUTES ?= 10
soak: venv services ## the stack at half its measured maximum rate for SOAK_MINUTES (default 10): per minute lookups, errors, p99, memory
	$(PY) -m tests.faults.soak --minutes $(SOAK_MINUTES) $(SOAK_ARGS)

check: test ## alias of test

lint: venv ## ruff check and ruff format --check over the repo
	$(RUFF) check .
	$(RUFF) format --check .

typecheck: venv ## mypy (strict, from pyproject.toml) over the packages and scripts/
	MYPYPATH=$(MYPY_PATH) $(MYPY) $(SRC_ROOTS)
	MYPYPATH=$(MYPY_PATH) $(MYPY) --strict scripts
	MYPYPATH=scripts:$(MYPY_PATH) $(MYPY) --strict bench

fmt: venv ## format with ruff and apply ruff's safe fixes
	$(RUFF) format .
	$(RUFF) check --fix .

check-config: venv ## validate the profiles (IKO_PROFILES_DIR, default deploy/config/profiles) without starting anything
	$(PY) -m iko_shared.profiles $(PROFILES)

.PHONY: deploy-manifests
deploy-manifests: venv ## render the Kubernetes files made from the source registry and the profiles (tools/render_deploy.py)
	$(PY) -m tools.render_deploy

asyncapi: venv ## regenerate docs/asyncapi/iko.yaml from the FastStream apps (a test fails when it is stale)
	$(PY) -m tools.asyncapi

new-connector: ## generate a connector, its simulator, contract case and profile snippet: NAME=<name> [NEW_CONNECTOR_ARGS="--identifier-type kvk"]
	@[[ -n "$(NAME)" ]] || { echo "usage: make new-connector NAME=<name> (lowercase letters, digits, '-')" >&2; exit 2; }
	@py=$(PY); [[ -x $$py ]] || py=python3; $$py -m tools.new_connector "$(NAME)" $(NEW_CONNECTOR_ARGS)

lock: ## regenerate requirements.lock (hashed) from the pyproject files
	$(UV) lock
	$(UV) export --format requirements-txt --no-emit-workspace --all-packages --all-groups --no-header -o requirements.lock

.PHONY: bench bench-tab flame
flame: venv services ## flame graphs of the services under a steady load (py-spy; docs/benchmarks/flame-*.svg)
	$(PY) -m bench.flame $(BENCH_ARGS)

bench-tab: venv services ## a Valtimo tab of five identical calls against one lookup, coalescing on and off (a minute or two)
	$(PY) -m bench.valtimo_tab $(BENCH_ARGS)

bench: venv services ## benchmark pipeline vs floor vs direct fan-out (minutes, not in test); BENCH_ARGS="--quick"
	$(PY) -m bench $(BENCH_ARGS)
