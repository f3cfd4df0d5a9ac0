"""Locate the shared real-data folder (``../shared/data`` beside the project) for tests that read it.

Tests that use it are marked ``@pytest.mark.shared_data`` and skip with :data:`SKIP_REASON` where it is absent
(a user's machine); CI has it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SKIP_REASON = "../shared/data (the shared real dataset beside the project) is not present on this machine"


def shared_data_dir() -> Path | None:
    """The shared data folder (``<repo>/../shared/data``, resolved) or None when it does not exist."""
    path = (REPO_ROOT / ".." / "shared" / "data").resolve()
    return path if path.is_dir() else None


def require_shared_data() -> Path:
    """The shared data folder; calls :func:`pytest.skip` with :data:`SKIP_REASON` when it is absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip(SKIP_REASON)
    return path
