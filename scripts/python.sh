#!/bin/sh
# Builds the Python package `steerlab` into the project's virtualenv (.venv): the bindings in
# python/ compile with the project's cargo profile and target folder, so only the binding layer
# (PyO3, rust-numpy and python/src) compiles on top of what `cargo build` already built.
set -eu
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.requirements
if [ ! -f "$stamp" ] || ! cmp -s python/requirements.txt "$stamp"; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -r python/requirements.txt
    cp python/requirements.txt "$stamp"
fi
VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH" .venv/bin/maturin develop -q -m python/Cargo.toml --skip-install
