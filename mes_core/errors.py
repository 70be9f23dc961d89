"""The MES core's base exception, which every error it raises on purpose derives from."""

from __future__ import annotations

__all__ = ["MesError"]


class MesError(Exception):
    """Something the MES core could not do: a database it cannot reach, a machine it cannot read."""
