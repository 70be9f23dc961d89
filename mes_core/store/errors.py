"""The storage errors: the database could not be reached or refused a write."""

from __future__ import annotations

from mes_core.errors import MesError

__all__ = ["ConflictError", "StoreError"]


class StoreError(MesError):
    """The database is unreachable, its URL is bad, or it failed a read or write.

    Messages name the database URL without its password.
    """


class ConflictError(StoreError):
    """A row with the same unique key already exists (a tenant name or token, a machine id)."""
