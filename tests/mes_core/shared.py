"""Where the MES tests find the shared reference data."""

from __future__ import annotations

from tests.shared_data import shared_dir

__all__ = ["shared_dir"]
