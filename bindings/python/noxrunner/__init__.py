"""
NoxRunner - Python client for NoxRunner sandboxes, on the libnoxrunner C core.

A drop-in for the pure-Python noxrunner 2.0.0 (same names, signatures,
return shapes and exceptions), plus Sandbox objects, streaming output, an
asyncio client and typed exceptions.

Example:
    >>> from noxrunner import NoxRunnerClient
    >>> client = NoxRunnerClient("http://127.0.0.1:8080")
    >>> client.create_sandbox("my-session")
    >>> result = client.exec("my-session", ["python3", "--version"])
    >>> print(result["stdout"])
"""

__version__ = "2.1.0"
__author__ = "NoxRunner Team"

from noxrunner._core import abi_version, agent_path, core_version, server_path
from noxrunner.aio import AsyncExecStream, AsyncNoxRunnerClient, AsyncSandbox
from noxrunner.client import NoxRunnerClient
from noxrunner.exceptions import (
    ArchiveRejectedError,
    AuthenticationError,
    CanceledError,
    ConnectionFailedError,
    InvalidArgumentError,
    LimitExceededError,
    NoxRunnerError,
    NoxRunnerHTTPError,
    NoxRunnerIOError,
    NoxRunnerTimeoutError,
    OutOfMemoryError,
    ProtocolError,
    SandboxError,
    SandboxNotFoundError,
    SandboxNotReadyError,
    UnsupportedError,
    VersionMismatchError,
)
from noxrunner.results import ExecResult, OutputChunk
from noxrunner.sandbox import Sandbox
from noxrunner.stream import ExecStream

__all__ = [
    "NoxRunnerClient",
    "NoxRunnerError",
    "NoxRunnerHTTPError",
    # beyond 2.0.0
    "AsyncNoxRunnerClient",
    "AsyncSandbox",
    "AsyncExecStream",
    "Sandbox",
    "ExecStream",
    "ExecResult",
    "OutputChunk",
    "ArchiveRejectedError",
    "AuthenticationError",
    "CanceledError",
    "ConnectionFailedError",
    "InvalidArgumentError",
    "LimitExceededError",
    "NoxRunnerIOError",
    "NoxRunnerTimeoutError",
    "OutOfMemoryError",
    "ProtocolError",
    "SandboxError",
    "SandboxNotFoundError",
    "SandboxNotReadyError",
    "UnsupportedError",
    "VersionMismatchError",
    "core_version",
    "abi_version",
    "agent_path",
    "server_path",
]
