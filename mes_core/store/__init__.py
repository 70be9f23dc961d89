"""mes_core.store: storage over SQLAlchemy Core (SQLite or PostgreSQL): engine, migrations, writer, queries.

The queries the services make are in ``mes_core.store.repository``; the tables in ``mes_core.store.schema``.
"""

from mes_core.store.engine import connect, migrate, transaction
from mes_core.store.errors import ConflictError, StoreError
from mes_core.store.writer import BatchWriter

__all__ = ["BatchWriter", "ConflictError", "StoreError", "connect", "migrate", "transaction"]
