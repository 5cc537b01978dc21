"""Index only merged cases, so lists of unmerged cases use better indexes."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Replace the index on case.merged_into_id with a partial one.

    Almost every case has merged_into_id NULL, yet SQLite chose the full
    index for "merged_into_id IS NULL" and then read and sorted nearly all
    cases for each list page. A partial index of the merged rows serves the
    lookups of merged records and leaves lists to the (station, status,
    created_at) indexes. peewee_migrate's add_index has no WHERE clause.
    """
    migrator.sql('DROP INDEX IF EXISTS "case_merged_into_id"')
    migrator.sql(
        'CREATE INDEX IF NOT EXISTS "case_merged_into_id_merged" ON "case" '
        '("merged_into_id") WHERE "merged_into_id" IS NOT NULL'
    )


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Restore the full index."""
    migrator.sql('DROP INDEX IF EXISTS "case_merged_into_id_merged"')
    migrator.sql('CREATE INDEX "case_merged_into_id" ON "case" ("merged_into_id")')
