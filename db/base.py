"""Database connection shared by all models: SQLite by default, PostgreSQL by URL."""

from datetime import UTC, datetime

import peewee
from playhouse.db_url import connect

database = peewee.DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 5000,
    "synchronous": "normal",
}


def utcnow():
    return datetime.now(UTC).replace(tzinfo=None)


def open_database(url=None, sqlite_path=None):
    """Bind the proxy to PostgreSQL when `url` is given, else to a SQLite file."""
    if url:
        db = connect(url)
        if isinstance(db, peewee.SqliteDatabase):
            db = _sqlite(db.database)
    else:
        db = _sqlite(str(sqlite_path))
    database.initialize(db)
    return db


def _sqlite(path):
    # BEGIN IMMEDIATE takes the write lock at the start of a transaction. With
    # a plain BEGIN, a transaction that reads and then writes fails at once
    # with "database is locked" when another writer committed in between,
    # without waiting for the busy timeout.
    return peewee.SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, lock_type="IMMEDIATE")


def is_postgres():
    return isinstance(database.obj, peewee.PostgresqlDatabase)


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False

    @classmethod
    def get_or_404(cls, *query):
        from flask import abort

        try:
            return cls.get(*query)
        except cls.DoesNotExist:
            abort(404)


class ChoiceLabels:
    """`kind_label` and `status_label` of a model with KINDS and STATUSES maps."""

    @property
    def kind_label(self):
        return self.KINDS.get(self.kind, self.kind)

    @property
    def status_label(self):
        return self.STATUSES.get(self.status, self.status)
