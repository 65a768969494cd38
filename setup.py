"""Build glue for the Python package (metadata lives in pyproject.toml).

build_ext first builds the C core with CMake, ships the agent and the
server inside the package, then lets cffi compile noxrunner._native against
the static core library.
"""

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "bindings", "python", "buildtools"))
import corebuild  # noqa: E402


class build_ext_with_core(build_ext):
    def run(self):
        built = corebuild.build(HERE)
        pkg_dirs = [os.path.join(self.build_lib, "noxrunner")]
        if self.inplace:
            pkg_dirs.append(os.path.join(HERE, "bindings", "python", "noxrunner"))
        for pkg in pkg_dirs:
            corebuild.install_programs(built, pkg)
        super().run()


setup(
    cffi_modules=["bindings/python/buildtools/build_ffi.py:ffibuilder"],
    cmdclass={"build_ext": build_ext_with_core},
    # The extension uses only the limited API: one cp38-abi3 wheel serves
    # every CPython from 3.8 on.
    options={
        "bdist_wheel": {"py_limited_api": "cp38"},
        # Keep setuptools' own build tree apart from the C build trees.
        "build": {"build_base": os.path.join("build", "py-setuptools")},
    },
)
