"""The C API's error protocol (docs/REPORTS.md, "Exception state"): API
calls with an exception pending, error returns without one, results with one
pending; and HPy_NULL where HPy defines it as harmless."""
import json
import random

import pytest

from conftest import TESTS, build_into, run_python

SRC = TESTS / "ext" / "errstate.c"


def line_of(tag):
    for n, text in enumerate(SRC.read_text().splitlines(), 1):
        if f"/* {tag} */" in text:
            return n
    raise LookupError(tag)


@pytest.fixture(scope="session")
def ext_dir(tmp_path_factory):
    return build_into(tmp_path_factory, "errstate", SRC)


def run_logged(d, code, policy="log", fmt="json"):
    log = d / f"log-{random.getrandbits(40):x}.txt"
    env = {"HPY_DEBUG": "1", "HPY_DEBUG_POLICY": policy, "HPY_DEBUG_LOG": str(log),
           "HPY_DEBUG_LOG_FORMAT": fmt}
    r = run_python(code, d, env)
    text = log.read_text() if log.exists() else ""
    if fmt == "json":
        return r, [json.loads(x) for x in text.splitlines() if x.strip()]
    return r, text


def site(rec):
    s = rec["site"] or {}
    return (s.get("file") or "").rsplit("/", 1)[-1], s.get("line")


CATCH = "import errstate as m\ntry:\n    {}\nexcept SystemError as e:\n    print('SystemError', e)\n"


def test_call_with_exception_pending_names_call_site_and_origin(ext_dir):
    r, recs = run_logged(ext_dir, CATCH.format("m.as_long_ignored('x')"))
    assert r.returncode == 0, r.stderr
    # Going on as universal mode: CPython's SystemError, then the next report.
    assert "returned a result with an exception set" in r.stdout
    assert [x["class"] for x in recs] == ["call-with-exception-pending", "result-with-exception-pending"]
    c = recs[0]
    assert c["api"] == "HPyLong_FromInt64_t"
    assert site(c) == ("errstate.c", line_of("CALL_PENDING"))
    assert c["exception"] == "TypeError: 'str' object cannot be interpreted as an integer"
    assert c["origin"]["api"] == "HPyLong_AsInt64_t"
    assert (c["origin"]["site"]["file"].rsplit("/", 1)[-1], c["origin"]["site"]["line"]) == \
        ("errstate.c", line_of("ORIGIN_ASLONG"))


def test_origin_of_an_exception_the_extension_set(ext_dir):
    r, recs = run_logged(ext_dir, CATCH.format("m.set_then_call()"))
    assert r.returncode == 0, r.stderr
    c = recs[0]
    assert c["class"] == "call-with-exception-pending" and c["api"] == "HPy_Repr"
    assert site(c) == ("errstate.c", line_of("CALL_AFTER_SET"))
    assert c["exception"] == "ValueError: set here"
    assert c["origin"]["api"] == "HPyErr_SetString"
    assert c["origin"]["site"]["line"] == line_of("ORIGIN_SET")


def test_text_report_of_each_class(ext_dir):
    code = CATCH.format("m.as_long_ignored('x')") + CATCH.format("m.null_no_exc()").split("\n", 1)[1]
    r, text = run_logged(ext_dir, code, fmt="text")
    assert r.returncode == 0, r.stderr
    assert "Invalid HPy API call with an exception pending\n" \
           "hpydbg: HPyLong_FromInt64_t() was called while an exception is pending [call-with-exception-pending]\n" \
           "  in: HPyLong_FromInt64_t()\n" \
           f"  at: as_long_ignored_impl at {SRC}:{line_of('CALL_PENDING')} (errstate.hpy0.so)\n" \
           "  python: <module> at <string>:3\n" \
           "  exception: TypeError: 'str' object cannot be interpreted as an integer\n" \
           f"  exception set by: HPyLong_AsInt64_t() at as_long_ignored_impl at {SRC}:{line_of('ORIGIN_ASLONG')} " \
           "(errstate.hpy0.so)\n" in text, text
    assert "hpydbg: as_long_ignored_impl() returned a valid result while an exception is pending " \
           "[result-with-exception-pending]\n" in text, text
    assert "  object: 0 (type int)\n" in text
    assert "Error return without an exception set\n" \
           "hpydbg: null_no_exc_impl() returned HPy_NULL (its error value) but no exception is set " \
           "[error-without-exception]\n" in text, text
    # No API call of its own before the return: its entry, said so.
    assert f"  at: null_no_exc_impl at {SRC}:{line_of('ENTRY_NULL')} (errstate.hpy0.so) " \
           "(its entry: no HPy API call of it was seen before it returned)\n" in text
    # Every class carries the Python line.
    assert text.count("  python: <module> at <string>:") == 3, text


def test_error_without_exception_keeps_cpythons_system_error(ext_dir):
    r, recs = run_logged(ext_dir, CATCH.format("m.null_no_exc()"))
    assert "returned NULL without setting an exception" in r.stdout, r.stdout + r.stderr
    assert len(recs) == 1
    rec = recs[0]
    assert rec["class"] == "error-without-exception" and rec["api"] is None
    assert rec["function"]["name"] == "null_no_exc_impl"
    assert site(rec) == ("errstate.c", line_of("ENTRY_NULL"))
    assert rec["site_is"] == "function-entry"
    assert rec["python"] == {"file": "<string>", "line": 3, "function": "<module>"}


def test_int_slot_returning_minus_one_without_exception(ext_dir):
    r, recs = run_logged(ext_dir, CATCH.format("bool(m.Box())"))
    assert "SystemError" in r.stdout, r.stdout + r.stderr
    assert [(x["class"], x["function"]["name"], site(x)) for x in recs] == \
        [("error-without-exception", "Box_bool_impl", ("errstate.c", line_of("ENTRY_BOOL")))]


def test_result_with_exception_pending_names_origin_and_object(ext_dir):
    r, recs = run_logged(ext_dir, CATCH.format("m.put_ignored({}, [], 1)"))
    assert "returned a result with an exception set" in r.stdout
    assert len(recs) == 1
    rec = recs[0]
    assert rec["class"] == "result-with-exception-pending" and rec["function"]["name"] == "put_ignored_impl"
    assert site(rec) == ("errstate.c", line_of("ENTRY_PUT"))
    assert rec["object"] == "True (type bool)"
    assert rec["exception"] == "TypeError: unhashable type: 'list'"
    assert rec["origin"]["api"] == "HPy_SetItem"
    assert rec["origin"]["site"]["line"] == line_of("ORIGIN_SETITEM")


def test_default_policy_aborts(ext_dir):
    r = run_python("import errstate as m; m.as_long_ignored('x')", ext_dir, {"HPY_DEBUG": "1"})
    assert r.returncode == -6
    assert r.stderr.startswith("Invalid HPy API call with an exception pending"), r.stderr[:300]


def test_raise_policy_skips_the_call(ext_dir):
    code = "import errstate as m, hpydbg\ntry:\n    m.as_long_ignored('x')\n" \
           "except hpydbg.HPyDebugError as e:\n    print('raised', e)\n"
    r, recs = run_logged(ext_dir, code, policy="raise")
    assert r.returncode == 0, r.stderr
    assert "raised hpydbg: HPyLong_FromInt64_t() was not called" in r.stdout, r.stdout


@pytest.mark.parametrize("policy", ["abort", "log"])
def test_dup_and_close_of_null_are_not_reported(ext_dir, policy):
    r, recs = run_logged(ext_dir, "import errstate as m\nprint(m.dup_null())", policy=policy)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"   # no exception pending after HPy_Dup(HPy_NULL)
    assert recs == []


def test_misuse_report_describes_a_live_object(ext_dir):
    r, recs = run_logged(ext_dir, "import errstate as m\nm.close_arg(12345)")
    assert r.returncode == 0, r.stderr
    assert [(x["class"], x["object"]) for x in recs] == [("close-argument", "12345 (type int)")]
