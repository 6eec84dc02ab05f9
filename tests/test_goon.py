"""Going on as universal mode does, under HPY_DEBUG_POLICY=log and in the
pytest plugin (docs/REPORTS.md, "Go on as universal mode does"), on an
extension built -O3 -g (tests/ext/goon.c): piconumpy's patterns."""
import json
import random

import pytest

from conftest import TESTS, marker_line, run_python

SRC = TESTS / "ext" / "goon.c"


def line(tag):
    return marker_line(SRC, f"/* {tag} */")


@pytest.fixture(scope="module")
def ext_dir(tmp_path_factory):
    from hpydbg.build import build_extension

    d = tmp_path_factory.mktemp("goon")
    build_extension("goon", [str(SRC)], str(d), opt="-O3")
    return d


def run(d, code, policy="log"):
    log = d / f"log-{random.getrandbits(40):x}.jsonl"
    env = {"PYTHONHASHSEED": "0"}
    if policy is not None:
        env.update({"HPY_DEBUG": "1", "HPY_DEBUG_POLICY": policy, "HPY_DEBUG_LOG": str(log),
                    "HPY_DEBUG_LOG_FORMAT": "json"})
    r = run_python(code, d, env)
    recs = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    return r, [x for x in recs if x.get("event") == "misuse"]


def site(rec):
    s = rec["site"] or {}
    return (s.get("function"), (s.get("file") or "").rsplit("/", 1)[-1], s.get("line"))


CATCH = ("import goon\n"
         "try:\n"
         "    print({})\n"
         "except Exception as e:\n"
         "    print(type(e).__name__, e)\n")


def test_int_read_as_struct_prints_universal_result_with_one_report(ext_dir):
    code = CATCH.format("goon.read_x(5)")
    u, _ = run(ext_dir, code, policy=None)
    r, recs = run(ext_dir, code)
    assert u.returncode == 0 and r.returncode == 0, r.stderr
    # Universal mode reads the int's memory as the struct: its size field, 1.
    assert u.stdout == r.stdout == "1\n"
    assert [(x["class"], x["api"]) for x in recs] == [("bad-argument", "_HPy_AsStruct_Object")]
    # PointObject_AsStruct (HPyType_HELPERS) inlined into read_x_impl.
    assert recs[0]["site"]["inlined_into"]["function"] == "read_x_impl"
    assert recs[0]["site"]["inlined_into"]["line"] == line("AS_STRUCT")


def test_list_check_of_null_is_one_report_and_a_normal_return(ext_dir):
    # Universal mode crashes here (PyList_Check dereferences NULL).
    u, _ = run(ext_dir, CATCH.format("goon.check_null()"), policy=None)
    assert u.returncode < 0
    r, recs = run(ext_dir, CATCH.format("goon.check_null()"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "(None, 'after')\n"
    assert [(x["class"], x["api"]) for x in recs] == [("null-handle", "HPyList_Check")]
    assert site(recs[0])[1:] == ("goon.c", line("CHECK_NULL"))


def test_raise_policy_keeps_hpydebugerror(ext_dir):
    code = ("import goon\ntry:\n    goon.check_null()\nexcept SystemError as e:\n"
            "    print(type(e.__cause__ or e.__context__).__name__, e.__cause__ or e.__context__)\n")
    r, recs = run(ext_dir, code, policy="raise")
    assert r.returncode == 0, r.stderr
    # The extension ignored the refused call's error: CPython's SystemError
    # (a result with an exception set) caused by hpydbg's HPyDebugError.
    assert r.stdout.startswith("HPyDebugError hpydbg: HPyList_Check() was not called"), r.stdout
    # Its own exception is never reported as the extension's.
    assert [x["class"] for x in recs] == ["null-handle"]


def test_no_report_names_hpydebugerror_as_pending(ext_dir):
    code = "\n".join(CATCH.format(c) for c in ("goon.check_null()", "goon.result_pending('x')",
                                               "goon.error_no_exc(0)", "goon.read_x(5)"))
    for policy in ("log", "raise"):
        r, recs = run(ext_dir, code, policy=policy)
        assert r.returncode == 0, r.stderr
        assert recs
        assert not [x for x in recs if (x["exception"] or "").startswith("HPyDebugError")], recs


def test_exception_state_reports_carry_the_python_line(ext_dir):
    code = CATCH.format("goon.result_pending('x')") + CATCH.format("goon.error_no_exc(0)").split("\n", 1)[1]
    r, recs = run(ext_dir, code)
    assert r.returncode == 0, r.stderr
    assert [x["class"] for x in recs] == ["call-with-exception-pending", "result-with-exception-pending",
                                          "error-without-exception"]
    assert [x["python"] for x in recs] == [{"file": "<string>", "line": 3, "function": "<module>"}] * 2 + \
        [{"file": "<string>", "line": 7, "function": "<module>"}]


def test_error_return_names_a_line_inside_the_function(ext_dir):
    r, recs = run(ext_dir, CATCH.format("goon.error_no_exc(0)") + CATCH.format("goon.null_no_call()")
                  .split("\n", 1)[1])
    assert "returned NULL without setting an exception" in r.stdout
    a, b = recs
    assert a["class"] == "error-without-exception" and a["function"]["name"] == "error_no_exc_impl"
    # The last API call before `return HPy_NULL`, not the opening line.
    assert site(a) == ("error_no_exc_impl", "goon.c", line("LAST_CALL")) and a["site_is"] == "last-api-call"
    assert line("ENTRY_ERROR") < line("LAST_CALL") < line("RETURN_NULL")
    # No API call at all: the entry, said so.
    # (At -O3 the entry address is that of its first statement.)
    assert site(b)[1] == "goon.c" and line("ENTRY_NOCALL") <= site(b)[2] <= line("ENTRY_NOCALL") + 2
    assert b["site_is"] == "function-entry"


def test_result_with_exception_pending_names_the_last_call(ext_dir):
    r, recs = run(ext_dir, CATCH.format("goon.result_pending('x')"))
    res = [x for x in recs if x["class"] == "result-with-exception-pending"]
    assert len(res) == 1
    assert site(res[0]) == ("result_pending_impl", "goon.c", line("CALL_PENDING"))
    assert res[0]["origin"]["api"] == "HPyLong_AsInt64_t"


def test_use_after_close_of_a_quiet_object_is_forwarded(ext_dir):
    code = CATCH.format("goon.use_after_close(3)")
    u, _ = run(ext_dir, code, policy=None)
    r, recs = run(ext_dir, code)
    assert r.returncode == 0, r.stderr
    assert r.stdout == u.stdout == "('3000009',)\n"
    assert [(x["class"], x["api"]) for x in recs] == [("use-after-close", "HPy_Repr")]
    assert site(recs[0])[1:] == ("goon.c", line("USE_AFTER_CLOSE"))


def test_use_after_close_of_an_observed_object_is_refused_and_its_death_not_delayed(ext_dir):
    # An instance of a Python class with a weakref: released at close, as in
    # universal mode (the callback runs at once); the use gets the safe None.
    code = """
import goon, weakref, gc
died = []
class C:
    pass
keep = []
def make():
    o = C()
    keep.append(weakref.ref(o, lambda r: died.append('died')))
    return o
print(goon.use_after_close_obj(make), died)
"""
    r, recs = run(ext_dir, code)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "(None,) ['died']\n"
    assert [x["class"] for x in recs] == ["use-after-close"]


def test_quarantine_is_bounded(ext_dir):
    code = """
import goon, hpydbg
for i in range(1, 5001):
    goon.use_after_close(i)
s = hpydbg.stats()
print(s["quarantine_objects"], s["quarantine_admitted"], s["quarantine_evicted"], s["quarantine_bytes"] < 2**23)
"""
    r, _ = run(ext_dir, code)
    assert r.returncode == 0, r.stderr
    held, admitted, evicted, small = r.stdout.split()
    assert (int(held), int(admitted), int(evicted), small) == (1024, 5000, 5000 - 1024, "True")
