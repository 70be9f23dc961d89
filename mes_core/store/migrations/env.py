"""The Alembic environment of the MES tables: runs the revisions in ``versions/`` against ``schema.metadata``.

``mes_core.store.engine.migrate`` passes its own connection in ``config.attributes["connection"]`` (no
alembic.ini is needed); the Alembic command line works too, given an ini file with ``script_location`` set to
this directory and ``sqlalchemy.url`` set to the database, e.g. to write a new revision with
``alembic -c my.ini revision --autogenerate -m "what changed"`` (then review it by hand). Offline mode
(``--sql``) prints the SQL instead of running it. SQLite alters tables by copying them (``render_as_batch``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from mes_core.store.engine import connect
from mes_core.store.schema import metadata

__all__: list[str] = []


def _url() -> str:
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: set sqlalchemy.url in the Alembic config, or call engine.migrate()")
    return url


def run_offline() -> None:
    """Write the migrations as SQL for the URL's dialect, without a database."""
    url = _url()
    context.configure(
        url=url,
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run the migrations on the connection passed in, else on a new one to ``sqlalchemy.url``."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = connect(_url())
    try:
        with engine.begin() as own:
            _run(own)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
