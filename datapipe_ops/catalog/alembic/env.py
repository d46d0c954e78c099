"""The Alembic environment of the catalog.

At run time :func:`datapipe_ops.catalog.migrations.migrate` hands over an open connection, inside
the transaction (and lock) it holds, as ``config.attributes["connection"]``. Run from the
``alembic`` command (``[tool.alembic]`` in pyproject.toml, for writing a new revision) it opens
the catalog given by ``-x url=…`` or else ``DATAPIPE_CATALOG_URL`` (the default catalog).
"""

from alembic import context

from datapipe_ops import settings
from datapipe_ops.catalog.connection import create_catalog_engine
from datapipe_ops.catalog.schema import METADATA

config = context.config
options = {"target_metadata": METADATA, "compare_type": True}

if context.is_offline_mode():
    url = context.get_x_argument(as_dictionary=True).get("url") or settings.catalog_url()
    context.configure(url=url, literal_binds=True, **options)
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    context.configure(connection=connection, **options)
    with context.begin_transaction():
        context.run_migrations()
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or settings.catalog_url()
    engine = create_catalog_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, **options)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()
