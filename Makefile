# The two quickstart commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test check lint demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/monitor run --config config.yaml

test: $(STAMP)
	$(BIN)/ruff check monitor tests benchmarks
	$(BIN)/ruff format --check monitor tests benchmarks
	$(BIN)/mypy
	$(BIN)/mypy --strict monitor
	$(BIN)/pytest

demo: $(STAMP)
	$(BIN)/monitor demo

# About half an hour: each benchmark prints its figures with issue 17's targets beside them.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.bench_classify
	$(BIN)/python -m benchmarks.bench_extract
	$(BIN)/python -m benchmarks.bench_poll 200 10
	$(BIN)/python -m benchmarks.bench_first_poll 200 10
	$(BIN)/python -m benchmarks.bench_repoll 1000
	$(BIN)/python -m benchmarks.bench_scale 10000 300 120
	$(BIN)/python -m benchmarks.bench_latency 50 2 180
	$(BIN)/python -m benchmarks.bench_steady 1000 600
	$(BIN)/python -m benchmarks.bench_events 3
	$(BIN)/python -m benchmarks.bench_celery
	$(BIN)/python -m monitor eval ../shared/corpus/labelled-dev.jsonl --cv 5 --show 0

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
