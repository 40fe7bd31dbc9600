# Clavis developer commands. `make dev` runs the local cloud, `make test` runs everything CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help dev down status test lint unit stack-test fmt bench replay policy-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

dev: ## install what is needed, start the local cloud with Clavis in the background, print the API URL and operator credentials
	@infra/local/clavis-local up
	@scripts/print-stack .local/dev/stack.json

down: ## stop the local cloud started by `make dev`
	@infra/local/clavis-local down

status: ## say what of the local cloud runs
	@infra/local/clavis-local status

test: ## the whole suite: fmt, clippy, policy check, template lint, unit tests, then integration tests on a local cloud of its own
	@scripts/test

lint: ## fmt check, clippy -D warnings, policy check, template lint
	@scripts/test lint

policy-check: ## validate the Cedar policies of infra/policies against their schema; print the policy version
	@cargo run --quiet -p clavis-policy --bin policy-check -- infra/policies

unit: ## unit and property tests (no cloud needed)
	@scripts/test unit

bench: ## issuance, revocation, token latency, expiry sweep rate, AWS calls per issuance, propagation, rotation, renewal sweeps, inventory listing at 10k credentials, against the running `make dev` stack
	@.local/venv/bin/python bench/issuance.py --requests 200
	@.local/venv/bin/python bench/revocation.py --revocations 200
	@.local/venv/bin/python bench/token_endpoint.py --tokens 300
	@.local/venv/bin/python bench/expiry_sweep.py --credentials 200
	@.local/venv/bin/python bench/lifecycle.py --rotations 40 --renewals 40 --listing 10000

replay: ## drain the events DLQ, workflow DLQ and intake queue of the `make dev` stack; prints what was replayed and what still fails
	@.local/venv/bin/python scripts/replay

fmt: ## format the code
	cargo fmt --all
