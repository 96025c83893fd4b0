# The whole set-up on a fresh Debian machine: `make demo` and `make test`.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
# Capture needs root; outside root, the demo asks sudo for exactly that step.
SUDO    := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
DEMO_OUT ?= runs/seed

.PHONY: install system-deps demo test samples sweep golden bench bench-capture bench-scaling bench-streaming clean

# the project's modules compiled to bytecode, as pip does on install (an editable install does not): a
# command then starts without compiling them, even where PYTHONDONTWRITEBYTECODE is set
install: system-deps $(VENV)/.installed
	$(BIN)/python -m compileall -q analysis abortscope capture

system-deps:
	@tools/install-system-deps.sh

$(VENV)/.installed: pyproject.toml setup.py $(wildcard analysis/pcap/csrc/*)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: install
	$(SUDO) $(BIN)/abortscope run --out $(DEMO_OUT)

test: install
	$(BIN)/python -m pytest -ra

samples: install
	$(SUDO) $(BIN)/python -m capture.samples sample_pcaps

sweep: install
	$(SUDO) $(BIN)/abortscope sweep --matrix --out runs/sweep

# after a deliberate change of the analyzer's output: rewrite tests/golden/ (review the diff)
golden: install
	ABORTSCOPE_REGEN_GOLDEN=1 $(BIN)/python -m pytest -q tests/analysis/test_golden.py

# the 1M-packet capture needs root (tcpdump on lo); timing it does not
bench-capture: install
	$(SUDO) $(BIN)/python bench/make_capture.py --skip-if-exists

bench: bench-capture
	$(BIN)/python bench/run_bench.py
	$(BIN)/python bench/streaming.py

# 5x and 20x the packets (made beside the capture, one at a time, deleted after), pieces = whole, batch speed-up
bench-streaming: bench-capture
	$(BIN)/python bench/streaming.py

bench-scaling: bench-capture
	$(BIN)/python bench/run_bench.py --scaling --verify-tshark

clean:
	rm -rf $(VENV) runs .pytest_cache
