"""Suppression files: known leaks and misuses that must not fail a run.

A suppression file is TOML (format in docs/REPORTS.md, "Suppressions and
baselines"): a list of ``[[suppress]]`` tables whose keys are glob patterns
matched against a *finding*, the common shape of a leak group and of a
misuse report::

    {"class": "leak", "count": 3, "site": {"function", "file", "line", "object"},
     "python": [{"file", "line", "function", "count"}, ...], "type": "str",
     "test": "test_x.py::test_y" or None}

``load(path)`` reads and checks a file (``SuppressionError`` names the line
of the problem); ``Suppressions.apply(finding)`` says how much of a finding
an entry covers and counts the use; ``write_baseline(findings, path)``
writes a file that covers every finding given.
"""
from __future__ import annotations

import fnmatch
import os
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

try:
    import tomllib
except ImportError:  # pragma: no cover - Python < 3.11
    tomllib = None  # type: ignore[assignment]

Finding = Dict[str, Any]

# Keys matched against a finding (all given keys must match).
MATCH_KEYS = ("class", "function", "caller", "file", "at", "module", "python", "type")
# Keys that do not take part in matching.
OTHER_KEYS = ("max", "comment", "lines", "seen")


class SuppressionError(ValueError):
    """A suppression file that cannot be used; the message starts with
    ``FILE:LINE:``."""

    def __init__(self, path: str, line: Optional[int], message: str) -> None:
        self.path, self.line = path, line
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}")


def _glob(pattern: str, value: Optional[str]) -> bool:
    return value is not None and fnmatch.fnmatchcase(value, pattern)


_GLOB_CHARS = re.compile(r"([\[\]*?])")


def glob_escape(value: str) -> str:
    """``value`` as a glob that matches exactly it: ``[``, ``]``, ``*`` and
    ``?`` in a set each (``f [clone .isra.0]`` -> ``f [[]clone .isra.0[]]``)."""
    return _GLOB_CHARS.sub(r"[\1]", value)


def caller_of(f: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    """The function the finding's site was inlined into, else the one that
    called it (``caller``), when known."""
    site = f.get("site") or {}
    into = site.get("inlined_into") if isinstance(site, Mapping) else None
    if isinstance(into, Mapping) and into.get("function"):
        return into
    c = f.get("caller")
    return c if isinstance(c, Mapping) and c.get("function") else None


def _path_glob(pattern: str, path: Optional[str]) -> bool:
    """A pattern with a ``/`` is matched against the whole path, one without
    against the file name only (``leaky.c`` matches ``/src/leaky.c``)."""
    if path is None:
        return False
    if "/" not in pattern:
        path = os.path.basename(path)
    return fnmatch.fnmatchcase(path, pattern)


def module_name(obj: Optional[str]) -> Optional[str]:
    """``leaky.hpy0.so`` -> ``leaky``."""
    if not obj:
        return None
    return re.sub(r"(\.hpy\d*)?(\.[a-z0-9_-]+)?\.so(\.[0-9.]+)?$", "", obj)


class Entry:
    """One ``[[suppress]]`` table."""

    def __init__(self, index: int, line: Optional[int], data: Mapping[str, Any]) -> None:
        self.index = index
        self.line = line
        self.patterns = {k: data[k] for k in MATCH_KEYS if k in data}
        self.max: Optional[int] = data.get("max")
        self.comment: Optional[str] = data.get("comment")
        self.used = 0        # findings (groups or reports) it matched
        self.suppressed = 0  # handles or reports it suppressed

    def describe(self) -> str:
        parts = [f"{k}={v!r}" for k, v in self.patterns.items()]
        if self.max is not None:
            parts.append(f"max={self.max}")
        text = " ".join(parts)
        if self.comment:
            text += f"  # {self.comment}"
        return text

    def matches(self, f: Mapping[str, Any]) -> bool:
        p = self.patterns
        site = f.get("site") or {}
        if "class" in p and not _glob(p["class"], f.get("class")):
            return False
        if "function" in p:
            names = [site.get("function")] + list(site.get("inlined_into") or [])
            names = [n.get("function") if isinstance(n, Mapping) else n for n in names]
            if not any(_glob(p["function"], n) for n in names):
                return False
        if "caller" in p:
            c = caller_of(f)
            if c is None or not _glob(p["caller"], c.get("function")):
                return False
        if "file" in p and not _path_glob(p["file"], site.get("file")):
            return False
        if "at" in p:
            if site.get("file") is None or site.get("line") is None:
                return False
            if not _path_glob(p["at"], f"{site['file']}:{site['line']}"):
                return False
        if "module" in p:
            obj = site.get("object")
            if not (_glob(p["module"], obj) or _glob(p["module"], module_name(obj))):
                return False
        if "python" in p:
            ok = False
            for fr in f.get("python") or []:
                file = fr.get("file")
                if file is None:
                    continue
                for value in (f"{file}:{fr.get('function')}", f"{file}:{fr.get('line')}"):
                    if _path_glob(p["python"], value):
                        ok = True
            if not ok:
                return False
        if "type" in p and not _glob(p["type"], f.get("type")):
            return False
        return True


class Suppressions:
    """The entries of one file, in file order, with their use counts."""

    def __init__(self, path: str, entries: Sequence[Entry]) -> None:
        self.path = path
        self.entries = list(entries)

    def apply(self, f: Mapping[str, Any], start: int = 0) -> Tuple[int, Optional[Entry]]:
        """How many of ``f["count"]`` handles/reports the first matching entry
        (from index ``start``) suppresses, respecting its ``max``, and that entry."""
        count = int(f.get("count") or 1)
        for e in self.entries[start:]:
            if not e.matches(f):
                continue
            room = count if e.max is None else max(0, min(count, e.max - e.suppressed))
            if room == 0:
                continue
            e.used += 1
            e.suppressed += room
            return room, e
        return 0, None

    def usage(self) -> List[Dict[str, Any]]:
        """Per entry: ``{"index", "used", "suppressed"}`` (for merging)."""
        return [{"index": e.index, "used": e.used, "suppressed": e.suppressed} for e in self.entries]

    def add_usage(self, usage: Iterable[Mapping[str, Any]]) -> None:
        for u in usage:
            i = int(u["index"])
            if 0 <= i < len(self.entries):
                self.entries[i].used += int(u["used"])
                self.entries[i].suppressed += int(u["suppressed"])

    def summary_lines(self) -> List[str]:
        """LeakSanitizer-like: the entries used, with counts, then the
        entries that matched nothing."""
        out: List[str] = []
        used = [e for e in self.entries if e.used]
        unused = [e for e in self.entries if not e.used]
        if used:
            out.append(f"hpydbg: suppressions used ({self.path}):")
            out.append("  suppressed  findings  entry")
            for e in sorted(used, key=lambda e: (-e.suppressed, e.index)):
                out.append(f"  {e.suppressed:10d}  {e.used:8d}  line {e.line}: {e.describe()}")
        if unused:
            out.append(f"hpydbg: suppressions that matched nothing ({self.path}):")
            for e in unused:
                out.append(f"  line {e.line}: {e.describe()}")
        return out


# -- loading ---------------------------------------------------------------

_HEADER_RE = re.compile(r"^\s*\[\[\s*suppress\s*\]\]")


def _entry_lines(text: str) -> List[int]:
    return [n for n, l in enumerate(text.splitlines(), 1) if _HEADER_RE.match(l)]


def _key_line(text: str, start: Optional[int], key: str) -> Optional[int]:
    """Line of ``key =`` in the entry whose header is on line ``start``
    (else ``start``)."""
    if start is None:
        return None
    lines = text.splitlines()
    key_re = re.compile(r"^\s*(?:" + re.escape(key) + r'|"' + re.escape(key) + r'")\s*=')
    for n in range(start, len(lines)):  # lines[start] is the line after the header
        if _HEADER_RE.match(lines[n]):
            break
        if key_re.match(lines[n]):
            return n + 1
    return start


def parse(text: str, path: str = "<suppressions>") -> Suppressions:
    """Parse and check the text of a suppression file."""
    if tomllib is None:  # pragma: no cover
        raise SuppressionError(path, None, "reading suppression files needs Python 3.11 (tomllib)")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        line = int(m.group(1)) if m else None
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
        if m:
            msg += f" (column {m.group(2)})"
        raise SuppressionError(path, line, f"not valid TOML: {msg}") from None
    for key in data:
        if key != "suppress":
            line = next((n for n, l in enumerate(text.splitlines(), 1)
                         if re.match(r"^\s*\[*\s*" + re.escape(key) + r"\b", l)), None)
            raise SuppressionError(path, line, f"unknown top-level key {key!r}: "
                                               f"entries are [[suppress]] tables")
    raw = data.get("suppress", [])
    if not isinstance(raw, list):
        raise SuppressionError(path, _key_line(text, 1, "suppress"),
                               "'suppress' must be an array of tables ([[suppress]])")
    starts = _entry_lines(text)
    entries: List[Entry] = []
    for i, item in enumerate(raw):
        start = starts[i] if i < len(starts) else None
        if not isinstance(item, dict):
            raise SuppressionError(path, start, "each suppression must be a table")
        for k, v in item.items():
            line = _key_line(text, start, k)
            if k not in MATCH_KEYS and k not in OTHER_KEYS:
                raise SuppressionError(
                    path, line, f"unknown key {k!r} (known: {', '.join(MATCH_KEYS + OTHER_KEYS)})")
            if k in MATCH_KEYS or k == "comment":
                if not isinstance(v, str) or (k != "comment" and not v):
                    raise SuppressionError(path, line, f"{k!r} must be a non-empty string (a glob)"
                                           if k != "comment" else "'comment' must be a string")
            elif k in ("max", "seen"):
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    raise SuppressionError(path, line, f"{k!r} must be an integer >= 0")
            elif k == "lines":
                if not isinstance(v, list) or not all(isinstance(x, int) for x in v):
                    raise SuppressionError(path, line, "'lines' must be a list of integers")
        if not any(k in item for k in MATCH_KEYS):
            raise SuppressionError(path, start, "a suppression needs at least one of "
                                                f"{', '.join(MATCH_KEYS)}")
        entries.append(Entry(i, start, item))
    return Suppressions(path, entries)


def load(path: str) -> Suppressions:
    """Read a suppression file (``SuppressionError`` if it cannot be used)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise SuppressionError(path, None, f"cannot read the suppression file ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise SuppressionError(path, None, f"not UTF-8 ({e})") from None
    return parse(text, path)


def split(supp: Optional["Suppressions"], findings: Iterable[Finding]) -> Tuple[List[Finding], List[Finding]]:
    """Findings not covered by ``supp`` and the parts covered, each marked
    with ``"suppressed_by"`` (the entry's line).  A leak group an entry
    covers only in part (``max``) goes on to the next entries; what no entry
    covers is kept, with its count and handles."""
    kept: List[Finding] = []
    covered: List[Finding] = []
    for f in findings:
        count = int(f.get("count") or 1)
        handles = list(f["handles"]) if f.get("handles") is not None else None
        start = 0
        while count and supp is not None:
            n, entry = supp.apply(dict(f, count=count), start)
            if not n or entry is None:
                break
            part = dict(f, count=n, suppressed_by=entry.line)
            if handles is not None:
                part["handles"], handles = handles[:n], handles[n:]
            covered.append(part)
            count -= n
            start = entry.index + 1
        if count:
            rest = dict(f, count=count)
            if handles is not None:
                rest["handles"] = handles
            kept.append(rest)
    return kept, covered


_env_cache: Dict[str, Any] = {}


def from_environment(env: Mapping[str, str] = os.environ) -> Optional[Suppressions]:
    """The file named by ``HPY_DEBUG_SUPPRESSIONS`` (None if unset);
    ``SuppressionError`` if it cannot be used.  Loaded once."""
    path = env.get("HPY_DEBUG_SUPPRESSIONS", "").strip()
    if not path:
        return None
    if _env_cache.get("path") != path:
        _env_cache["path"], _env_cache["supp"] = path, load(path)
    return _env_cache["supp"]


# -- the baseline ------------------------------------------------------------

def _toml_str(s: str) -> str:
    out = ['"']
    for c in s:
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def baseline_key(f: Mapping[str, Any]) -> Tuple[Tuple[str, str], ...]:
    """What a baseline entry is keyed by: the class, the innermost C
    function of the project's own code and its file (no line: lines move),
    the function it was inlined into or called from (so that an entry on a
    shared helper covers only that caller), the module; a finding without a
    C site by its innermost Python caller's file and function.  Every value
    is escaped: the entry matches exactly what it was written from."""
    site = f.get("site") or {}
    key: Dict[str, str] = {"class": glob_escape(str(f.get("class") or "misuse"))}
    if site.get("function") or site.get("file"):
        if site.get("function"):
            key["function"] = glob_escape(site["function"])
        caller = caller_of(f)
        if caller is not None:
            key["caller"] = glob_escape(caller["function"])
        if site.get("file"):
            key["file"] = "*/" + glob_escape(os.path.basename(site["file"]))
        mod = module_name(site.get("object"))
        if mod:
            key["module"] = glob_escape(mod)
    else:
        callers = [c for c in (f.get("python") or []) if c.get("file")]
        if callers:
            c = callers[0]
            key["python"] = f"*/{glob_escape(os.path.basename(c['file']))}:{glob_escape(str(c.get('function')))}"
        elif site.get("object"):
            key["module"] = glob_escape(module_name(site.get("object")) or site["object"])
    return tuple(key.items())


def baseline_text(findings: Iterable[Mapping[str, Any]]) -> str:
    """The text of a suppression file covering every finding, one entry per
    baseline key, sorted; the lines seen and the count are kept as hints."""
    groups: Dict[Tuple[Tuple[str, str], ...], Dict[str, Any]] = {}
    for f in findings:
        g = groups.setdefault(baseline_key(f), {"lines": set(), "seen": 0, "tests": set()})
        line = (f.get("site") or {}).get("line")
        if line is not None:
            g["lines"].add(int(line))
        g["seen"] += int(f.get("count") or 1)
        g["tests"].add(f.get("test") or "outside tests")
    out = ["# hpydbg suppressions: the baseline of a run (pytest --hpy-debug-write-baseline).",
           "# One entry per class, C function/file and caller; 'lines' and 'seen' are hints, not matched.",
           f"# {len(groups)} entr{'y' if len(groups) == 1 else 'ies'}.", ""]
    for key in sorted(groups):
        g = groups[key]
        out.append("[[suppress]]")
        for k, v in key:
            out.append(f"{k} = {_toml_str(v)}")
        if g["lines"]:
            out.append(f"lines = [{', '.join(str(n) for n in sorted(g['lines']))}]")
        out.append(f"seen = {g['seen']}")
        tests = sorted(g["tests"])
        more = f" and {len(tests) - 1} more" if len(tests) > 1 else ""
        out.append(f"comment = {_toml_str('baseline: ' + tests[0] + more)}")
        out.append("")
    return "\n".join(out)


def write_baseline(findings: Iterable[Mapping[str, Any]], path: str) -> int:
    """Write the baseline of ``findings`` to ``path``; return the number of entries."""
    text = baseline_text(findings)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return text.count("[[suppress]]")
