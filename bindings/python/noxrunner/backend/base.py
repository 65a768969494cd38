"""
Base backend interface for NoxRunner sandbox execution.

This module defines the abstract interface that all sandbox backends must
implement (unchanged from noxrunner 2.0.0).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, List, Optional, Union

__all__ = ["SandboxBackend"]


class SandboxBackend(ABC):
    """
    Abstract base class for sandbox execution backends.

    All backends (local, HTTP, k8s, docker, etc.) must implement this interface.
    This provides a unified API regardless of the underlying implementation.
    """

    @abstractmethod
    def health_check(self) -> bool:
        """Check if the backend is healthy: True if healthy, False otherwise."""

    @abstractmethod
    def create_sandbox(
        self,
        session_id: str,
        ttl_seconds: int = 900,
        image: Optional[str] = None,
        cpu_limit: Optional[str] = None,
        memory_limit: Optional[str] = None,
        ephemeral_storage_limit: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Create or ensure a sandbox exists; a dict with 'podName' (or
        equivalent) and 'expiresAt'."""

    @abstractmethod
    def touch(self, session_id: str) -> bool:
        """Extend the TTL of a sandbox; True if successful."""

    @abstractmethod
    def exec(
        self,
        session_id: str,
        cmd: List[str],
        workdir: str = "/workspace",
        env: Optional[Dict[str, str]] = None,
        timeout_seconds: int = 30,
    ) -> Dict[str, Any]:
        """Execute a command in the sandbox; a dict with 'exitCode',
        'stdout', 'stderr', 'durationMs'."""

    @abstractmethod
    def upload_files(
        self, session_id: str, files: Dict[str, Union[str, bytes]], dest: str = "/workspace"
    ) -> bool:
        """Upload files (path -> str or bytes content); True if successful."""

    @abstractmethod
    def download_files(self, session_id: str, src: str = "/workspace") -> bytes:
        """Download files from the sandbox as a tar.gz archive."""

    @abstractmethod
    def delete_sandbox(self, session_id: str) -> bool:
        """Delete a sandbox; True if successful."""

    @abstractmethod
    def wait_for_pod_ready(self, session_id: str, timeout: int = 30, interval: int = 2) -> bool:
        """Wait for sandbox to be ready: True if ready, False on timeout."""
