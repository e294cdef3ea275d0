# Quick start (see README.md): `make demo` installs and runs the default world, `make test` runs the tests.
.PHONY: demo demo-data test lint install bench-collect

WORLD ?= carracing
# The headless demo's driver: CarRacing's pilot, which reads the road from the frames; random elsewhere.
DEMO_POLICY ?= $(if $(filter carracing,$(WORLD)),pilot,random)
FRAMES ?= 2000

# Install, then play the shipped default world: a window where there is a display, otherwise 300 frames driven
# by the pilot (a driver that sees only the generated frames) written to out/demo.mp4 (timings in out/demo.json).
# Every shipped CarRacing start has the car on the road with road ahead (scripts/package_world.py keeps only such).
demo:
	scripts/install.sh
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
		.venv/bin/worldsim play $(WORLD); \
	else \
		echo "no display: playing headless to out/demo.mp4"; \
		.venv/bin/worldsim play $(WORLD) --headless --policy $(DEMO_POLICY) --frames 300 --out out/demo.mp4; \
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
