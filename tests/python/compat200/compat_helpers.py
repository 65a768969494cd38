"""Public-API stand-ins for the private internals that noxrunner 2.0.0's
tests reached into (``backend._get_sandbox_path(...)``, ``_sandboxes``):
the local sandbox's files are read and written through the sandbox itself,
and "does it exist" is asked of the backend."""

from __future__ import annotations

import io
import tarfile
from typing import Any, Dict


def sandbox_exists(backend: Any, session_id: str) -> bool:
    return session_id in [b["sessionId"] for b in backend.list_sandboxes()]


def write_file(backend: Any, session_id: str, rel: str, content: str) -> None:
    backend.upload_files(session_id, {rel: content})


def mkdir(backend: Any, session_id: str, rel: str) -> None:
    r = backend.exec(session_id, ["mkdir", "-p", f"/workspace/{rel}"])
    assert r["exitCode"] == 0, r


def workspace_files(backend: Any, session_id: str) -> Dict[str, bytes]:
    data = backend.download_files(session_id)
    out: Dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for m in tar.getmembers():
            if m.isfile():
                f = tar.extractfile(m)
                assert f is not None
                out[m.name[2:] if m.name.startswith("./") else m.name] = f.read()
    return out
