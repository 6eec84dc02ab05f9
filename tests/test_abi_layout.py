"""The Rust ABI mirror (src/abi.rs) must match HPy 0.9.0's C headers: every
member offset and struct size is compared with what the C compiler says.
So must the CPython struct offsets hpydbg reads (src/base/pyframe.rs,
pyerr.rs, pytstate.rs) with the running interpreter's own headers, and they
must have been proven on the live interpreter at start-up."""
import os
import subprocess
import sys
import sysconfig
import textwrap

import pytest

from conftest import copy_leakext, leakext_line, run_python

import hpy.devel

from hpydbg import _hpydbg


def c_layout(rows, tmp_path):
    """Compile a C program printing offsetof/sizeof for `rows` of
    (struct, field) and return {(struct, field): value}."""
    lines = ['#define HPY_ABI_UNIVERSAL', '#include <stddef.h>', '#include <stdio.h>',
             '#include "hpy.h"', 'int main(void) {']
    for struct, field in rows:
        cstruct = "struct _HPyContext_s" if struct == "HPyContext" else struct
        expr = f"sizeof({cstruct})" if field == "sizeof" else f"offsetof({cstruct}, {field})"
        lines.append(f'    printf("%s %s %zu\\n", "{struct}", "{field}", (size_t){expr});')
    lines += ['    return 0;', '}']
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "layout"
    include = os.path.join(os.path.dirname(hpy.devel.__file__), "include")
    subprocess.check_call(["cc", "-o", str(exe), str(src), "-I", include,
                           "-I", sysconfig.get_paths()["include"]])
    out = subprocess.check_output([str(exe)], text=True)
    result = {}
    for line in out.splitlines():
        s, f, v = line.split()
        result[(s, f)] = int(v)
    return result


def test_context_and_struct_layouts_match_the_c_headers(tmp_path):
    ctx_rows, struct_rows = _hpydbg._abi_layout()
    rust = {("HPyContext", name): off for name, off in ctx_rows}
    for struct, field, off in struct_rows:
        rust[(struct, field.rstrip("_"))] = off
    c = c_layout(list(rust), tmp_path)
    mismatches = {k: (rust[k], c[k]) for k in rust if rust[k] != c[k]}
    assert not mismatches, f"(rust, C) offsets differ: {mismatches}"
    # the whole context was covered: 3 header fields + 89 constants/functions... + sizeof
    assert len(ctx_rows) > 250
    assert c[("HPyContext", "sizeof")] == rust[("HPyContext", "sizeof")]


def test_every_function_member_has_a_public_name():
    names = _hpydbg._api_names()
    assert len(names) == len({n for n, _ in names})
    for member, public in names:
        assert public.lstrip("_").startswith("HPy"), (member, public)


def cpython_layout(rows, tmp_path):
    """offsetof for `rows` of "Struct.field[.sub]" in the running
    interpreter's headers (its internal ones included)."""
    inc = sysconfig.get_paths()["include"]
    internal = os.path.join(inc, "internal")
    frame_h = "frameobject.h" if sys.version_info < (3, 11) else "internal/pycore_frame.h"
    runtime_h = "internal/pycore_pystate.h" if sys.version_info < (3, 9) else "internal/pycore_runtime.h"
    for h in (frame_h, runtime_h):
        if not os.path.exists(os.path.join(inc, h)):
            pytest.skip(f"{h} is not installed with this Python")
    lines = ["#define Py_BUILD_CORE 1", "#include <Python.h>", "#include <stddef.h>", "#include <stdio.h>",
             f'#include "{frame_h}"', f'#include "{runtime_h}"', "int main(void) {"]
    for row in rows:
        struct, field = row.split(".", 1)
        lines.append(f'    printf("%s %zu\\n", "{row}", (size_t)offsetof({struct}, {field}));')
    lines += ["    return 0;", "}"]
    src = tmp_path / "pylayout.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "pylayout"
    subprocess.check_call(["cc", "-o", str(exe), str(src), "-I", inc, "-I", internal])
    out = subprocess.check_output([str(exe)], text=True)
    return {name: int(v) for name, v in (line.split() for line in out.splitlines())}


def test_cpython_offsets_match_the_running_interpreters_headers(tmp_path):
    rust = dict(_hpydbg._py_offsets())
    v = sys.version_info
    # what each version's reader needs (a missing row would go unchecked)
    frame = {(3, 8): "PyThreadState.frame", (3, 9): "PyThreadState.frame", (3, 10): "PyThreadState.frame",
             (3, 11): "PyThreadState.cframe", (3, 12): "PyThreadState.cframe"}.get(v[:2], "PyThreadState.current_frame")
    exc = "PyThreadState.curexc_type" if v < (3, 12) else "PyThreadState.current_exception"
    assert frame in rust and exc in rust, rust
    if v < (3, 12):
        assert "_PyRuntimeState.gilstate.tstate_current" in rust
    if v >= (3, 11):
        assert "PyCodeObject.co_code_adaptive" in rust
    assert _hpydbg._py_layouts()[0] == f"{v[0]}.{v[1]}"
    c = cpython_layout(list(rust), tmp_path)
    mismatches = {k: (rust[k], c[k]) for k in rust if rust[k] != c[k]}
    assert not mismatches, f"(rust, C) offsets differ: {mismatches}"


@pytest.fixture
def workdir(tmp_path, leakext_dir):
    copy_leakext(leakext_dir, tmp_path)
    return tmp_path


def test_the_layouts_are_proven_at_start_up_and_a_leak_names_its_python_line(workdir):
    code = textwrap.dedent("""
        import hpydbg; hpydbg.enable("all")
        import leakext
        from hpydbg import _hpydbg
        print("LAYOUTS", _hpydbg._py_layouts())
        try:
            with hpydbg.LeakDetector():
                leakext.leak("x")  # PYLINE
        except hpydbg.HPyLeakError as e:
            print(e)
    """)
    r = run_python(code, workdir)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    v = sys.version_info
    assert f"LAYOUTS ('{v[0]}.{v[1]}', True, True)" in r.stdout, out
    notes = [line for line in r.stderr.splitlines() if line.startswith("hpydbg: CPython")]
    if v >= (3, 13):
        assert len(notes) == 1 and "HPy 0.9.0 does not support this Python" in notes[0], notes
    else:
        assert notes == [], notes
    pyline = 1 + code.splitlines().index(next(line for line in code.splitlines() if "# PYLINE" in line))
    assert f"<string>:{pyline}" in out, out
    assert f"leakext.c:{leakext_line('LEAK')}" in out, out
