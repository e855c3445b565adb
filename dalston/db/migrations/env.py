"""Alembic environment: migrates the database named by DALSTON_DATABASE_URL (or the given URL)."""

from alembic import context

from dalston.config import get_settings
from dalston.db import models  # noqa: F401 - registers the tables on Base.metadata
from dalston.db.base import Base
from dalston.db.session import make_engine

config = context.config
url = (
    config.attributes.get("url")
    or config.get_main_option("sqlalchemy.url")
    or get_settings().database_url
)


def run_migrations_offline() -> None:
    context.configure(
        url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=Base.metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
