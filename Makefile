# Quick start (see README.md): `make demo` installs and runs the default world, `make test` runs the tests.
.PHONY: demo test lint install bench-collect

WORLD ?= carracing
FRAMES ?= 2000

# Install, then run the main job on the default world. Until a trained world ships, the main job is
# recording a short dataset from the real simulator and checking it.
demo:
	scripts/install.sh
	.venv/bin/worldsim collect $(WORLD) --frames $(FRAMES) --workers 2 --shard-frames 500 --out data/$(WORLD)-demo
	.venv/bin/worldsim data validate data/$(WORLD)-demo
	.venv/bin/worldsim data info data/$(WORLD)-demo

# Install with the test tools, lint, then run the CPU test suite (tests marked slow/gpu are skipped).
test:
	scripts/install.sh dev
	.venv/bin/ruff check .
	.venv/bin/python -m pytest -q

install:
	scripts/install.sh dev

lint:
	.venv/bin/ruff check .

bench-collect:
	.venv/bin/python scripts/bench_collect.py --frames 1000 --workers 2
