# The two commands of the quick start: `make demo` and `make test`.
# Both install what is missing first (scripts/setup.sh). The main job, the tests and the
# benchmarks share one cargo profile, so dependencies compile once.

export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo

.PHONY: setup python demo test bench check docs fuzz fuzz-smoke
setup:
	@./scripts/setup.sh

# The Python package in .venv (built on the same cargo profile).
python: setup
	@./scripts/python.sh

# The main job on the built-in scenarios; results in runs/demo/.
demo: setup
	$(CARGO) run -- demo

# Every test, rendering tests included (on lavapipe where there is no GPU): the Rust tests
# (the guide built with mdBook among them, installed through cargo when missing), then the
# Python package's (pytest).
test: setup
	@command -v mdbook >/dev/null || $(CARGO) install mdbook --locked --version ^0.4
	$(CARGO) test
	@./scripts/python.sh
	PYTHONPATH=python .venv/bin/python -m pytest -q python/tests

# The guide (docs/, an mdBook) built into docs/book/; mdBook is installed through cargo when
# missing. The tests link-check it and build it where mdbook is installed.
docs: setup
	@command -v mdbook >/dev/null || $(CARGO) install mdbook --locked --version ^0.4
	mdbook build docs

bench: setup
	$(CARGO) run -- bench sim

check: setup
	$(CARGO) run -- scenario check scenarios/*.ron

# Coverage-guided fuzzing of every reader (fuzz/, nightly toolchain): FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 300
fuzz: setup
	FUZZ_SECONDS=$(FUZZ_SECONDS) ./scripts/fuzz.sh

# A few seconds of each target: 300 inputs from a fixed seed (CI runs it where the nightly
# toolchain is installed).
fuzz-smoke: setup
	FUZZ_RUNS=300 ./scripts/fuzz.sh
