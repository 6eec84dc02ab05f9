"""The fast stack capture (src/base/unwind.rs) gives the same frames as
libgcc's unwinder (backtrace::trace), on real call stacks: a C extension
built at -O0 and at -O3, recursing in C, calling back into Python and from
Python into the extension again, in the main thread and another thread.

hpydbg's hidden `_unwind_check(True)` makes every `Trace::capture` that the
fast unwinder served also capture with libgcc's and compare the two."""
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import run_python

SRC = Path(__file__).resolve().parent / "ext" / "unwindext.c"


def marker_line(marker):
    for n, line in enumerate(SRC.read_text().splitlines(), 1):
        if marker in line:
            return n
    raise LookupError(marker)


@pytest.fixture(scope="module", params=["O0", "O3"])
def ext(request, tmp_path_factory):
    from hpydbg.build import build_extension

    name = f"unwind_{request.param}"
    out = tmp_path_factory.mktemp(name)
    build_extension(name, [str(SRC)], str(out),
                    extra_compile_args=[f"-{request.param}", f"-DUNWIND_NAME={name}"])
    return name, out


def test_fast_capture_equals_libgcc(ext):
    name, out = ext
    code = textwrap.dedent(f"""
        import threading
        import hpydbg; hpydbg.enable("all"); hpydbg.set_stack_trace_limit(16)
        from hpydbg import _hpydbg
        import {name} as m

        def cb():
            m.deep(3, None)
            return 1

        def cb2():
            m.deep(2, cb)
            return 2

        _hpydbg._unwind_check(True)
        for d in (0, 1, 5, 20):
            m.deep(d, None)
            m.deep(d, cb)
        m.deep(1, cb2)
        t = threading.Thread(target=lambda: m.deep(4, cb2))
        t.start(); t.join()
        n, bad, first = _hpydbg._unwind_check(False)
        print("compared", n)
        # every level of down() opens and closes one handle: 2 * (d + 1)
        # captures per deep(d, None) alone
        assert n >= 2 * (1 + 2 + 6 + 21), n
        assert bad == 0, (bad, [hex(x) for x in first[0]], [hex(x) for x in first[1]])
    """)
    r = run_python(code, out)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "compared" in r.stdout


def test_trace_of_a_leak_has_the_extension_and_cpython_frames(ext):
    """What a person sees: the fast capture's frames symbolised."""
    name, out = ext
    code = textwrap.dedent(f"""
        import hpydbg; hpydbg.enable("all"); hpydbg.set_stack_trace_limit(16)
        from hpydbg import _hpydbg
        import {name} as m
        gen = _hpydbg.new_generation()
        m.leak(3)
        [h] = [h for h in hpydbg.open_handles(gen) if h.obj == 42]
        print(h.allocation_stacktrace)
        print("SITE", h.allocation_site)
    """)
    r = run_python(code, out)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [l.strip() for l in r.stdout.splitlines()]
    # 16 return addresses; frames the compiler inlined at one of them are
    # listed too, marked [inlined].
    frames = [l for l in lines if l.startswith("#")]
    assert len([f for f in frames if not f.endswith("[inlined]")]) == 16, r.stdout
    names = [f.split()[1] for f in frames]
    where = [f.rsplit(" ", 2)[1].rsplit("/", 1)[-1] for f in frames]
    leak, rec, call = (f"unwindext.c:{marker_line(m)}" for m in
                       ("LEAK", "depth - 1, f, leaked", "down(ctx, HPyLong_AsLong"))
    # At -O3 HPy's inline helpers are inlined into down(0): the same frames,
    # the first two marked [inlined]; at -O0 they are frames of their own.
    # On CPython hpydbg calls leak_impl itself (no frame of the universal
    # context's ctx_CallRealFunctionFromTrampoline): then HPy's helper in
    # the extension that called into the context.
    assert names[:8] == ["HPyLong_FromInt64_t", "HPyLong_FromLong", "down", "down", "down",
                         "down", "leak_impl", "_HPy_CallRealFunctionFromTrampoline"], r.stdout
    assert [f.endswith("[inlined]") for f in frames[:3]] == \
        ([True, True, False] if name.endswith("O3") else [False, False, False]), r.stdout
    assert where[2:7] == [leak, rec, rec, rec, call], r.stdout
    assert f"SITE down at {SRC}:{marker_line('LEAK')} ({name}.hpy0.so)" in r.stdout
    assert all(f.replace(" [inlined]", "").endswith(f"({name}.hpy0.so)") for f in frames[:5])
    assert any(n == "_PyEval_EvalFrameDefault" and f"(libpython{sys.version_info[0]}.{sys.version_info[1]}" in f
               for n, f in zip(names, frames)), r.stdout


@pytest.fixture(scope="module")
def two_exts(tmp_path_factory):
    from hpydbg.build import build_extension

    out = tmp_path_factory.mktemp("unwind_two")
    for name in ("unwind_first", "unwind_later"):
        build_extension(name, [str(SRC)], str(out), extra_compile_args=["-O2", f"-DUNWIND_NAME={name}"])
    return out


def test_an_extension_loaded_after_the_first_captures_is_found(two_exts):
    """The module list is built at a thread's first capture; an object
    dlopen'ed later is found when a frame falls outside every known object."""
    code = textwrap.dedent("""
        import hpydbg; hpydbg.enable("all"); hpydbg.set_stack_trace_limit(16)
        from hpydbg import _hpydbg
        import unwind_first
        _hpydbg._unwind_check(True)
        unwind_first.deep(3, None)
        before = _hpydbg._unwind_stats()
        assert before is not None and before[0] > 0, before
        import unwind_later                      # dlopen'ed now
        gen = _hpydbg.new_generation()
        unwind_later.leak(2)
        unwind_later.deep(3, lambda: unwind_first.deep(2, None))
        n, bad, first = _hpydbg._unwind_check(False)
        assert n > 20 and bad == 0, (n, bad, first)
        [h] = [h for h in hpydbg.open_handles(gen) if h.obj == 42]
        t = h.allocation_stacktrace
        assert t.count("(unwind_later.hpy0.so)") >= 4, t
        assert "_PyEval_EvalFrameDefault" in t, t
    """)
    r = run_python(code, two_exts)
    assert r.returncode == 0, r.stdout + r.stderr


def test_an_extension_loaded_after_the_first_symbolisation_gets_names(two_exts):
    """Symbolising lists the loaded objects: one dlopen'ed after a first
    report was symbolised must still get its function names and lines."""
    code = textwrap.dedent("""
        import hpydbg; hpydbg.enable("all")
        import unwind_first
        gen = hpydbg.LeakDetector(); gen.start()
        unwind_first.leak(2)
        [h] = [h for h in hpydbg.open_handles(gen.generation) if h.obj == 42]
        assert "down at" in h.allocation_site and "unwind_first" in h.allocation_site, h.allocation_site
        import unwind_later                      # dlopen'ed after symbolising
        g2 = hpydbg.LeakDetector(); g2.start()
        unwind_later.leak(2)
        [h2] = [h for h in hpydbg.open_handles(g2.generation) if h.obj == 42]
        print(h2.allocation_site)
        assert h2.allocation_site.startswith("down at "), h2.allocation_site
        assert "(unwind_later.hpy0.so)" in h2.allocation_site, h2.allocation_site
    """)
    r = run_python(code, two_exts)
    assert r.returncode == 0, r.stdout + r.stderr
