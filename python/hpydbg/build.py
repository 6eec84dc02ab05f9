"""Compile HPy C and C++ extensions for the universal (or hybrid) ABI, used
by the demo, the tests and the leak cases.  Extensions are built with ``-g``
and, by default, ``-O0`` so that reports point at source lines; ``opt="-O3"``
builds them as real projects ship them (HPy's API functions and small static
helpers inlined), which is what tests/test_real_reports.py checks.

The loader stub written next to each universal module is hpydbg's own
(``write_loader_stub``): HPy 0.9.0's imports ``pkg_resources``, which
setuptools 81 removed; this one finds the shared object next to itself."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterable, Sequence

CXX_SUFFIXES = (".cpp", ".cc", ".cxx")
# HPy 0.9.0's hpy.h wraps its declarations in extern "C" and compiles as
# C++17 with g++ as is (designated initializers in HPy's macros are a GNU
# extension before C++20; g++ accepts them without a warning).
CXX_STD = "-std=c++17"


def build_extension(name: str, sources: Sequence[str], outdir: str, *,
                    abi: str = "universal", opt: str = "-O0",
                    extra_compile_args: Iterable[str] = (), quiet: bool = True) -> str:
    """Build extension ``name`` from C or C++ ``sources`` (not both) into
    ``outdir`` with ``-g`` and optimisation ``opt`` (e.g. ``"-O3"``); return
    the path of the shared object (``NAME.hpy0.so`` for the universal ABI,
    ``NAME.hpy0-cp3XY.so`` for the hybrid one) and writes its loader stub
    ``NAME.py`` beside it (``write_loader_stub``).  C++ sources are compiled
    and linked with g++ (``$CXX``), ``-std=c++17``.  Not thread-safe (it
    changes the working directory, the environment and fd 1 while it runs);
    separate processes (xdist workers) with separate ``outdir`` are fine."""
    from setuptools import Distribution, Extension
    from hpy.devel import HPyDevel

    if not opt.startswith("-O"):
        raise ValueError(f"opt must be a -O flag, got {opt!r}")
    cxx = [s for s in sources if s.endswith(CXX_SUFFIXES)]
    if cxx and len(cxx) != len(sources):
        raise ValueError("C and C++ sources in one extension are not supported")
    outdir = os.path.abspath(outdir)
    os.makedirs(outdir, exist_ok=True)
    flags = ["-g", opt, *([CXX_STD] if cxx else []), *extra_compile_args]
    ext = Extension(name, sources=[os.path.abspath(s) for s in sources],
                    extra_compile_args=flags, extra_link_args=["-g"],
                    language="c++" if cxx else None)
    dist = Distribution({"name": name, "py_modules": [name]})
    dist.hpy_abi = abi
    dist.hpy_use_static_libs = True
    dist.hpy_ext_modules = [ext]
    HPyDevel().fix_distribution(dist)
    build_ext = dist.get_option_dict("build_ext")
    build_ext["build_lib"] = ("hpydbg", outdir)
    build_ext["build_temp"] = ("hpydbg", os.path.join(outdir, "tmp"))
    build_ext["force"] = ("hpydbg", True)
    dist.get_option_dict("build_py")["build_lib"] = ("hpydbg", outdir)
    old_cwd = os.getcwd()
    saved_env = dict(os.environ)
    devnull = open(os.devnull, "w") if quiet else None
    saved_out = os.dup(1) if quiet else None
    try:
        os.chdir(outdir)
        if cxx:
            # distutils compiles every source with $CC and links with $CC
            # (or $CXX for language c++); both must be the C++ driver.
            os.environ["CC"] = os.environ["CXX"] = os.environ.get("CXX", "g++")
        if quiet:
            sys.stdout.flush()
            os.dup2(devnull.fileno(), 1)
        dist.run_command("build_ext")
        outputs = dist.get_command_obj("build_ext").get_outputs()
    finally:
        if quiet:
            sys.stdout.flush()
            os.dup2(saved_out, 1)
            os.close(saved_out)
            devnull.close()
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    sos = [o for o in outputs if o.endswith(".so")]
    if len(sos) != 1:
        raise RuntimeError(f"expected one shared object from build_ext, got {outputs}")
    so = str(Path(sos[0]).resolve())
    if abi in ("universal", "hybrid"):
        write_loader_stub(so)
    return so


# Keeps HPy's stub protocol: a ``__bootstrap__`` function (hpydbg's frame
# reader skips it, so reports name the ``import`` line) calling
# ``_load_bootstrap`` with ``os.environ`` itself (a real dict would be
# mishandled by hpy 0.9.0's ``_load_bootstrap``: it decrefs borrowed values).
LOADER_STUB = """\
# Loader stub of the HPy universal module {module!r}, written by hpydbg.build
# in place of HPy 0.9.0's (which imports pkg_resources, gone in setuptools>=81).


def __bootstrap__():
    from os import environ, path
    from sys import modules
    from hpy.universal import _load_bootstrap
    ext_filepath = path.join(path.dirname(__file__), {ext_file!r})
    m = _load_bootstrap({module!r}, __name__, __package__, ext_filepath,
                        __loader__, __spec__, environ)
    modules[__name__] = m


__bootstrap__()
"""


def write_loader_stub(so_path: str, stub_path: "str | None" = None) -> str:
    """Write the loader stub of the universal module ``so_path``
    (``NAME.hpy0.so``) to ``stub_path`` (default: ``NAME.py`` beside it),
    replacing HPy's; return the stub's path.  It needs only ``hpy``
    (no ``pkg_resources``), and imports as HPy's does, honouring ``HPY``."""
    so = Path(so_path)
    module = so.name.split(".")[0]
    stub = Path(stub_path) if stub_path else so.with_name(module + ".py")
    stub.write_text(LOADER_STUB.format(module=module, ext_file=so.name))
    return str(stub)


def load(name: str, so_path: str, debug: bool = True):
    """Load an extension with ``hpy.universal.load`` in debug (or universal) mode."""
    import importlib.util
    import hpy.universal as universal

    spec = importlib.util.spec_from_file_location(name, so_path)
    mode = universal.MODE_DEBUG if debug else universal.MODE_UNIVERSAL
    mod = universal.load(name, so_path, spec, mode=mode)
    mod.__file__ = so_path
    return mod
