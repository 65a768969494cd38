"""cffi build script (API, out-of-line mode): noxrunner._native.

The cdef is generated from the public header (see cdefgen.py); the
extension links the static core library built by CMake (corebuild.py), so
it carries the core and needs only libcurl, libcjson and libarchive.
"""

import os
import sys

from cffi import FFI

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdefgen  # noqa: E402
import corebuild  # noqa: E402

ROOT = corebuild.root_dir()
INCLUDE = corebuild.include_dir(ROOT)

ffibuilder = FFI()
ffibuilder.cdef(cdefgen.cdef(INCLUDE))
ffibuilder.set_source(
    "noxrunner._native",
    '#include "noxrunner/noxrunner.h"\n',
    include_dirs=[INCLUDE],
    extra_objects=[corebuild.static_lib(ROOT)],
    # Relink when the core changes: setuptools only compares sources and
    # `depends` against the built extension.
    depends=[corebuild.static_lib(ROOT),
             os.path.join(INCLUDE, "noxrunner", "noxrunner.h")],
    libraries=corebuild.pkg_config_libs(),
    py_limited_api=True,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
