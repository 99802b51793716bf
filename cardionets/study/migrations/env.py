"""Alembic's environment for the reader-study database: `cardionets.study.store.migrate` runs it on the
store's own connection, so the URL (SQLite or PostgreSQL) is whatever the store was opened with."""

from alembic import context

from cardionets.study.store import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
