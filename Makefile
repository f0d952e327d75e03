# tinygen's two entry points on a fresh machine (each runs the set-up first):
#   make demo   the main job: train a small model, quantize to int8, generate C,
#               build for the emulated Cortex-M4, flash it over serial, verify bit-exact
#   make test   the test suite (what CI runs)
PYTHON ?= python3
export PYTHON

.PHONY: setup demo test bench
setup:
	bash scripts/setup.sh

demo: setup
	bash examples/demo.sh

test: setup
	$(PYTHON) -m pytest -n 2 -q

bench: setup
	$(PYTHON) benchmarks/run_all.py
