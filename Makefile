# The README's two commands: `make run` and `make test`. Both install what they need first.
VENV := .venv/bin

.PHONY: install run test lint bench

install:
	bash scripts/install.sh

run: install
	$(VENV)/spd-atlas build --preset demo
	ATLAS_STUDY=$${ATLAS_STUDY:-demo} $(VENV)/spd-atlas serve

lint: install
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

test: install lint
	bash scripts/install-test-services.sh
	$(VENV)/python -m pytest

# every benchmark, full size; writes docs/benchmarks.md from their JSON (the demo study: make run)
bench: install
	$(VENV)/python -m bench.report
