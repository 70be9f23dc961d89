"""The Alembic migrations of the MES tables: ``env.py`` and one file per revision in ``versions/``."""

__all__: list[str] = []
