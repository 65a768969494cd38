"""
Backend implementations for NoxRunner (both on the C core):

- LocalBackend: sandboxes on this machine
- HTTPSandboxBackend: any NoxRunner-compatible server
"""

from noxrunner.backend.base import SandboxBackend
from noxrunner.backend.http import HTTPSandboxBackend
from noxrunner.backend.local import LocalBackend

# Backward compatibility aliases (2.0.0 still exported them here).
LocalSandboxBackend = LocalBackend
RemoteSandboxBackend = HTTPSandboxBackend

__all__ = [
    "SandboxBackend",
    "LocalBackend",
    "LocalSandboxBackend",
    "HTTPSandboxBackend",
    "RemoteSandboxBackend",
]
