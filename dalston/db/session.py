"""Engine and session factory shared by the API (closed on request teardown) and the tasks.

Engines are created lazily per process and disposed in forked children (Celery prefork),
so no connection is ever shared across a fork.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

_lock = threading.Lock()
_engines: dict[str, sa.Engine] = {}
_factories: dict[str, sessionmaker] = {}


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url``.

    SQLite gets WAL and a busy timeout, so the API and worker threads can share it.
    """
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def get_engine(url: str) -> sa.Engine:
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
            _factories[url] = sessionmaker(engine, expire_on_commit=False)
        return engine


def session_factory(url: str) -> sessionmaker:
    get_engine(url)
    return _factories[url]


@contextlib.contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_all() -> None:
    """Drop pooled connections (called in forked children, which must not reuse the parent's)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=dispose_all)
