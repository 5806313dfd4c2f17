# t2g entry points. Every target runs the idempotent set-up first (seconds when nothing changed) and
# the environment from scripts/env.sh (DDS on loopback, a per-run ROS domain, the large-image profile).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
RUN := source scripts/env.sh &&

.PHONY: setup test demo
setup:
	@bash scripts/setup.sh

## README command 2: the whole test suite
test: setup
	@$(RUN) python -m pytest -q $(PYTEST_ARGS)

## README command 1: the shipped checkpoint on the shipped sample bag, through the live node (artifacts/demo/)
demo: setup
	@$(RUN) python -m t2g_ros.demo $(DEMO_ARGS)
