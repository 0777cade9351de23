"""Alembic environment for idgate's storage.

idgate runs migrations itself when it opens storage (:func:`idgate.storage.sql.migrate.upgrade`), handing
Alembic an open connection in ``config.attributes["connection"]``; there is no ``alembic.ini``. To write a
new revision during development::

    alembic -x url=sqlite:///dev.db -c /dev/null revision -m "..."   # then edit versions/NNNN_*.py

with ``script_location`` pointing at this directory.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only for hand-run alembic commands
    raise RuntimeError("idgate migrations run through idgate.storage.sql.migrate.upgrade()")

context.configure(connection=connection, target_metadata=None, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
