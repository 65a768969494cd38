# The cffi extension built from noxrunner.h (see buildtools/build_ffi.py).
from typing import Any

ffi: Any
lib: Any
