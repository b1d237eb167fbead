"""Alembic's environment: migrations run on the connection `pvc.db.migrate` hands over."""

from alembic import context

from pvc.db.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
