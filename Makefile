# Quick start (see README.md): `make demo` installs and runs the default world, `make test` runs the tests.
.PHONY: demo demo-data test lint install bench-collect

WORLD ?= carracing
FRAMES ?= 2000
# The start state the headless demo opens on: seed 7 shows the road ahead in its first frame (seed 0 is a car on
# plain grass); chosen by scripts/pick_demo_start.py over seeds 0-99 (runs/demo-start.json).
DEMO_SEED ?= 7

# Install, then play the shipped default world: a window where there is a display, otherwise a headless
# drive from a scripted action file written to out/demo.mp4 (with a JSON of timings beside it).
demo:
	scripts/install.sh
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
		.venv/bin/worldsim play $(WORLD); \
	else \
		echo "no display: playing headless to out/demo.mp4"; \
		.venv/bin/worldsim play $(WORLD) --headless --actions docs/play-drive.txt --seed $(DEMO_SEED) --out out/demo.mp4; \
	fi

# Record a short dataset from the real simulator and check it (the first step of training a world).
demo-data:
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
