"""Builds the `cairn` package's native module against the repository's libcairn.

libcairn is not compiled here a second time: the CMake build directory
(CAIRN_BUILD_DIR, default <repo>/build) is brought up to date for the one
target `cairn` -- a no-op when scripts/build.sh already ran; a first
configure + build of that target alone when there is no build directory yet
(17 files: seconds with a warm ccache, a minute or two on 2 cores without). Then only the extension
(python/src/*.cc, the public headers only) is compiled, through ccache when
present, and libcairn.so.0 is copied into the package beside it; the
extension finds it there through its RPATH ($ORIGIN), so the installed
package does not depend on the build directory afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension
from pybind11.setup_helpers import build_ext as pybind11_build_ext
from setuptools import setup

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LIB_SONAME = "libcairn.so.0"


def project_version() -> str:
    """The VERSION of project(cairn ...) in the top-level CMakeLists.txt."""
    text = (REPO / "CMakeLists.txt").read_text()
    match = re.search(r"project\(\s*cairn\s+VERSION\s+([0-9.]+)", text)
    if not match:
        sys.exit(f"setup.py: no `project(cairn VERSION x.y.z)` in {REPO / 'CMakeLists.txt'}")
    return match.group(1)


def build_dir() -> Path:
    return Path(os.environ.get("CAIRN_BUILD_DIR") or REPO / "build").resolve()


def check_not_instrumented(cache: Path) -> None:
    text = cache.read_text()
    for var in ("CAIRN_SANITIZE:STRING=", "CAIRN_FUZZ:BOOL="):
        for line in text.splitlines():
            if line.startswith(var) and line[len(var):] not in ("", "OFF"):
                sys.exit(
                    f"setup.py: {cache.parent} is a sanitizer/fuzz build ({line}); Python cannot load an "
                    "instrumented libcairn. Point CAIRN_BUILD_DIR at a normal build (scripts/build.sh makes ./build)."
                )


def run(cmd: list[str]) -> None:
    print("setup.py:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def build_libcairn() -> Path:
    """Brings libcairn up to date in the CMake build directory; returns that directory."""
    bdir = build_dir()
    cache = bdir / "CMakeCache.txt"
    if not cache.exists():
        print(f"setup.py: no CMake build in {bdir}: configuring and building libcairn from scratch "
              "(17 files: seconds with a warm ccache, a minute or two on 2 cores without)", flush=True)
        cmd = ["cmake", "-S", str(REPO), "-B", str(bdir), "-DCMAKE_BUILD_TYPE=RelWithDebInfo"]
        if shutil.which("ninja"):
            cmd += ["-G", "Ninja"]
        if shutil.which("ccache"):
            cmd += ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"]
        run(cmd)
    check_not_instrumented(cache)
    run(["cmake", "--build", str(bdir), "--target", "cairn", "-j", os.environ.get("CAIRN_JOBS", str(os.cpu_count()))])
    if not (bdir / LIB_SONAME).exists():
        sys.exit(f"setup.py: {bdir / LIB_SONAME} is missing after building the `cairn` target")
    return bdir


class BuildExt(pybind11_build_ext):
    def build_extensions(self) -> None:
        bdir = build_libcairn()
        # Always compile: setuptools would skip an extension newer than its
        # sources even when libcairn's headers changed (ccache keeps it cheap).
        self.force = True
        for ext in self.extensions:
            ext.library_dirs.append(str(bdir))
        if shutil.which("ccache"):
            self.compiler.compiler_so = ["ccache", *self.compiler.compiler_so]
        super().build_extensions()
        # libcairn beside the extension (its RPATH is $ORIGIN).
        for ext in self.extensions:
            dest = Path(self.get_ext_fullpath(ext.name)).parent / LIB_SONAME
            dest.unlink(missing_ok=True)
            shutil.copy2((bdir / LIB_SONAME).resolve(), dest)


native = Pybind11Extension(
    "cairn._native",
    sorted(str(p.relative_to(HERE)) for p in (HERE / "src").glob("*.cc")),
    include_dirs=[str(REPO / "include"), str(HERE / "src")],
    libraries=["cairn"],
    extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
    extra_link_args=["-Wl,-rpath,$ORIGIN"],
    cxx_std=20,
)

setup(
    version=project_version(),
    ext_modules=[native],
    cmdclass={"build_ext": BuildExt},
    package_data={"cairn": ["py.typed", "*.pyi", LIB_SONAME]},
    zip_safe=False,
)
