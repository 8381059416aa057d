# The README's two commands: `make run` (set up + start) and `make test` (set up + run the tests).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run compare test test-fast lint bench bench-gpu clean-cache

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# set up, then start the dashboard (http://localhost:8501) on the embedded digits dataset
run: $(BIN)/.installed
	$(BIN)/streamlit run dashboard/app.py

# set up, then run the default comparison headless and write results.csv
compare: $(BIN)/.installed
	$(BIN)/python -m engine compare --dataset digits --model cnn --paradigm supervised --scenario class \
		--forget-class 3 --methods original,retrain,finetune,gradient_ascent,neggrad_plus,random_label \
		--seeds 1 --out results.csv

lint: $(BIN)/.installed
	$(BIN)/ruff check .

# Debian's chromium for the real-browser test (driven by Playwright; never `playwright install`)
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq chromium

test: $(BIN)/.installed $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# the inner loop while developing: everything but the tests marked slow, browser or ray (CI runs `make test`)
test-fast: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m "not slow and not browser and not ray and not gpu"

# CPU benchmarks: execution (cold/warm, sequential/parallel, 1/2 threads, quiet/under load, every method),
# default comparison in process, executor overhead, dashboard paint/render
bench: $(BIN)/.installed $(CHROMIUM)
	$(BIN)/python bench/bench_execution.py --all-methods
	$(BIN)/python bench/bench_default_comparison.py
	$(BIN)/python bench/bench_executor_overhead.py
	$(BIN)/python bench/bench_dashboard.py

# (b) CIFAR-10 / resnet18, every applicable method, one seed, on the GPU (needs the dataset in ./data)
bench-gpu: $(BIN)/.installed
	$(BIN)/python bench/bench_full_comparison.py --device cuda

clean-cache:
	rm -rf .cache/unlearn
