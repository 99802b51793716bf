# Two commands for a newcomer: `make app` (set up and start the app) and `make test` (set up and run the tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: app test bench fuzz

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-app: requirements.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed-app

# The page asks for patient details: by default only this machine can reach it. `make app ADDRESS=0.0.0.0`
# exposes it to the network (behind your own TLS and access control); Hugging Face Spaces sets its own.
ADDRESS ?= localhost
app: $(VENV)/.installed-app
	$(BIN)/streamlit run app.py --server.address $(ADDRESS)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-dev
	PYTHONPATH=. $(BIN)/python benchmarks/bench_ecg.py

# The readers' nightly-sized fuzz campaign: 2,000 mutants per format, each read under 1 GiB and 10 s (about 20 min
# on 2 cores); failing mutants are written to fuzz-failures/. `make test` runs a small one.
fuzz: $(VENV)/.installed-dev
	PYTHONPATH=. $(BIN)/python -m tests.fuzz_readers --per-format 2000 --out fuzz-failures
