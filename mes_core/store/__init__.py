"""mes_core.store: storage over SQLAlchemy Core (SQLite or PostgreSQL)."""

__all__: list[str] = []
