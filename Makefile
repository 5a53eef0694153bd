# The two commands of the quick start: `make demo` and `make test`.
# Both install what is missing first (scripts/setup.sh). The main job, the tests and the
# benchmarks share one cargo profile, so dependencies compile once.

export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo

.PHONY: setup demo test bench check
setup:
	@./scripts/setup.sh

# The main job on the built-in scenarios; results in runs/demo/.
demo: setup
	$(CARGO) run -- demo

# Every test, rendering tests included (on lavapipe where there is no GPU).
test: setup
	$(CARGO) test

bench: setup
	$(CARGO) run -- bench sim

check: setup
	$(CARGO) run -- scenario check scenarios/*.ron
