# vjepa2 for ROS 2. The two commands a fresh machine needs: `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help
ENV := source env.sh &&
PYTEST_ARGS ?=
# e.g. make demo DEMO_ARGS="--goals 5 --seed 1" (python -m vjepa2.demo --help lists them)
DEMO_ARGS ?=
# make train-demo-model reads PRETRAIN_STEPS, AC_STEPS, EPISODES, DEVICE, RUN_DIR, ... (scripts/train_demo_model.sh)

.PHONY: help setup build test demo train-demo-model lint format bench lock clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

setup:  ## venv with pinned deps, colcon build, sim assets (idempotent)
	@./scripts/setup.sh

build: setup  ## rebuild the workspace (alias of setup; skips colcon when no build input changed)

test: setup  ## the whole test suite (runs setup first if needed)
	@$(ENV) python -m pytest $(PYTEST_ARGS)

demo: setup  ## the closed loop in sim with the shipped model: 3 goal images reached by CEM; DEMO_ARGS=...
	@$(ENV) ./scripts/demo.sh $(DEMO_ARGS)

train-demo-model: setup  ## reproduce vjepa2/models/demo/ from nothing (data, encoder, gate, predictor, export)
	@$(ENV) ./scripts/train_demo_model.sh

lint: setup  ## ruff check + ruff format --check over the workspace
	@$(ENV) ruff check . && ruff format --check .

format: setup  ## ruff format + import sorting
	@$(ENV) ruff check --fix --select I . && ruff format .

bench: setup  ## speed benchmarks (prints ratios measured in one run)
	@$(ENV) for b in benchmarks/encoder_speed.py benchmarks/perception_latency.py benchmarks/plan_latency.py; do echo "== $$b"; python $$b; done

lock:  ## re-pin requirements.txt from requirements.in (in a throw-away venv)
	@./scripts/lock.sh

clean:  ## remove build outputs (keeps the venv)
	rm -rf build install log .stamps
