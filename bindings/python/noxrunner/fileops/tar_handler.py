"""
Tar archive handling (2.0.0's internal TarHandler, kept for compatibility).

The client itself no longer uses it: uploads are packed and downloads
extracted by the C core. Extraction here is strict: absolute names, '..'
components, links, devices and FIFOs are skipped.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Dict, Optional, Union

__all__ = ["TarHandler"]


def _unsafe(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return name.startswith("/") or ".." in parts


class TarHandler:
    """Creates and extracts tar.gz archives."""

    def create_tar(self, files: Dict[str, Union[str, bytes]]) -> bytes:
        """A tar.gz of {path: content}."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for filepath, content in files.items():
                data = content.encode("utf-8") if isinstance(content, str) else content
                info = tarfile.TarInfo(name=filepath)
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    def create_tar_from_directory(self, directory: Path, src: Path) -> bytes:
        """A tar.gz of the files under directory, named relative to src."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            if directory.is_file():
                tar.add(directory, arcname=directory.name)
            elif directory.is_dir():
                for root, _dirs, names in os.walk(directory):
                    for name in names:
                        p = Path(root) / name
                        tar.add(p, arcname=str(p.relative_to(src)))
        return buf.getvalue()

    def extract_tar(self, tar_data: bytes, dest: Path, sandbox_path: Optional[Path] = None,
                    allow_absolute: bool = False) -> int:
        """Extract the regular files of a tar archive into dest; returns
        how many. Unsafe members are skipped (allow_absolute is accepted
        for compatibility and ignored: absolute names are never written)."""
        if not tar_data:
            return 0
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        root = (sandbox_path or dest).resolve()
        count = 0
        with tarfile.open(fileobj=io.BytesIO(tar_data), mode="r:*") as tar:
            for member in tar.getmembers():
                if not member.isfile() or _unsafe(member.name):
                    continue
                target = dest / member.name
                parent = target.parent
                parent.mkdir(parents=True, exist_ok=True)
                try:
                    parent.resolve().relative_to(root)
                except ValueError:
                    continue
                if target.is_symlink():
                    target.unlink()
                src = tar.extractfile(member)
                if src is None:
                    continue
                with src, open(target, "wb") as out:
                    while True:
                        chunk = src.read(1 << 16)
                        if not chunk:
                            break
                        out.write(chunk)
                os.chmod(target, member.mode & 0o755 | 0o600)
                count += 1
        return count
