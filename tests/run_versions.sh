#!/usr/bin/env bash
# The checks of every other CPython version (issue 18), run by tests/run_all.sh
# after the full suite.  For each version: a fresh venv with the newest pip and
# setuptools, `pip install '.[test]'`, the demo, the leak cases (-O0 and -O3),
# the real-report tests, the pytest plugin tests and a conformance sample (the
# full `-k debug` suite on 3.12 and 3.13), and `pip wheel .`: the wheel installed into
# another fresh venv runs the demo with no cargo or rustc on PATH.  Ends with
# one summary line per version.
#
# Usage: bash tests/run_versions.sh [VERSION ...]   (default: 3.8 3.9 3.10 3.12 3.13)
# Interpreters: pyenv's ($PYENV_ROOT/versions/X.Y.*), else pythonX.Y on PATH.
# Rust builds are shared between versions through one CARGO_TARGET_DIR
# (sequential: the dependencies are compiled once; pyo3 and hpydbg once per
# version).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VERSIONS=("$@")
[ ${#VERSIONS[@]} -gt 0 ] || VERSIONS=(3.8 3.9 3.10 3.12 3.13)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=${HPYDBG_VERSIONS_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/hpydbg-versions-XXXXXX")}
PYENV_ROOT=${PYENV_ROOT:-$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")}
# The tests that must pass on every version (a conformance sample follows).
TESTS=(tests/test_leak_cases.py tests/test_real_reports.py tests/test_pytest_plugin.py tests/test_activation.py)
# HPy's own suite, -k debug, on hpydbg's context: these files on most
# versions (about a fifth of it: the debug-mode tests, module and type basics,
# errors, calls); all of it on 3.12 and 3.13 (on 3.13 minus what HPy 0.9.0
# itself breaks there: tests/conformance/run.py deselects it), or everywhere
# with HPYDBG_FULL_CONFORMANCE=1.
CONFORMANCE_SAMPLE=(test/debug test/test_00_basic.py test/test_hpyerr.py test/test_call.py
                    test/test_hpymodule.py test/test_hpytype.py)

interpreter() {
    local v=$1 p
    p=$(ls -d "$PYENV_ROOT"/versions/"$v".[0-9]*/bin/python 2>/dev/null | sort -V | tail -1)
    [ -n "$p" ] || p=$(command -v "python$v")
    echo "$p"
}

# PATH without the Rust toolchain, for the wheel's demo.
NO_RUST_PATH=$(printf '%s' "$PATH" | tr ':' '\n' | while read -r d; do
    [ -x "$d/cargo" ] || [ -x "$d/rustc" ] || printf '%s:' "$d"; done | sed 's/:$//')

declare -A SUMMARY
START_ALL=$SECONDS
for v in "${VERSIONS[@]}"; do
    start=$SECONDS
    log=$WORK/$v.log
    : >"$log"
    results=()
    py=$(interpreter "$v")
    if [ -z "$py" ]; then
        SUMMARY[$v]="SKIPPED: no python$v (pyenv or PATH)"
        continue
    fi
    venv=$WORK/venv-$v
    echo "== CPython $v ($py): fresh venv in $venv (log: $log)"
    step() {  # step NAME COMMAND...: run, record ok/FAILED, show the tail on failure
        local name=$1; shift
        echo "-- $v: $name" | tee -a "$log"
        if nice "$@" >>"$log" 2>&1; then
            results+=("$name ok")
        else
            results+=("$name FAILED")
            tail -n 40 "$log"
            return 1
        fi
    }
    rm -rf "$venv"
    if step venv "$py" -m venv "$venv" &&
       step pip "$venv/bin/python" -m pip install -q --disable-pip-version-check -U pip setuptools &&
       step install "$venv/bin/python" -m pip install -q --disable-pip-version-check "$ROOT[test]"; then
        vpy=$venv/bin/python
        setuptools=$("$vpy" -c 'import setuptools; print(setuptools.__version__)' 2>/dev/null)
        echo "-- $v: setuptools $setuptools" | tee -a "$log"
        # The demo's leak must name its Python line (line 3 of its script: sum_items).
        step demo bash -c "cd '$WORK' && '$vpy' -m hpydbg demo 2>&1 | tee demo-$v.out; \
            grep -q 'from Python: <string>:3 in <module>' demo-$v.out"
        step tests "$vpy" -m pytest "${TESTS[@]}" -q -p no:cacheprovider -n 2
        if [ "$v" = 3.12 ] || [ "$v" = 3.13 ] || [ -n "${HPYDBG_FULL_CONFORMANCE:-}" ]; then
            step conformance "$vpy" tests/conformance/run.py -n 2
        else
            step conformance-sample "$vpy" tests/conformance/run.py -n 2 "${CONFORMANCE_SAMPLE[@]}"
        fi
        # The wheel works where there is no Rust toolchain.
        wheels=$WORK/wheels-$v wvenv=$WORK/venv-$v-wheel
        rm -rf "$wheels" "$wvenv"
        step wheel bash -c "'$vpy' -m pip wheel -q --disable-pip-version-check --no-deps -w '$wheels' '$ROOT' &&
            '$py' -m venv '$wvenv' &&
            '$wvenv/bin/python' -m pip install -q --disable-pip-version-check -U pip setuptools &&
            '$wvenv/bin/python' -m pip install -q --disable-pip-version-check '$wheels'/hpydbg-*.whl &&
            cd '$WORK' && env PATH=$NO_RUST_PATH sh -c '! command -v cargo && ! command -v rustc' &&
            env PATH=$NO_RUST_PATH '$wvenv/bin/python' -m hpydbg demo 2>&1 | tee wheel-demo-$v.out &&
            grep -q 'from Python: <string>:3 in <module>' wheel-demo-$v.out"
    fi
    ok=$(printf '%s\n' "${results[@]}" | grep -c ' ok$')
    bad=$(printf '%s\n' "${results[@]}" | grep ' FAILED$' | sed 's/ FAILED$//' | paste -sd, -)
    counts=$(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed)' "$log" | sed 's/=//g; s/^ *//; s/ in [0-9.]*s.*//' | paste -sd';' -)
    SUMMARY[$v]="$([ -z "$bad" ] && echo PASS || echo "FAIL ($bad)"): $ok steps ok, $((SECONDS - start))s [$counts]"
done

echo
echo "== per-version summary ($((SECONDS - START_ALL))s in all; logs in $WORK)"
status=0
for v in "${VERSIONS[@]}"; do
    echo "CPython $v: ${SUMMARY[$v]}"
    case ${SUMMARY[$v]} in PASS*) ;; *) status=1 ;; esac
done
exit $status
