# The README's two commands: `make run` (set up + start) and `make test` (set up + run the tests).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run compare test lint bench clean-cache

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# set up, then run the default comparison on the embedded digits dataset (the dashboard arrives with issue #4)
run: $(BIN)/.installed
	$(BIN)/python -m engine compare --dataset digits --model cnn --paradigm supervised --scenario class \
		--forget-class 3 --methods original,retrain,finetune,gradient_ascent,neggrad_plus,random_label \
		--seeds 1 --out results.csv

compare: run

lint: $(BIN)/.installed
	$(BIN)/ruff check .

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(BIN)/.installed
	$(BIN)/python bench/bench_default_comparison.py

clean-cache:
	rm -rf .cache/unlearn
