"""Logs of many processes (issue 15): ``HPY_DEBUG_LOG=log-%p.jsonl``,
``HPY_DEBUG_EXITCODE``, ``HPY_DEBUG_SUPPRESSIONS`` outside pytest, and
``hpydbg report`` (merge, ``--baseline``, ``--html``, the HTML checked in a
real headless chromium)."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import OLDLEAKS_C, oldleaks_line
from test_suppressions import BASELINE, ENV_VARS, NEW_TESTS, OLD_TESTS, project  # noqa: F401 (fixture)

pytest_plugins = ["pytester"]

A, B, C = oldleaks_line("OLD_A"), oldleaks_line("OLD_B"), oldleaks_line("OLD_C")
NEW, MISUSE = oldleaks_line("NEW_LEAK"), oldleaks_line("MISUSE")

PROGRAM = """\
import sys, oldleaks
oldleaks.old_a("x")
oldleaks.old_b()
if "new" in sys.argv:
    oldleaks.new_leak(7)
"""

HPYDBG = str(Path(sys.executable).with_name("hpydbg"))


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env.update(extra)
    return env


def hpydbg(*args, cwd):
    """The installed console script."""
    return subprocess.run([HPYDBG, *args], cwd=str(cwd), env=clean_env(), capture_output=True,
                          text=True, timeout=120)


def logs_in(d):
    return sorted(Path(d).glob("log-*.jsonl"))


def records(path):
    return [json.loads(l) for l in Path(path).read_text().splitlines()]


def site_counts(stdout):
    """{function: count} from the report's `N x class at function at file:line` lines."""
    out = {}
    for m in re.finditer(r"^  (\d+) x (\S+)(?: in \S+)? at (\w+) at \S+:(\d+) ", stdout, re.M):
        out[m.group(3)] = (int(m.group(1)), m.group(2), int(m.group(4)))
    return out


def test_plain_runs_log_per_process_exit_status_and_env_suppressions(project):  # noqa: F811
    d = project.path
    (d / "prog.py").write_text(PROGRAM)
    (d / "base.toml").write_text(BASELINE)
    env = clean_env(HPY_DEBUG="1", HPY_DEBUG_TRACES="16", HPY_DEBUG_LOG_FORMAT="json",
                    HPY_DEBUG_LOG="log-%p.jsonl", HPY_DEBUG_EXITCODE="23")
    pids = []
    for args in ([], ["new"]):
        r = subprocess.run([sys.executable, "prog.py", *args], cwd=d, env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 23, r.stderr   # findings: HPY_DEBUG_EXITCODE
        pids.append(r.stdout)
    files = logs_in(d)
    assert len(files) == 2
    for f in files:
        pid = int(re.fullmatch(r"log-(\d+)\.jsonl", f.name).group(1))
        assert {rec["pid"] for rec in records(f)} == {pid}
    # per file: old_a 1 + old_b 2 (+ new_leak 1)
    assert sorted(sum(rec["count"] for rec in records(f)) for f in files) == [3, 4]

    r = hpydbg("report", *map(str, files), cwd=d)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "hpydbg: 7 findings at 3 sites in 2 logs (2 processes):"
    assert site_counts(r.stdout) == {"old_b_impl": (4, "leak", B), "old_a_impl": (2, "leak", A),
                                     "new_leak_impl": (1, "leak", NEW)}

    r = hpydbg("report", "--baseline", "base.toml", *map(str, files), cwd=d)
    assert r.returncode == 1
    assert r.stdout.splitlines()[0] == ("hpydbg: 1 new finding at 1 site in 2 logs (2 processes), "
                                        "not in base.toml (6 covered by it):")
    assert site_counts(r.stdout) == {"new_leak_impl": (1, "leak", NEW)}
    assert "  line 23: class='leak' function='old_c_impl'" in r.stdout  # matched nothing

    # HPY_DEBUG_SUPPRESSIONS outside pytest: the known leaks are not findings
    env = clean_env(HPY_DEBUG="1", HPY_DEBUG_TRACES="16", HPY_DEBUG_SUPPRESSIONS="base.toml",
                    HPY_DEBUG_EXITCODE="23")
    r = subprocess.run([sys.executable, "prog.py"], cwd=d, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "leaked handle" not in r.stderr
    assert "hpydbg: suppressions used (base.toml):" in r.stderr
    r = subprocess.run([sys.executable, "prog.py", "new"], cwd=d, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 23
    assert re.search(rf"^  1 x opened at new_leak_impl at \S+oldleaks\.c:{NEW} ", r.stderr, re.M)
    assert "old_a_impl at" not in r.stderr.split("suppressions used")[0]


def test_pytest_n2_logs_merge_and_baseline_shows_only_new(project, monkeypatch):  # noqa: F811
    project.makepyfile(test_old=OLD_TESTS, test_new=NEW_TESTS, test_misuse="""\
import oldleaks

def test_misuse():
    oldleaks.misuse("m")
""")
    monkeypatch.setenv("HPY_DEBUG_LOG", "log-%p.jsonl")
    monkeypatch.setenv("HPY_DEBUG_LOG_FORMAT", "json")
    r = project.runpytest_subprocess("-p", "no:cacheprovider", "--hpy-debug", "-n", "2", timeout=180)
    r.assert_outcomes(failed=5, passed=1)
    files = logs_in(project.path)
    assert 1 <= len(files) <= 2   # one per worker that had findings; none for the controller
    per_file = {}
    for f in files:
        pid = int(re.fullmatch(r"log-(\d+)\.jsonl", f.name).group(1))
        recs = records(f)
        assert {rec["pid"] for rec in recs} == {pid}
        for rec in recs:
            fn = rec["site"]["function"]
            per_file[fn] = per_file.get(fn, 0) + (rec["count"] if rec["class"] == "leak" else 1)
            assert rec.get("test") in (None, "test_old.py::test_a", "test_old.py::test_b",
                                       "test_old.py::test_c", "test_new.py::test_new",
                                       "test_misuse.py::test_misuse")
    assert per_file == {"old_a_impl": 1, "old_b_impl": 2, "old_c_impl": 3, "new_leak_impl": 1,
                        "misuse_impl": 1}
    r = hpydbg("report", *map(str, files), cwd=project.path)
    assert r.returncode == 0
    assert r.stdout.splitlines()[0].startswith("hpydbg: 8 findings at 5 sites in ")
    assert site_counts(r.stdout) == {
        "old_c_impl": (3, "leak", C), "old_b_impl": (2, "leak", B), "old_a_impl": (1, "leak", A),
        "new_leak_impl": (1, "leak", NEW), "misuse_impl": (1, "use-after-close", MISUSE)}
    assert re.search(r"^      tests: test_new\.py::test_new$", r.stdout, re.M)

    (project.path / "base.toml").write_text(BASELINE)
    r = hpydbg("report", "--baseline", "base.toml", *map(str, files), cwd=project.path)
    assert r.returncode == 1
    assert site_counts(r.stdout) == {"new_leak_impl": (1, "leak", NEW),
                                     "misuse_impl": (1, "use-after-close", MISUSE)}
    # a baseline that covers everything: nothing new, status 0
    (project.path / "all.toml").write_text('[[suppress]]\nmodule = "oldleaks"\n')
    r = hpydbg("report", "--baseline", "all.toml", *map(str, files), cwd=project.path)
    assert r.returncode == 0, r.stdout
    assert r.stdout.splitlines()[0].startswith("hpydbg: 0 new findings at 0 sites")


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


PROBE = """<script>
(function () {
  function shown(el) { var b = el.getBoundingClientRect(); return b.width > 0 && b.height > 0; }
  var out = {rows: [], hits: [], notes: [], total: null};
  var t = document.getElementById("total"); if (t) out.total = t.innerText;
  document.querySelectorAll("tr.site").forEach(function (r) {
    if (shown(r)) out.rows.push(r.innerText.split("\\t").map(function (s) { return s.trim(); }));
  });
  document.querySelectorAll("tr.hit").forEach(function (r) {
    if (shown(r)) out.hits.push({id: r.id, text: r.innerText, bg: getComputedStyle(r).backgroundColor});
  });
  document.querySelectorAll("tr.note").forEach(function (r) {
    if (shown(r)) out.notes.push(r.innerText.trim());
  });
  var pre = document.createElement("pre"); pre.id = "probe";
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
})();
</script></body>"""


def rendered(page, tmp_path):
    """What headless chromium shows of ``page``: a copy with a probe script
    that reads the laid-out page (visible rows, their text and colour)."""
    probe = page.with_name("probe-" + page.name)
    probe.write_text(page.read_text().replace("</body>", PROBE))
    r = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                        f"--user-data-dir={tmp_path / 'chromium-profile'}",
                        "--dump-dom", probe.as_uri()],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="probe">(.*?)</pre>', r.stdout, re.S)
    assert m, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    import html
    return json.loads(html.unescape(m.group(1)))


@pytest.mark.skipif(chromium() is None, reason="no chromium here (.ci/run installs Debian's chromium)")
def test_html_report_renders_sites_and_annotated_source_in_chromium(tmp_path):
    log = tmp_path / "log-1.jsonl"
    site = lambda fn, line: {"function": fn, "file": str(OLDLEAKS_C), "line": line,  # noqa: E731
                             "object": "oldleaks.hpy0.so"}
    recs = [
        {"event": "leak", "class": "leak", "count": 2, "sample": "100", "type": "int",
         "site": site("old_b_impl", B), "pid": 1, "test": "test_old.py::test_b",
         "python": [{"file": "/p/test_old.py", "line": 7, "function": "test_b", "count": 2}],
         "opened_at": [{"function": "HPyLong_FromLong", "file": "/h/inline_helpers.h", "line": 146,
                        "object": "oldleaks.hpy0.so"}, site("old_b_impl", B)]},
        {"event": "leak", "class": "leak", "count": 3, "sample": "'<x>'", "site": site("old_c_impl", C),
         "pid": 2, "test": "test_old.py::test_c"},
        {"event": "misuse", "class": "use-after-close", "api": "HPy_Repr", "site": site("misuse_impl", MISUSE),
         "pid": 2, "count": 1, "test": "test_m.py::test_m"},
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = tmp_path / "html"
    r = subprocess.run([sys.executable, "-m", "hpydbg", "report", "--html", str(out), str(log)],
                       capture_output=True, text=True, timeout=120, env=clean_env())
    assert r.returncode == 0, r.stderr
    assert f"hpydbg: HTML report written to {out / 'index.html'}" in r.stdout

    index = rendered(out / "index.html", tmp_path)
    assert index["total"] == "6 findings at 3 sites"
    rel = f"{OLDLEAKS_C}"
    assert [row[:3] for row in index["rows"]] == [
        ["3", "leak", f"old_c_impl at {rel}:{C} (oldleaks.hpy0.so)"],
        ["2", "leak", f"old_b_impl at {rel}:{B} (oldleaks.hpy0.so)"],
        ["1", "use-after-close", f"misuse_impl at {rel}:{MISUSE} (oldleaks.hpy0.so)"],
    ]
    assert index["rows"][0][3] == "'<x>'"   # escaped in the file, shown as text
    assert index["rows"][1][4] == "/p/test_old.py:7 in test_b (2)"

    [page] = sorted(out.glob("src-*.html"))
    src = rendered(page, tmp_path)
    source = OLDLEAKS_C.read_text().splitlines()
    assert [h["id"] for h in src["hits"]] == [f"L{B}", f"L{C}", f"L{MISUSE}"]
    for h, (line, count) in zip(src["hits"], [(B, 2), (C, 3), (MISUSE, 1)]):
        cells = h["text"].split("\t")
        assert cells[0].strip() == str(line) and cells[1].strip() == str(count)
        assert cells[2].rstrip() == source[line - 1]
        assert h["bg"] == "rgb(255, 221, 221)"   # marked
    assert src["notes"][0].startswith("leak: 2 x in old_b_impl e.g. 100")
    assert "from Python: /p/test_old.py:7 in test_b (2)" in src["notes"][0]
    assert "tests: test_old.py::test_b" in src["notes"][0]
    assert src["notes"][2].startswith("use-after-close: 1 x in misuse_impl (HPy_Repr)")
