"""hpydbg.suppressions without a process: what each key matches, count
limits, the baseline's keys and order, error lines."""
import pytest

from hpydbg import suppressions as S

SITE = {"function": "sum_impl", "file": "/src/pkg/leaky.c", "line": 13, "object": "leaky.hpy0.so"}


def finding(**kw):
    f = {"class": "leak", "count": 1, "site": dict(SITE), "type": "str", "test": "t.py::t",
         "python": [{"file": "/proj/tests/test_sum.py", "line": 8, "function": "test_sum", "count": 1}]}
    f.update(kw)
    return f


@pytest.mark.parametrize("entry, matches", [
    ('class = "leak"', True),
    ('class = "use-*"', False),
    ('function = "sum_*"', True),
    ('function = "sum"', False),
    ('file = "leaky.c"', True),            # no "/": the file name
    ('file = "*/pkg/leaky.c"', True),
    ('file = "pkg/leaky.c"', False),       # with "/": the whole path
    ('at = "leaky.c:13"', True),
    ('at = "leaky.c:1?"', True),
    ('at = "leaky.c:14"', False),
    ('module = "leaky"', True),
    ('module = "leaky.hpy0.so"', True),
    ('module = "other"', False),
    ('python = "test_sum.py:test_sum"', True),
    ('python = "test_sum.py:8"', True),
    ('python = "*/tests/test_*.py:test_*"', True),
    ('python = "test_other.py:*"', False),
    ('type = "str"', True),
    ('type = "int"', False),
    ('function = "sum_impl"\ntype = "int"', False),   # every key must match
])
def test_each_key(entry, matches):
    supp = S.parse("[[suppress]]\n" + entry + "\n")
    assert supp.entries[0].matches(finding()) is matches


def test_inlined_function_and_unknown_site():
    supp = S.parse('[[suppress]]\nfunction = "helper"\n')
    inlined = finding(site=dict(SITE, inlined_into=[{"function": "helper"}]))
    assert supp.entries[0].matches(inlined)
    assert not supp.entries[0].matches(finding(site=None))


def test_count_limit_first_match_and_usage():
    supp = S.parse('[[suppress]]\nfunction = "sum_impl"\nmax = 3\n\n[[suppress]]\nclass = "leak"\n')
    kept, covered = S.split(supp, [finding(count=2), finding(count=2), finding(count=5)])
    # the first entry takes 3 handles, the second the rest
    assert [(f["count"], f["suppressed_by"]) for f in covered] == [(2, 1), (1, 1), (1, 5), (5, 5)]
    assert kept == []
    assert [(e.used, e.suppressed) for e in supp.entries] == [(2, 3), (2, 6)]
    kept, _ = S.split(S.parse('[[suppress]]\nfunction = "sum_impl"\nmax = 1\n'), [finding(count=3)])
    assert [f["count"] for f in kept] == [2]


def test_baseline_keys_sort_and_round_trip():
    fs = [finding(site=dict(SITE, function="b_impl", line=30), count=2, test="t.py::z"),
          finding(site=dict(SITE, function="b_impl", line=31), count=1, test="t.py::y"),
          finding(site=dict(SITE, function="a_impl", line=99), count=1),
          finding(**{"class": "use-after-close", "site": None})]
    text = S.baseline_text(fs)
    assert text == S.baseline_text(list(reversed(fs)))   # order-independent
    supp = S.parse(text)
    got = [(e.patterns, e.line) for e in supp.entries]
    assert got == [
        ({"class": "leak", "function": "a_impl", "file": "*/leaky.c", "module": "leaky"}, 5),
        ({"class": "leak", "function": "b_impl", "file": "*/leaky.c", "module": "leaky"}, 14),
        ({"class": "use-after-close", "python": "*/test_sum.py:test_sum"}, 23),
    ]
    assert "lines = [30, 31]\nseen = 3\ncomment = \"baseline: t.py::y and 1 more\"" in text
    # lines moved: still covered (keyed by function and file)
    kept, _ = S.split(supp, [finding(site=dict(SITE, function="b_impl", line=77))])
    assert kept == []


@pytest.mark.parametrize("text, line", [
    ('[[suppress]]\nclass = "leak"\n[[suppress]]\nclass = \n', 4),
    ('version = 1\n[[suppress]]\nclass = "leak"\n', 1),
    ('[[suppress]]\nclass = "leak"\n\n[[suppress]]\nlines = "12"\nclass = "x"\n', 5),
])
def test_errors_name_the_line(text, line):
    with pytest.raises(S.SuppressionError) as e:
        S.parse(text, "f.toml")
    assert str(e.value).startswith(f"f.toml:{line}: ")


def test_misuse_records_as_findings():
    from hpydbg._report import misuse_findings

    recs = [{"event": "misuse", "class": "return-closed", "api": None, "site": None,
             "function": {"name": "get_impl", "kind": "O"}, "test": "t.py::t",
             "python": {"file": "/p/t.py", "line": 3, "function": "t"}, "type": "list"},
            {"event": "leak", "class": "leak", "count": 2}]
    [f] = misuse_findings(recs)
    assert f["site"]["function"] == "get_impl" and f["type"] == "list" and f["test"] == "t.py::t"
    assert f["python"] == [{"file": "/p/t.py", "line": 3, "function": "t", "count": 1}]
    supp = S.parse('[[suppress]]\nfunction = "get_impl"\npython = "t.py:3"\ntype = "list"\n')
    assert S.split(supp, [f])[0] == []
    assert dict(S.baseline_key(f)) == {"class": "return-closed", "function": "get_impl"}
