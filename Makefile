# The two commands a newcomer needs: `make run` and `make test`. Everything else is installed on the way.
.DEFAULT_GOAL := help
SHELL := /bin/bash
GT := .venv/bin/gridtalk

.PHONY: help install model run test lint bench clean

help:
	@echo "make run    start gridtalk (SQLite, demo data, a real Rasa server) on http://127.0.0.1:8000"
	@echo "make test   run the whole test suite (SQLite; again on PostgreSQL with GRIDTALK_TEST_DATABASE_URL)"
	@echo "make lint   ruff and mypy"
	@echo "make bench  benchmarks (figures under reports/bench/)"

install:  ## both virtual environments, each only when its lock changed
	@bash scripts/install.sh

model: install  ## the NLU model, only when nlu/ changed since the last one
	@$(GT) nlu train

run: model
	@$(GT) run

test: model
	@bash scripts/test.sh

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy core api bot gridtalk

# bench/all.py runs them: one Rasa server for nlu, chat, storm and scale-out; the fan-out's 30/s run beside the scale
# and KPI data fills; each step's time in reports/bench/all.json.
bench: model  ## every benchmark; PostgreSQL (GRIDTALK_BENCH_DATABASE_URL or the local default) and Redis on 127.0.0.1
	.venv/bin/python bench/all.py

clean:
	rm -rf var reports .pytest_cache .mypy_cache .ruff_cache
