"""Reports on real, optimised extensions (issue 11).

tests/ext/opt_c.c and tests/ext/opt_cpp.cpp are built ``-O3 -g`` as real
projects ship them: HPy's API functions (static inline trampolines) and small
static helpers are inlined, so one return address stands for several source
frames.  Each scenario runs in its own interpreter (debug mode is
process-wide) from a script file, so that the Python location of a report
(the script line that called into the extension) is known.

The report format these tests hold hpydbg to (docs/REPORTS.md):

- ``site`` is the first frame, inlined or not, that is the extension's own
  code; when that frame was inlined, ``site.inlined_into`` is the frame it
  was inlined into (``{"function", "file", "line", ...}``).  Text:
  ``F at FILE:LINE (OBJ), inlined into G at FILE:LINE2``.
- C++ names are demangled: ``geo::Path::area`` (a parameter list after the
  name is accepted).
- Reports made when an extension function returns name it:
  ``"function": {"name": "reset_impl", "kind": "method"}``.
- Every misuse and leak record carries ``"python": {"file", "line",
  "function"}``: the script line that called into the extension (for an
  import, the ``import`` statement, not importlib's or HPy's stub's frames).
- Under ``log``, identical misuses (same class, API function and site) are
  reported in full once; records for them carry ``"count"``, and a
  ``{"event": "repeat", ..., "count": N}`` record (or the highest count)
  gives the total.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

from conftest import TESTS, marker_line

OPT_C = TESTS / "ext" / "opt_c.c"
OPT_CPP = TESTS / "ext" / "opt_cpp.cpp"
RUN_TIMEOUT = 60
# 10,000 identical misuses: with de-duplication this takes milliseconds;
# without it (a full report each) far longer than any CI allows.
REPEAT_TIMEOUT = 30
REPEATS = 10_000


def c_line(marker: str) -> int:
    return marker_line(OPT_C, f"SITE:{marker}")


def cpp_line(marker: str) -> int:
    return marker_line(OPT_CPP, f"SITE:{marker}")


# -- building -------------------------------------------------------------

@pytest.fixture(scope="session")
def opt_c_dir(tmp_path_factory):
    from hpydbg.build import build_extension

    out = tmp_path_factory.mktemp("opt_c")
    build_extension("opt_c", [str(OPT_C)], str(out), opt="-O3")
    return out


@pytest.fixture(scope="session")
def opt_cpp_dir(tmp_path_factory):
    from hpydbg.build import build_extension

    out = tmp_path_factory.mktemp("opt_cpp")
    build_extension("opt_cpp", [str(OPT_CPP)], str(out), opt="-O3")
    return out


def _tool(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def call_sites(so: str, source: Path) -> set:
    """``(function, line, outer_function, outer_line)``: the first frame in
    ``source`` of every call instruction's return address - 1, inlined
    frames included (binutils' addr2line -i), and the frame it was inlined
    into (None, None if it was not): what an inline-aware symboliser must
    find."""
    dis = _tool("objdump", "-d", "--no-show-raw-insn", so).splitlines()
    addrs = []
    for i, line in enumerate(dis):
        if re.match(r"\s*[0-9a-f]+:\s+call\s", line):
            nxt = next((x for x in dis[i + 1:] if re.match(r"\s*[0-9a-f]+:", x)), None)
            if nxt is not None:
                addrs.append(hex(int(nxt.split(":")[0], 16) - 1))
    sites = set()
    # "-a" starts each address's block with the address itself
    out = _tool("addr2line", "-a", "-f", "-i", "-C", "-e", so, *addrs).splitlines()
    frames: List[Tuple[str, str]] = []
    for line in out + ["0x"]:
        if line.startswith("0x"):
            own = [(fn.split("(")[0], _lineno(loc)) for fn, loc in frames if loc.rsplit(":", 1)[0] == str(source)]
            if own:
                sites.add(own[0] + (own[1] if len(own) > 1 else (None, None)))
            frames = []
        elif frames and frames[-1][1] is None:
            frames[-1] = (frames[-1][0], line)
        else:
            frames.append((line, None))
    return sites


def _lineno(loc: str) -> Optional[int]:
    m = re.match(r"\d+", loc.rsplit(":", 1)[1])
    return int(m.group()) if m else None


def test_built_O3_with_the_helpers_inlined(opt_c_dir, opt_cpp_dir):
    # If the compiler stopped inlining these helpers, the tests below would
    # no longer test inlined frames: say so here.
    c_so, cpp_so = str(opt_c_dir / "opt_c.hpy0.so"), str(opt_cpp_dir / "opt_cpp.hpy0.so")
    c_syms = set(re.findall(r"^\S*\s+\w\s+(\S+)$", _tool("nm", c_so), re.M))
    assert {"make_label_impl", "render_impl", "opt_c_exec_impl"} <= c_syms
    assert "format_label" not in c_syms and "on_glyph" not in c_syms
    cpp_syms = _tool("nm", "-C", cpp_so)
    assert "geo::Path::area(" in cpp_syms
    assert "item_value" not in cpp_syms
    c_info, cpp_info = _tool("readelf", "--debug-dump=info", c_so), _tool("readelf", "--debug-dump=info", cpp_so)
    for info, lang in ((c_info, "C"), (cpp_info, "C++17")):
        producer = next(l for l in info.splitlines() if "DW_AT_producer" in l and "GNU " in l)
        assert f"GNU {lang} " in producer or (lang == "C" and re.search(r"GNU C\d", producer)), producer
        # the last -O flag wins (Python's CFLAGS bring one of their own)
        assert re.findall(r" (-O\w*)", producer)[-1] == "-O3", producer
    assert "-std=c++17" in next(l for l in cpp_info.splitlines() if "DW_AT_producer" in l and "GNU " in l)
    # the helpers exist in the debug information as inlined subroutines
    assert "DW_TAG_inlined_subroutine" in c_info and "DW_TAG_inlined_subroutine" in cpp_info
    # Every marked API call is a real call (not a tail call, which leaves no
    # frame of the caller), and its first own frame is the one the tests
    # expect: the sites below are recoverable from a return address.
    c_sites = call_sites(c_so, OPT_C)
    for want in [("format_label", c_line("HELPER_LEAK"), "make_label_impl", c_line("HELPER_CALL")),
                 ("close_loop_impl", c_line("REPEAT"), None, None),
                 ("on_glyph", c_line("STALE_CTX"), "render_impl", c_line("STALE_CALL")),
                 ("opt_c_exec_impl", c_line("INIT_DOUBLE_CLOSE"), None, None),
                 ("ImagingObject_AsStruct", marker_line(OPT_C, "HPyType_LEGACY_HELPERS"),
                  "blend_impl", c_line("ASSTRUCT_NULL"))]:
        assert want in c_sites, (want, sorted(c_sites))
    cpp_sites = call_sites(cpp_so, OPT_CPP)
    for want in [("geo::Path::area", cpp_line("CPP_LEAK"), None, None),
                 ("geo::Path::item_value", cpp_line("CPP_HELPER_LEAK"), "geo::Path::first", cpp_line("CPP_HELPER_CALL"))]:
        assert want in cpp_sites, (want, sorted(cpp_sites))


def test_hybrid_abi_extension_runs_on_hpydbg(tmp_path):
    from hpydbg.build import build_extension

    so = build_extension("probe", [str(TESTS / "ext" / "probe.c")], str(tmp_path), abi="hybrid", opt="-O3")
    assert so.endswith(f".hpy0-cp{sys.version_info[0]}{sys.version_info[1]}.so"), so
    r = _run([sys.executable, "-c", "import probe; print(probe.ctx_name())"], tmp_path, _env(policy=None))
    assert r.returncode == 0, r.stderr
    assert "hpydbg" in r.stdout, r.stdout


# -- running a scenario -----------------------------------------------------

SCRIPT = """\
import json, sys
sys.path[:0] = {dirs!r}
{imports}


def scenario():
{body}


scenario()
"""


@dataclass
class Run:
    proc: subprocess.CompletedProcess
    records: List[dict]
    script: Path

    def py_line(self, marker: str) -> int:
        return marker_line(self.script, f"# PY:{marker}")

    @property
    def info(self) -> str:
        recs = "\n  ".join(json.dumps(r)[:600] for r in self.records[:12])
        more = f"\n  ... {len(self.records) - 12} more" if len(self.records) > 12 else ""
        err = "\n".join((self.proc.stderr or "").splitlines()[-40:])
        return (f"exit status: {self.proc.returncode}\nstdout: {self.proc.stdout[-800:]!r}\n"
                f"records:\n  {recs}{more}\nstderr (tail):\n{err}")


def _env(policy: Optional[str] = "log", traces: bool = True, debug: bool = True, **extra: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPY")}
    env.pop("PYTHONFAULTHANDLER", None)
    env.pop("OPT_C_INIT_BUG", None)
    if debug:
        env["HPY_DEBUG"] = "1"
        if traces:
            env["HPY_DEBUG_TRACES"] = "16"
        if policy:
            env["HPY_DEBUG_POLICY"] = policy
    env.update(extra)
    return env


def _run(argv, cwd, env, timeout=RUN_TIMEOUT) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, cwd=str(cwd), env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        return subprocess.CompletedProcess(argv, f"timeout after {timeout} s", out, err)


def run_scenario(tmp_path: Path, dirs, body: str, *, imports: str, json_log: bool = True,
                 name: str = "scenario", timeout: int = RUN_TIMEOUT, **env_kw) -> Run:
    """Run ``body`` as the body of ``scenario()`` in a script file, with the
    build directories ``dirs`` on sys.path; JSON log unless ``json_log`` is
    false (then reports go to stderr as text)."""
    script = tmp_path / f"{name}.py"
    script.write_text(SCRIPT.format(dirs=[str(d) for d in dirs], imports=imports,
                                    body=textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")))
    env = _env(**env_kw)
    log = tmp_path / f"{name}.jsonl"
    if json_log:
        env.update(HPY_DEBUG_LOG=str(log), HPY_DEBUG_LOG_FORMAT="json")
    proc = _run([sys.executable, str(script)], tmp_path, env, timeout)
    records = []
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            if line.strip():
                records.append(json.loads(line))
    return Run(proc, records, script)


def run_c(tmp_path, opt_c_dir, body, **kw) -> Run:
    kw.setdefault("imports", "import opt_c")
    return run_scenario(tmp_path, [opt_c_dir], body, **kw)


def run_cpp(tmp_path, opt_cpp_dir, body, **kw) -> Run:
    kw.setdefault("imports", "import opt_cpp")
    return run_scenario(tmp_path, [opt_cpp_dir], body, **kw)


# -- what a report must say ------------------------------------------------

def named(frame: Optional[dict], name: str) -> bool:
    """``frame`` names function ``name`` (a C++ parameter list may follow)."""
    f = (frame or {}).get("function") or ""
    return f == name or f.startswith(name + "(")


def check_frame(frame, function: str, path: Path, line: int, what: str, run: Run) -> None:
    assert isinstance(frame, dict), f"{what}: no frame ({frame!r})\n{run.info}"
    assert named(frame, function), f"{what}: function {frame.get('function')!r}, expected {function!r}\n{run.info}"
    assert frame.get("file") and Path(frame["file"]).resolve() == path.resolve(), \
        f"{what}: file {frame.get('file')!r}, expected {path}\n{run.info}"
    assert frame.get("line") == line, f"{what}: line {frame.get('line')!r}, expected {line}\n{run.info}"


def check_site(rec: dict, run: Run, function: str, path: Path, line: int, obj: str,
               inlined_into: Optional[Tuple[str, int]] = None) -> None:
    site = rec.get("site")
    check_frame(site, function, path, line, "site", run)
    assert site.get("object") == obj, f"site object {site.get('object')!r}\n{run.info}"
    if inlined_into is not None:
        check_frame(site.get("inlined_into"), inlined_into[0], path, inlined_into[1], "site.inlined_into", run)


def check_python(rec: dict, run: Run, marker: str, function: str = "scenario") -> None:
    py = rec.get("python")
    assert isinstance(py, dict), f"no python location in {json.dumps(rec)[:400]}\n{run.info}"
    assert py.get("file") and Path(py["file"]).resolve() == run.script.resolve(), \
        f"python.file {py.get('file')!r}, expected {run.script}\n{run.info}"
    assert (py.get("line"), py.get("function")) == (run.py_line(marker), function), \
        f"python location {py!r}, expected line {run.py_line(marker)} in {function}\n{run.info}"


def of(run: Run, event: str, cls: str, api=...) -> List[dict]:
    return [r for r in run.records if r.get("event") == event and r.get("class") == cls
            and (api is ... or r.get("api") == api)]


def leak_at(run: Run, line: int, path: Path) -> dict:
    """The leak record whose site is ``path:line``."""
    leaks = [r for r in run.records if r.get("event") == "leak"]
    assert leaks, f"no leak record\n{run.info}"
    hits = [r for r in leaks if (r.get("site") or {}).get("line") == line
            and Path((r.get("site") or {}).get("file") or "?").name == path.name]
    assert len(hits) == 1, f"{len(hits)} leak records at {path.name}:{line}\n{run.info}"
    return hits[0]


def text_report(stderr: str, cls: str) -> str:
    """The first text report of class ``cls`` on stderr: from HPy's first
    line to ``what to do:``."""
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("hpydbg: ") and line.endswith(f"[{cls}]"):
            end = next((j for j in range(i, len(lines)) if lines[j].startswith("  what to do:")), len(lines) - 1)
            return "\n".join(lines[max(i - 1, 0):end + 1])
    raise AssertionError(f"no [{cls}] report on stderr:\n{stderr[-3000:]}")


# -- a leak in a static helper inlined into its caller ------------------------

LEAK_BODY = """
s = opt_c.make_label(41)   # PY:LEAK
assert s == "42", s
"""


def test_leak_in_inlined_helper_is_reported_at_the_helper(tmp_path, opt_c_dir):
    run = run_c(tmp_path, opt_c_dir, LEAK_BODY)
    assert run.proc.returncode == 0, run.info
    rec = leak_at(run, c_line("HELPER_LEAK"), OPT_C)
    assert rec["count"] == 1, run.info
    check_site(rec, run, "format_label", OPT_C, c_line("HELPER_LEAK"), "opt_c.hpy0.so",
               inlined_into=("make_label_impl", c_line("HELPER_CALL")))
    check_python(rec, run, "LEAK")


def test_leak_in_inlined_helper_text_and_allocation_site(tmp_path, opt_c_dir):
    body = LEAK_BODY + """
import hpydbg
sites = [h.allocation_site for h in hpydbg.open_handles() if type(h.obj) is int and h.obj == 42]
print(json.dumps(sites))
"""
    run = run_c(tmp_path, opt_c_dir, body, json_log=False)
    assert run.proc.returncode == 0, run.info
    line, call = c_line("HELPER_LEAK"), c_line("HELPER_CALL")
    sites = json.loads(run.proc.stdout.strip().splitlines()[-1])
    assert len(sites) == 1, run.info
    assert sites[0] is not None and re.match(rf"format_label at \S*/opt_c\.c:{line} ", sites[0]), \
        f"allocation_site {sites[0]!r}, expected 'format_label at .../opt_c.c:{line} ...'\n{run.info}"
    want = (rf"^  1 x opened at format_label at \S*/opt_c\.c:{line} \(opt_c\.hpy0\.so\), "
            rf"inlined into make_label_impl at \S*/opt_c\.c:{call}(?!\d)")
    assert re.search(want, run.proc.stderr, re.M), f"no line matching {want!r}\n{run.info}"


# -- C++: a method of a class in a namespace, and an inline member helper -----

CPP_BODY = """
assert opt_cpp.area([1.0, 2.0, 3.5]) == 6.5   # PY:AREA
assert opt_cpp.first([4.0, 1.0]) == 4.0   # PY:FIRST
"""


def test_cpp_leak_names_the_demangled_method(tmp_path, opt_cpp_dir):
    run = run_cpp(tmp_path, opt_cpp_dir, CPP_BODY)
    assert run.proc.returncode == 0, run.info
    area = leak_at(run, cpp_line("CPP_LEAK"), OPT_CPP)
    assert area["count"] == 3, run.info
    check_site(area, run, "geo::Path::area", OPT_CPP, cpp_line("CPP_LEAK"), "opt_cpp.hpy0.so")
    check_python(area, run, "AREA")
    helper = leak_at(run, cpp_line("CPP_HELPER_LEAK"), OPT_CPP)
    assert helper["count"] == 1, run.info
    check_site(helper, run, "geo::Path::item_value", OPT_CPP, cpp_line("CPP_HELPER_LEAK"), "opt_cpp.hpy0.so",
               inlined_into=("geo::Path::first", cpp_line("CPP_HELPER_CALL")))
    check_python(helper, run, "FIRST")


def test_cpp_leak_text_names_the_demangled_method(tmp_path, opt_cpp_dir):
    run = run_cpp(tmp_path, opt_cpp_dir, CPP_BODY, json_log=False)
    assert run.proc.returncode == 0, run.info
    line, hline, call = cpp_line("CPP_LEAK"), cpp_line("CPP_HELPER_LEAK"), cpp_line("CPP_HELPER_CALL")
    params = r"(?:\([^)]*\))?"
    want = rf"^  3 x opened at geo::Path::area{params} at \S*/opt_cpp\.cpp:{line} \(opt_cpp\.hpy0\.so\)"
    assert re.search(want, run.proc.stderr, re.M), f"no line matching {want!r}\n{run.info}"
    want = (rf"^  1 x opened at geo::Path::item_value{params} at \S*/opt_cpp\.cpp:{hline} \(opt_cpp\.hpy0\.so\), "
            rf"inlined into geo::Path::first{params} at \S*/opt_cpp\.cpp:{call}(?!\d)")
    assert re.search(want, run.proc.stderr, re.M), f"no line matching {want!r}\n{run.info}"


# -- reports made when a function returns ----------------------------------

def test_return_of_h_None_without_dup_names_the_function(tmp_path, opt_c_dir):
    body = """
assert opt_c.reset() is None   # PY:RESET
"""
    run = run_c(tmp_path, opt_c_dir, body)
    assert run.proc.returncode == 0, run.info
    recs = of(run, "misuse", "return-constant", None)
    assert len(recs) == 1, run.info
    fn = recs[0].get("function")
    assert isinstance(fn, dict) and (fn.get("name"), fn.get("kind")) == ("reset_impl", "method"), \
        f"function {fn!r}\n{run.info}"
    check_python(recs[0], run, "RESET")
    text = run_c(tmp_path, opt_c_dir, body, json_log=False, name="text")
    assert text.proc.returncode == 0, text.info
    report = text_report(text.proc.stderr, "return-constant")
    detail = next(l for l in report.splitlines() if l.endswith("[return-constant]"))
    assert "ctx->h_None" in detail, f"the report does not name ctx->h_None:\n{report}"
    assert "reset_impl" in report, f"the report does not name reset_impl:\n{report}"


def test_return_of_an_argument_without_dup_names_the_function(tmp_path, opt_c_dir):
    body = """
assert opt_c.passthrough(5) == 5   # PY:PASS
"""
    run = run_c(tmp_path, opt_c_dir, body)
    assert run.proc.returncode == 0, run.info
    recs = of(run, "misuse", "return-closed", None)
    assert len(recs) == 1, run.info
    fn = recs[0].get("function")
    assert isinstance(fn, dict) and (fn.get("name"), fn.get("kind")) == ("passthrough_impl", "method"), \
        f"function {fn!r}\n{run.info}"
    check_python(recs[0], run, "PASS")


# -- 10,000 identical misuses under `log` ------------------------------------

REPEAT_BODY = f"""
assert opt_c.close_loop({REPEATS}, 1) == {REPEATS}   # PY:REPEAT
"""


def test_repeated_misuse_is_reported_once_with_a_count(tmp_path, opt_c_dir):
    run = run_c(tmp_path, opt_c_dir, REPEAT_BODY, timeout=REPEAT_TIMEOUT)
    assert run.proc.returncode == 0, run.info
    line = c_line("REPEAT")
    recs = [r for r in run.records if r.get("class") == "double-close" and r.get("api") == "HPy_Close"]
    assert recs, run.info
    misuses = [r for r in recs if r.get("event") == "misuse"]
    assert 1 <= len(misuses) <= 20, f"{len(misuses)} misuse records for one repeated misuse\n{run.info}"
    assert {r.get("event") for r in recs} <= {"misuse", "repeat"}, run.info
    for r in recs:
        check_site(r, run, "close_loop_impl", OPT_C, line, "opt_c.hpy0.so")
        assert isinstance(r.get("count"), int) and r["count"] >= 1, f"no count in {json.dumps(r)[:400]}\n{run.info}"
    assert max(r["count"] for r in recs) == REPEATS, run.info
    check_python(misuses[0], run, "REPEAT")


def test_repeated_misuse_text_shows_the_report_once(tmp_path, opt_c_dir):
    run = run_c(tmp_path, opt_c_dir, REPEAT_BODY, json_log=False, timeout=REPEAT_TIMEOUT)
    assert run.proc.returncode == 0, run.info
    err = run.proc.stderr
    n = len(re.findall(r"^hpydbg: .*\[double-close\]$", err, re.M))
    assert n == 1, f"the full report is on stderr {n} times\n{run.info}"
    assert len(re.findall(r"^  what to do: close each handle exactly once$", err, re.M)) == 1, run.info
    assert re.search(r"(?<![\d,])10,?000(?![\d,])", err), f"no count of {REPEATS} on stderr\n{run.info}"


def test_repeated_misuse_costs_little_more_than_the_loop(tmp_path, opt_c_dir):
    # The loop with a correct HPy_Dup/HPy_Close pair per item is the
    # baseline; the one full report (and loading debug information) happens
    # in the warm-up call.  A sanity bound, not a benchmark: best of 5, and
    # a 1 ms floor so that timer noise on a loaded machine cannot fail it.
    body = f"""
import time
opt_c.close_loop(1, 1)

def best(misuse):
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        opt_c.close_loop({REPEATS}, misuse)
        times.append(time.perf_counter() - t0)
    return min(times)

print(json.dumps({{"clean": best(0), "misuse": best(1)}}))
"""
    run = run_c(tmp_path, opt_c_dir, body, traces=False, timeout=REPEAT_TIMEOUT)
    assert run.proc.returncode == 0, run.info
    t = json.loads(run.proc.stdout.strip().splitlines()[-1])
    assert t["misuse"] < 5 * max(t["clean"], 1e-3), \
        f"{REPEATS} repeated misuses took {t['misuse'] * 1e3:.2f} ms, the clean loop {t['clean'] * 1e3:.2f} ms"


# -- _HPy_AsStruct_Legacy(ctx, HPy_NULL): an absent optional argument --------

def test_asstruct_legacy_of_null_goes_on_as_universal_mode(tmp_path, opt_c_dir):
    body = """
print(opt_c.blend(opt_c.Image(3)))   # PY:BLEND
print(opt_c.blend(opt_c.Image(3), opt_c.Image(2)))
"""
    universal = run_c(tmp_path, opt_c_dir, body, debug=False, name="universal")
    assert universal.proc.returncode == 0, universal.info
    assert universal.proc.stdout.split() == ["3", "6"], universal.info
    run = run_c(tmp_path, opt_c_dir, body)
    # same result, no exception left pending (it would be a SystemError)
    assert (run.proc.returncode, run.proc.stdout) == (0, universal.proc.stdout), run.info
    for r in run.records:
        # a report is allowed, but it must be about this call and go on
        assert (r.get("class"), r.get("api")) == ("null-handle", "_HPy_AsStruct_Legacy"), run.info
        # ImagingObject_AsStruct, made by HPyType_LEGACY_HELPERS (opt_c.c's
        # line of that macro), is inlined between the API call and blend_impl:
        # the site may be that helper, inlined into blend_impl's line.
        site = r.get("site") or {}
        frame = site.get("inlined_into") if named(site, "ImagingObject_AsStruct") else site
        check_frame(frame, "blend_impl", OPT_C, c_line("ASSTRUCT_NULL"), "site (or the frame it was inlined into)", run)
        check_python(r, run, "BLEND")


# -- a double close in the module's exec slot (at import) --------------------

IMPORT_BODY = """
import opt_c   # PY:IMPORT
assert opt_c.__version__ == "1.0"
"""


def test_double_close_at_import_is_reported_in_the_exec_function(tmp_path, opt_c_dir):
    run = run_c(tmp_path, opt_c_dir, IMPORT_BODY, imports="", OPT_C_INIT_BUG="1")
    assert run.proc.returncode == 0, run.info
    recs = of(run, "misuse", "double-close", "HPy_Close")
    assert len(recs) == 1, run.info
    check_site(recs[0], run, "opt_c_exec_impl", OPT_C, c_line("INIT_DOUBLE_CLOSE"), "opt_c.hpy0.so")
    check_python(recs[0], run, "IMPORT")


def test_double_close_at_import_stops_with_the_site_by_default(tmp_path, opt_c_dir):
    run = run_c(tmp_path, opt_c_dir, IMPORT_BODY, imports="", json_log=False, policy=None, OPT_C_INIT_BUG="1")
    assert run.proc.returncode != 0, run.info
    report = text_report(run.proc.stderr, "double-close")
    want = rf"^  at: opt_c_exec_impl at \S*/opt_c\.c:{c_line('INIT_DOUBLE_CLOSE')} \(opt_c\.hpy0\.so\)"
    assert re.search(want, report, re.M), f"no line matching {want!r} in\n{report}"


# -- a stale context in an inlined callback ----------------------------------

def test_stale_context_in_inlined_callback(tmp_path, opt_c_dir):
    body = """
opt_c.load_face()
print(opt_c.render(65))   # PY:RENDER
"""
    run = run_c(tmp_path, opt_c_dir, body)
    # under `log` the call goes on, as in universal mode (one context there)
    assert (run.proc.returncode, run.proc.stdout.strip()) == (0, "1"), run.info
    recs = of(run, "misuse", "wrong-context", "HPyLong_FromInt64_t")
    assert len(recs) == 1, run.info
    check_site(recs[0], run, "on_glyph", OPT_C, c_line("STALE_CTX"), "opt_c.hpy0.so",
               inlined_into=("render_impl", c_line("STALE_CALL")))
    check_python(recs[0], run, "RENDER")


# -- every report carries a Python location ----------------------------------

def test_every_report_and_leak_group_has_a_python_location(tmp_path, opt_c_dir, opt_cpp_dir):
    body = """
import opt_c, opt_cpp   # PY:IMPORT
opt_c.make_label(41)   # PY:LEAK
opt_cpp.area([1.0, 2.0])   # PY:AREA
opt_c.reset()   # PY:RESET
opt_c.passthrough(5)   # PY:PASS
opt_c.close_loop(3, 1)   # PY:REPEAT
try:
    opt_c.blend(opt_c.Image(3))   # PY:BLEND
except SystemError:
    pass   # test_asstruct_legacy_of_null_goes_on_as_universal_mode's business
opt_c.load_face()   # PY:FACE
opt_c.render(65)   # PY:RENDER
"""
    run = run_scenario(tmp_path, [opt_c_dir, opt_cpp_dir], body, imports="", OPT_C_INIT_BUG="1")
    assert run.proc.returncode == 0, run.info
    events = {r.get("event") for r in run.records}
    assert {"leak", "misuse"} <= events, run.info
    lines = {run.py_line(m) for m in ("IMPORT", "LEAK", "AREA", "RESET", "PASS", "REPEAT", "BLEND", "FACE", "RENDER")}
    for r in run.records:
        py = r.get("python")
        assert isinstance(py, dict), f"no python location in {json.dumps(r)[:400]}\n{run.info}"
        assert Path(py.get("file") or "?").resolve() == run.script.resolve(), run.info
        assert py.get("function") == "scenario" and py.get("line") in lines, f"python {py!r}\n{run.info}"
