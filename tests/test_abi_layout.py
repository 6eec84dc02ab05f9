"""The Rust ABI mirror (src/abi.rs) must match HPy 0.9.0's C headers: every
member offset and struct size is compared with what the C compiler says."""
import os
import subprocess
import sysconfig

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
