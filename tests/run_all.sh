#!/usr/bin/env bash
# Install hpydbg from this checkout and run every test: Rust unit tests, our
# Python tests, and HPy 0.9.0's own test suite (-k debug) on our context, with
# the first python3 on PATH (CI: 3.11); then, on every other CPython version,
# a fresh venv each (tests/run_versions.sh; HPYDBG_VERSIONS="3.12 3.13" picks
# some, HPYDBG_VERSIONS=none skips them).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS=0
echo "== install (pip install '.[test]')"
python3 -m pip install --quiet --disable-pip-version-check '.[test]'

echo "== Rust unit tests"
cargo test --quiet --lib

echo "== hpydbg tests"
python3 -m pytest tests -q -p no:cacheprovider -n 2

echo "== HPy 0.9.0 conformance suite (-k debug) on hpydbg's context"
python3 tests/conformance/run.py -n 2

echo "== full suite on $(python3 -c 'import platform; print(platform.python_version())'): ${SECONDS}s"

if [ "${HPYDBG_VERSIONS:-}" != none ]; then
    echo "== the other CPython versions (tests/run_versions.sh)"
    # shellcheck disable=SC2086 # a list of versions
    bash tests/run_versions.sh ${HPYDBG_VERSIONS:-}
fi
echo "== run_all: ${SECONDS}s in all"
