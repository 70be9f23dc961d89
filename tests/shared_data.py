"""Where tests find the shared reference data (schemas, device files, recordings, alarm lists)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def shared_dir() -> Path:
    """The shared data directory: ``$MESTWIN_SHARED``, else ``<repo>/../shared``.

    Skips the calling test when the directory (or its ``mtconnect/`` data) is absent, and fails it instead
    when ``CI=true``, so CI cannot pass by skipping the real-world checks.
    """
    env = os.environ.get("MESTWIN_SHARED")
    directory = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"
    if (directory / "mtconnect").is_dir():
        return directory
    reason = f"shared data not found at {directory} (set MESTWIN_SHARED or check out ../shared)"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)
