"""Leak summary records: text and JSON lines (HPY_DEBUG_LOG_FORMAT=json),
to stderr or HPY_DEBUG_LOG; JSON validated against docs/REPORTS.md."""
import json

import jsonschema
import pytest

from conftest import leakext_line
from test_runner import hpydbg_run, workdir  # noqa: F401 - fixture

LEAK_LINE = leakext_line("LEAK")

FRAME = {
    "type": "object",
    "required": ["function", "file", "line", "object"],
    "properties": {
        "function": {"type": ["string", "null"]},
        "file": {"type": ["string", "null"]},
        "line": {"type": ["integer", "null"], "minimum": 1},
        "object": {"type": "string"},
    },
}

LEAK_RECORD = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["event", "class", "count", "sample", "site", "pid"],
    "properties": {
        "event": {"const": "leak"},
        "class": {"const": "leak"},
        "count": {"type": "integer", "minimum": 1},
        "sample": {"type": "string"},
        "site": {"oneOf": [{"type": "null"}, FRAME]},
        "opened_at": {"type": "array", "items": FRAME, "minItems": 1},
        "pid": {"type": "integer"},
    },
}


def records(text):
    out = []
    for line in text.splitlines():
        rec = json.loads(line)
        jsonschema.validate(rec, LEAK_RECORD)
        out.append(rec)
    return out


def test_json_lines_on_stderr_match_the_schema(workdir):  # noqa: F811
    r = hpydbg_run(["leaky.py"], workdir, HPY_DEBUG_LOG_FORMAT="json")
    assert r.returncode == 0, r.stderr
    [rec] = records(r.stderr)
    assert rec["count"] == 3 and rec["sample"] == "'item0'"
    assert rec["site"]["function"] == "leak_impl" and rec["site"]["line"] == LEAK_LINE
    assert rec["site"]["file"].endswith("leakext.c") and rec["site"]["object"] == "leakext.hpy0.so"
    assert any(f["function"] == "leak_impl" for f in rec["opened_at"])


def test_json_without_traces_still_has_the_site(workdir):  # noqa: F811
    # No per-handle stack traces: the site table still knows where.
    r = hpydbg_run(["--traces", "0", "leaky.py"], workdir, HPY_DEBUG_LOG_FORMAT="json")
    [rec] = records(r.stderr)
    assert rec["site"]["function"] == "leak_impl" and rec["site"]["line"] == LEAK_LINE


def test_json_with_sites_off_has_null_site_and_no_stack(workdir):  # noqa: F811
    r = hpydbg_run(["--traces", "0", "leaky.py"], workdir, HPY_DEBUG_LOG_FORMAT="json", HPY_DEBUG_SITES="0")
    [rec] = records(r.stderr)
    assert rec["site"] is None and "opened_at" not in rec


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_log_file_is_appended_to(workdir, tmp_path, fmt):  # noqa: F811
    log = tmp_path / "hpydbg.log"
    log.write_text("" if fmt == "json" else "earlier line\n")
    r = hpydbg_run(["leaky.py"], workdir, HPY_DEBUG_LOG=str(log), HPY_DEBUG_LOG_FORMAT=fmt)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    text = log.read_text()
    if fmt == "json":
        [rec] = records(text)
        assert rec["count"] == 3
    else:
        assert text.startswith("earlier line\nhpydbg: 3 leaked handles")


def test_exit_summary_under_HPY_DEBUG_uses_the_log_settings(workdir):  # noqa: F811
    import os
    import subprocess
    import sys

    env = dict(os.environ, HPY_DEBUG="1", HPY_DEBUG_TRACES="16", HPY_DEBUG_LOG_FORMAT="json")
    env.pop("HPY_DEBUG_LOG", None)
    r = subprocess.run([sys.executable, "leaky.py"], cwd=str(workdir), env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    [rec] = records(r.stderr)
    assert rec["site"]["line"] == LEAK_LINE


def test_schema_rejects_a_malformed_record():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"event": "leak", "class": "leak", "count": 0, "sample": "x",
                             "site": None, "pid": 1}, LEAK_RECORD)
