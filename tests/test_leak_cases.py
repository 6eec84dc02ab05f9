"""The leak-case corpus (``leak_cases/``): one planted bug per C extension,
plus clean controls.

For every case:

- ``test_case_is_well_formed``: the header follows leak_cases/README.md and
  names classes of docs/REPORTS.md;
- ``test_hpydbg``: run under ``HPY_DEBUG=1`` with a JSON log, on a ``-O0``
  and on an ``-O3`` build (real extensions ship optimised: HPy's API
  functions are inlined into the caller); a bug must produce a record of the
  expected class, ``api`` and ``site`` (file and marked line); a control
  must produce no record and exit 0;
- ``test_hpy_c_debug_mode``: run under HPy's own C debug mode
  (``HPYDBG=0 HPY=debug``; leak cases and controls inside
  ``hpy.debug.LeakDetector``) and check that HPy's mode does what the header
  says (``hpy: caught|crash|missed``).

When the whole corpus ran (all cases, both runs, in this pytest session; with
or without xdist), the results table in leak_cases/README.md (between
``<!-- TABLE START -->`` and ``<!-- TABLE END -->``) is rewritten.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES_DIR = ROOT / "leak_cases" / "cases"
CORPUS_README = ROOT / "leak_cases" / "README.md"
REPORTS_MD = ROOT / "docs" / "REPORTS.md"

TABLE_START = "<!-- TABLE START -->"
TABLE_END = "<!-- TABLE END -->"
MARKER = "/* EXPECT */"
# also matches at -O3: the trampoline's line when the faulty call is a tail call
MARKER_O3 = "/* EXPECT -O3 */"
HPY_OUTCOMES = ("caught", "crash", "missed")
# classes docs/REPORTS.md says are reported without stopping the process
WARNING_CLASSES = {"field-without-gc"}
RUN_TIMEOUT = 60
# exit status of the C-debug-mode run when hpydbg got enabled anyway
HPYDBG_STILL_ACTIVE = 97
ENV_DROP_PREFIXES = ("HPY",)   # HPY, HPY_LOG, HPY_DEBUG*, HPYDBG


# -- the corpus -------------------------------------------------------------

@dataclass
class Case:
    name: str
    path: Path
    classes: List[str]                 # [] for a control
    apis: List[Optional[str]]          # None stands for `none` (null api)
    call: str
    hpy: List[str]                     # what HPy's C debug mode does (alternatives)
    about: str
    lines: List[int]                   # lines marked /* EXPECT */
    o3_lines: List[int]                # lines marked /* EXPECT -O3 */
    errors: List[str] = field(default_factory=list)

    @property
    def is_control(self) -> bool:
        return not self.classes

    @property
    def is_leak(self) -> bool:
        return self.classes == ["leak"]


def _alternatives(value: str) -> List[str]:
    return [v.strip() for v in value.split("|") if v.strip()]


def parse_case(path: Path) -> Case:
    """Parse the ``/* leak-case ... */`` header (see leak_cases/README.md)."""
    text = path.read_text()
    errors: List[str] = []
    m = re.match(r"\s*/\*\s*leak-case\s*\n(.*?)\*/", text, re.S)
    fields: Dict[str, List[str]] = {}
    if m is None:
        errors.append("no `/* leak-case` header comment at the top of the file")
    else:
        for raw in m.group(1).splitlines():
            line = re.sub(r"^\s*\* ?", "", raw, count=1)
            if not line.strip():
                continue
            km = re.match(r"([a-z-]+):(?: (.*))?$", line)
            if km is None:
                errors.append(f"header line without `key:`: {raw.strip()!r}")
                continue
            fields.setdefault(km.group(1), []).append(km.group(2) or "")
    for key in ("class", "api", "call", "hpy", "about"):
        if key not in fields:
            errors.append(f"missing `{key}:`")
    for key in ("class", "api", "hpy", "about"):
        if len(fields.get(key, [])) > 1:
            errors.append(f"`{key}:` given more than once")
    cls = _alternatives(fields.get("class", [""])[0])
    classes = [] if cls == ["none"] else cls
    apis = [None if a == "none" else a for a in _alternatives(fields.get("api", [""])[0])]
    call = "\n".join(fields.get("call", []))
    lines = [i for i, l in enumerate(text.splitlines(), 1) if l.rstrip().endswith(MARKER)]
    o3_lines = [i for i, l in enumerate(text.splitlines(), 1) if l.rstrip().endswith(MARKER_O3)]
    return Case(name=path.stem, path=path, classes=classes, apis=apis, call=call,
                hpy=_alternatives(fields.get("hpy", [""])[0]), about=fields.get("about", [""])[0].strip(),
                lines=lines, o3_lines=o3_lines, errors=errors)


def documented_classes() -> List[str]:
    """The class names of the table in docs/REPORTS.md."""
    text = REPORTS_MD.read_text()
    section = text.split("## Error classes", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\|\s*`([a-z-]+)`\s*\|", section, re.M)


CASES = [parse_case(p) for p in sorted(CASES_DIR.glob("*.c"))]
# test_hpydbg runs every case on both builds; HPy's C debug mode runs -O0.
OPTS = ["-O0", "-O3"]
OPT_IDS = [o.lstrip("-") for o in OPTS]
BUGS = [c for c in CASES if not c.is_control]
CONTROLS = [c for c in CASES if c.is_control]
IDS = [c.name for c in CASES]


def test_corpus_size():
    assert len(BUGS) >= 25, f"only {len(BUGS)} bug cases"
    assert len(CONTROLS) >= 5, f"only {len(CONTROLS)} controls"


def test_corpus_covers_every_class_that_can_be_planted():
    covered = {cls for c in BUGS for cls in c.classes}
    missing = set(documented_classes()) - covered
    assert not missing, f"no case for {sorted(missing)}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_case_is_well_formed(case):
    assert not case.errors, case.errors
    known = documented_classes()
    for cls in case.classes:
        assert cls in known, f"{cls!r} is not a class of docs/REPORTS.md ({known})"
    assert case.apis, "`api:` is empty (write `none` for no API function)"
    assert case.hpy and set(case.hpy) <= set(HPY_OUTCOMES), f"`hpy:` must be one of {HPY_OUTCOMES}"
    assert case.call.strip(), "`call:` is empty"
    compile(case.call, f"<{case.name} call>", "exec")
    assert re.search(rf"HPy_MODINIT\(\s*{case.name}\s*,", case.path.read_text()), \
        "HPy_MODINIT must name the module after the file"
    if case.is_control:
        assert case.lines == [] and case.o3_lines == [], "a control has no /* EXPECT */ line"
        assert case.apis == [None]
    else:
        assert case.lines, "no line marked /* EXPECT */"


# -- building and running ---------------------------------------------------

@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """``built(case, opt)`` -> directory holding NAME.hpy0.so and NAME.py
    built with ``-g opt``; each (case, opt) is compiled once per pytest
    process (xdist workers build what they run, in their own directories)."""
    from hpydbg.build import build_extension

    cache: Dict[tuple, Path] = {}

    def get(case: Case, opt: str = "-O0") -> Path:
        key = (case.name, opt)
        if key not in cache:
            out = tmp_path_factory.mktemp(f"{case.name}{opt}")
            build_extension(case.name, [str(case.path)], str(out), opt=opt)
            cache[key] = out
        return cache[key]

    return get


def clean_env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_DROP_PREFIXES)}
    env.pop("PYTHONFAULTHANDLER", None)
    env.update(extra)
    return env


def run(code: str, cwd: Path, env: Dict[str, str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([sys.executable, "-c", code], cwd=str(cwd), env=env,
                              capture_output=True, text=True, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        # (the output of a timed-out run comes as bytes even with text=True)
        out, err = (x.decode(errors="replace") if isinstance(x, bytes) else (x or "") for x in (e.stdout, e.stderr))
        return subprocess.CompletedProcess(e.cmd, "timeout", out, err)


def tail(text: str, n: int = 25) -> str:
    lines = (text or "").splitlines()
    return "\n".join(lines[-n:])


def read_json_log(path: Path):
    """(records, malformed lines) of a JSON-lines log."""
    records, bad = [], []
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                bad.append(line)
                continue
            (records if isinstance(rec, dict) else bad).append(rec if isinstance(rec, dict) else line)
    return records, bad


def api_matches(rec: dict, case: Case) -> bool:
    api = rec.get("api")
    if api is not None:
        return api in case.apis
    if None in case.apis:
        return True
    if rec.get("class") == "leak":
        # leak records may name the opening function only through the
        # allocation stack (see leak_cases/README.md)
        names = {f.get("function") for f in rec.get("opened_at") or [] if isinstance(f, dict)}
        return any(a in names for a in case.apis)
    return False


def expected_lines(case: Case, opt: str) -> List[int]:
    return case.lines + (case.o3_lines if opt != "-O0" else [])


def site_matches(rec: dict, case: Case, opt: str = "-O0") -> bool:
    site = rec.get("site")
    if not isinstance(site, dict) or not site.get("file"):
        return False
    return Path(site["file"]).name == case.path.name and site.get("line") in expected_lines(case, opt)


def describe(rec: dict) -> str:
    site = rec.get("site") or {}
    where = f"{Path(site.get('file') or '?').name}:{site.get('line')}" if site else "no site"
    return f"class={rec.get('class')!r} api={rec.get('api')!r} site={where}"


HPYDBG_REPORT_TEXT = ("hpydbg:", "Invalid usage", "Wrong HPy Context", "Invalid read", "Invalid write",
                      "Invalid HPy API call")


def hpydbg_column(opt: str) -> str:
    return "hpydbg" if opt == "-O0" else f"hpydbg{opt}"


def skip_where_hpy_itself_crashes(case: Case, d: Path) -> None:
    """CPython 3.13: HPy 0.9.0 itself crashes on many programs that define
    HPy types, in every mode (README, "Python versions").  A case defining
    types is run first in universal mode, hpydbg off; if HPy kills the
    process there, the case says nothing about a debug mode: skipped (and the
    corpus table is left alone)."""
    if sys.version_info[:2] != (3, 13) or "HPyType_Spec" not in case.path.read_text():
        return
    r = run(f"import {case.name} as mod\n{case.call}\n", d, clean_env(HPYDBG="0"))
    if isinstance(r.returncode, int) and r.returncode < 0:
        pytest.skip(f"HPy 0.9.0 itself is killed by signal {-r.returncode} on this case on "
                    f"CPython 3.13 (universal mode, hpydbg off)")


@pytest.mark.parametrize("opt", OPTS, ids=OPT_IDS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_hpydbg(case, opt, built, tmp_path, results):
    column = hpydbg_column(opt)
    d = built(case, opt)
    skip_where_hpy_itself_crashes(case, d)
    log = tmp_path / "hpydbg.jsonl"
    env = clean_env(HPY_DEBUG="1", HPY_DEBUG_TRACES="16", HPY_DEBUG_LOG=str(log),
                    HPY_DEBUG_LOG_FORMAT="json")
    r = run(f"import {case.name} as mod\n{case.call}\n", d, env)
    records, bad = read_json_log(log)
    info = (f"exit status: {r.returncode}\nrecords:\n  " +
            "\n  ".join(describe(x) for x in records) + f"\nstderr (tail):\n{tail(r.stderr)}")
    results.record(case, column, "fail")
    assert not bad, f"malformed JSON lines in the log: {bad[:3]}\n{info}"
    for rec in records:
        # "repeat": the count of identical misuses reported once (docs/REPORTS.md)
        assert rec.get("event") in ("misuse", "leak", "repeat"), f"unknown event in {rec}"
        assert isinstance(rec.get("pid"), int), f"no pid in {rec}"
    if case.is_control:
        assert r.returncode == 0, f"control failed\n{info}"
        assert records == [], f"false report on a control\n{info}"
        # hpydbg's start-up notes ("hpydbg: CPython 3.13.0: ...") go to
        # stderr by design; reports must not
        stderr = "\n".join(line for line in r.stderr.splitlines() if not line.startswith("hpydbg: CPython "))
        leaked_text = [t for t in HPYDBG_REPORT_TEXT if t in stderr]
        assert not leaked_text, f"report text on stderr although HPY_DEBUG_LOG is set\n{info}"
        results.record(case, column, "pass")
        return
    assert r.returncode != "timeout", f"timed out\n{info}"
    of_class = [x for x in records if x.get("class") in case.classes]
    assert of_class, f"no {'/'.join(case.classes)} record\n{info}"
    with_api = [x for x in of_class if api_matches(x, case)]
    assert with_api, f"no {'/'.join(case.classes)} record with api in {case.apis}\n{info}"
    at_site = [x for x in with_api if site_matches(x, case, opt)]
    assert at_site, (f"no {'/'.join(case.classes)} record at {case.path.name}:"
                     f"{'|'.join(map(str, expected_lines(case, opt)))}\n{info}")
    if not case.is_leak and not set(case.classes) <= WARNING_CLASSES:
        # default policy `abort`: a misuse stops the process
        assert r.returncode != 0, f"the process went on after a misuse\n{info}"
    results.record(case, column, "pass")


# -- HPy's own C debug mode ---------------------------------------------------

GUARD = f"""\
import sys
_h = sys.modules.get("hpydbg")
if _h is not None and _h.is_enabled():
    sys.exit({HPYDBG_STILL_ACTIVE})
"""

EXPLICIT_LOAD = """\
import importlib.util, os, hpy.universal as _u
_so = os.path.abspath("{name}.hpy0.so")
mod = _u.load("{name}", _so, importlib.util.spec_from_file_location("{name}", _so), mode=_u.MODE_DEBUG)
"""

# HPy's debug mode reports through HPy_FatalError (Py_FatalError) or raises
# HPyLeakError from a LeakDetector.
# CPython's own fatal errors (signals, and its thread-state checks: 3.13's
# `_PyThreadState_Attach: non-NULL old thread state` on a second Reenter)
# are not HPy's debug mode catching anything.
HPY_REPORT_RE = re.compile(r"HPyLeakError|Error: Wrong HPy Context!|"
                           r"Fatal Python error: (?!Segmentation fault|Aborted|Bus error|"
                           r"_?PyThreadState_|PyEval_RestoreThread|take_gil|drop_gil)")


def hpy_program(case: Case, load: str) -> str:
    body = case.call
    if case.is_leak or case.is_control:
        body = "from hpy.debug import LeakDetector\nwith LeakDetector():\n" + \
            textwrap.indent(case.call, "    ")
    return load + body + "\n"


def classify_hpy(r: subprocess.CompletedProcess) -> str:
    if r.returncode == 0:
        return "missed"
    if HPY_REPORT_RE.search(r.stderr or ""):
        return "caught"
    if r.returncode == "timeout" or (isinstance(r.returncode, int) and r.returncode < 0):
        return "crash"
    return "missed"


def run_hpy_c_debug_mode(case: Case, d: Path):
    """Run ``case`` on HPy's C debug mode; returns (CompletedProcess, how)."""
    env = clean_env(HPYDBG="0", HPY="debug", HPY_LOG="1")
    r = run(GUARD + f"import {case.name} as mod\n" + hpy_program(case, "").lstrip(), d, env)
    if r.returncode != HPYDBG_STILL_ACTIVE:
        return r, "HPYDBG=0 HPY=debug"
    # The installed hpydbg predates HPYDBG=0: load explicitly in debug mode
    # with no HPY* variable set, which is HPy's C debug mode for sure.
    r = run(hpy_program(case, EXPLICIT_LOAD.format(name=case.name)), d, clean_env())
    return r, "explicit MODE_DEBUG load (installed hpydbg ignores HPYDBG=0)"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_hpy_c_debug_mode(case, built, results):
    d = built(case)
    skip_where_hpy_itself_crashes(case, d)
    r, how = run_hpy_c_debug_mode(case, d)
    outcome = classify_hpy(r)
    if sys.version_info[:2] == (3, 13) and outcome == "crash" and "crash" not in case.hpy:
        # (nested_leave, reenter_without_leave: HPy's C debug mode only)
        pytest.skip(f"HPy 0.9.0's C debug mode crashes on this case on CPython 3.13 "
                    f"(exit status {r.returncode}); hpydbg's run of it is test_hpydbg")
    results.record(case, "hpy", outcome)
    info = f"({how}) exit status: {r.returncode}\nstderr (tail):\n{tail(r.stderr)}"
    if how.startswith("HPYDBG=0"):
        assert f"Loading '{case.name}' in HPy universal mode with a debug context" in r.stdout, \
            f"not loaded in debug mode\nstdout: {r.stdout}\n{info}"
    if case.is_control:
        assert r.returncode == 0, f"control fails on HPy's C debug mode\n{info}"
    assert outcome in case.hpy, \
        f"HPy's C debug mode: observed {outcome!r}, the header says {case.hpy!r}\n{info}"


# -- the results table --------------------------------------------------------

class Results:
    """Per-test outcomes, one small JSON file each, in a directory shared by
    the xdist workers of this run; whoever finishes last writes the table."""

    def __init__(self, root: Path):
        self.dir = root / "leak-case-results"
        self.dir.mkdir(parents=True, exist_ok=True)

    def record(self, case: Case, column: str, value: str) -> None:
        (self.dir / f"{case.name}.{column}.json").write_text(json.dumps(value))

    def collect(self) -> Dict[str, Dict[str, str]]:
        out: Dict[str, Dict[str, str]] = {}
        for p in self.dir.glob("*.json"):
            name, column = p.stem.rsplit(".", 1)
            try:
                out.setdefault(name, {})[column] = json.loads(p.read_text())
            except ValueError:
                pass
        return out


def _shared_root(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


HPYDBG_CELL = {"pass": "yes", "fail": "**no**"}
HPY_CELL = {"caught": "yes", "crash": "crashes, no report", "missed": "no"}


def render_table(res: Dict[str, Dict[str, str]]) -> str:
    o3 = hpydbg_column("-O3")
    rows = ["| case | class | what | caught by hpydbg (-O0) | caught by hpydbg (-O3) | caught by HPy's C debug mode |",
            "|---|---|---|---|---|---|"]
    for c in BUGS + CONTROLS:
        got = res[c.name]
        link = f"[`{c.name}`](cases/{c.path.name})"
        if c.is_control:
            cls = "control"
            ours = "no report (clean)" if got["hpydbg"] == "pass" else "**false report or failure**"
            ours3 = "no report (clean)" if got[o3] == "pass" else "**false report or failure**"
            theirs = "no report (clean)" if got["hpy"] == "missed" else "**false report**"
        else:
            cls = " / ".join(f"`{x}`" for x in c.classes)
            ours = HPYDBG_CELL[got["hpydbg"]]
            ours3 = HPYDBG_CELL[got[o3]]
            theirs = HPY_CELL[got["hpy"]]
        rows.append(f"| {link} | {cls} | {c.about} | {ours} | {ours3} | {theirs} |")
    n_ours = sum(res[c.name]["hpydbg"] == "pass" for c in BUGS)
    n_ours3 = sum(res[c.name][o3] == "pass" for c in BUGS)
    n_theirs = sum(res[c.name]["hpy"] == "caught" for c in BUGS)
    rows.append("")
    rows.append(f"{len(BUGS)} bug cases: hpydbg reports {n_ours} as specified "
                f"(class, API, file and line) when built -O0, {n_ours3} when built -O3; "
                f"HPy's C debug mode reports {n_theirs}. "
                f"{len(CONTROLS)} controls.")
    return "\n".join(rows)


def write_table(res: Dict[str, Dict[str, str]]) -> bool:
    columns = {hpydbg_column(o) for o in OPTS} | {"hpy"}
    if any(not columns <= set(res.get(c.name, {})) for c in CASES):
        return False   # not the whole corpus: leave the table alone
    text = CORPUS_README.read_text()
    if TABLE_START not in text or TABLE_END not in text:
        return False
    head, rest = text.split(TABLE_START, 1)
    _, tail_ = rest.split(TABLE_END, 1)
    new = f"{head}{TABLE_START}\n{render_table(res)}\n{TABLE_END}{tail_}"
    if new != text:
        tmp = CORPUS_README.with_suffix(f".md.tmp{os.getpid()}")
        tmp.write_text(new)
        os.replace(tmp, CORPUS_README)
    return True


@pytest.fixture(scope="session")
def results(tmp_path_factory):
    res = Results(_shared_root(tmp_path_factory))
    yield res
    try:
        from filelock import FileLock
        lock = FileLock(str(res.dir / ".lock"))
    except ImportError:  # pragma: no cover - filelock is a test dependency
        import contextlib
        lock = contextlib.nullcontext()
    with lock:
        write_table(res.collect())
