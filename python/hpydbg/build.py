"""Compile HPy C extensions for the universal ABI (used by the demo, the
tests and the leak cases).  Extensions are built with ``-g -O0`` so that
reports point at source lines."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterable, Sequence


def build_extension(name: str, sources: Sequence[str], outdir: str, *,
                    abi: str = "universal", extra_compile_args: Iterable[str] = (),
                    quiet: bool = True) -> str:
    """Build extension ``name`` from C ``sources`` into ``outdir``; return
    the path of the shared object (``NAME.hpy0.so`` for the universal ABI)."""
    from setuptools import Distribution, Extension
    from hpy.devel import HPyDevel

    outdir = os.path.abspath(outdir)
    os.makedirs(outdir, exist_ok=True)
    ext = Extension(name, sources=[os.path.abspath(s) for s in sources],
                    extra_compile_args=["-g", "-O0", *extra_compile_args],
                    extra_link_args=["-g"])
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
    return str(Path(sos[0]).resolve())


def load(name: str, so_path: str, debug: bool = True):
    """Load an extension with ``hpy.universal.load`` in debug (or universal) mode."""
    import importlib.util
    import hpy.universal as universal

    spec = importlib.util.spec_from_file_location(name, so_path)
    mode = universal.MODE_DEBUG if debug else universal.MODE_UNIVERSAL
    mod = universal.load(name, so_path, spec, mode=mode)
    mod.__file__ = so_path
    return mod
