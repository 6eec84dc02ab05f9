#!/usr/bin/env bash
# Install hpydbg from this checkout and run every test: Rust unit tests, our
# Python tests, and HPy 0.9.0's own test suite (-k debug) on our context.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== install (pip install '.[test]')"
python3 -m pip install --quiet --disable-pip-version-check '.[test]'

echo "== Rust unit tests"
cargo test --quiet --lib

echo "== hpydbg tests"
python3 -m pytest tests -q -p no:cacheprovider -n 2

echo "== HPy 0.9.0 conformance suite (-k debug) on hpydbg's context"
python3 tests/conformance/run.py -n 2
