#!/bin/sh
# Coverage-guided fuzzing of every reader of user files (fuzz/): `make fuzz` runs each target
# for FUZZ_SECONDS (a campaign), `make fuzz-smoke` for a few seconds. libFuzzer through
# cargo-fuzz, on the nightly toolchain (installed with rustup; cargo-fuzz is installed here if
# missing). Each target starts from its seed corpus (fuzz/corpus/TARGET) and the inputs kept
# from earlier crashes (fuzz/regressions/TARGET) and grows a working corpus in
# target/fuzz/corpus/TARGET; a crash, a run over 2 GB or an input over 5 s stops it with the
# input saved under fuzz/artifacts/TARGET (the instrumented build runs 4-10 times slower than
# the release build, where a hang is an input over 1 s; `cargo test` prints each target's
# slowest kept input there). The figures of each run are printed at the end.
set -eu
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-300}
targets=${FUZZ_TARGETS:-"scenario episode checkpoint coco script labels"}
export PATH="$HOME/.cargo/bin:$PATH"
# Scratch files of the targets in memory: a disk that stalls for a second is not a hang.
[ -d /dev/shm ] && export TMPDIR=/dev/shm

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: needs the nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# Debug assertions and overflow checks on: an overflow is a crash to find, not to wrap.
for t in $targets; do
    cargo +nightly fuzz build --debug-assertions "$t" 2>&1 | tail -n 1
done

# FUZZ_RUNS: that many inputs from a fixed seed instead of a time, so that a smoke run does the
# same on every machine (given the same sources and corpus).
if [ -n "${FUZZ_RUNS:-}" ]; then
    limit="-runs=$FUZZ_RUNS -seed=1"
else
    limit="-max_total_time=$seconds"
fi
logs=target/fuzz/logs
mkdir -p "$logs"
status=0
for t in $targets; do
    mkdir -p "target/fuzz/corpus/$t" "fuzz/regressions/$t"
    echo "fuzz: $t ($limit)"
    if ! cargo +nightly fuzz run --debug-assertions "$t" "target/fuzz/corpus/$t" \
        "fuzz/corpus/$t" "fuzz/regressions/$t" -- \
        $limit -timeout=5 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -max_len=1048576 -print_final_stats=1 >"$logs/$t.log" 2>&1; then
        echo "fuzz: $t FAILED; the input is in fuzz/artifacts/$t, the log in $logs/$t.log" >&2
        grep -E "ERROR|panicked|Test unit written" "$logs/$t.log" | head -n 5 >&2 || true
        status=1
    fi
done

echo
printf '%-12s %12s %8s %10s %s\n' target executions edges corpus result
for t in $targets; do
    log="$logs/$t.log"
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    edges=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*' || echo "?")
    units=$(ls "target/fuzz/corpus/$t" | wc -l)
    result=ok
    grep -q "Test unit written" "$log" && result="CRASH (fuzz/artifacts/$t)"
    printf '%-12s %12s %8s %10s %s\n' "$t" "$execs" "$edges" "$units" "$result"
done
exit $status
