"""Bulk import jobs and their rows, written by hand."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Add import_job and import_item for bulk imports of missing-person
    reports."""

    @migrator.create_model
    class ImportJob(pw.Model):
        id = pw.AutoField()
        station = pw.ForeignKeyField(
            column_name="station_id", field="id", model=migrator.orm["station"]
        )
        created_by = pw.ForeignKeyField(
            column_name="created_by_id", field="id", model=migrator.orm["user"]
        )
        archive_name = pw.CharField(default="", max_length=255)
        folder_name = pw.CharField(default="", max_length=255)
        sheet_name = pw.CharField(max_length=255)
        storage_key = pw.CharField(max_length=32, unique=True)
        status = pw.CharField(default="queued", index=True, max_length=20)
        total = pw.IntegerField(default=0)
        imported = pw.IntegerField(default=0)
        skipped = pw.IntegerField(default=0)
        failed = pw.IntegerField(default=0)
        error = pw.TextField(default="")
        worker_token = pw.CharField(default="", max_length=32)
        created_at = pw.DateTimeField(index=True)
        started_at = pw.DateTimeField(null=True)
        finished_at = pw.DateTimeField(null=True)
        heartbeat_at = pw.DateTimeField()

        class Meta:
            table_name = "import_job"

    @migrator.create_model
    class ImportItem(pw.Model):
        id = pw.AutoField()
        job = pw.ForeignKeyField(
            column_name="job_id",
            field="id",
            model=migrator.orm["import_job"],
            on_delete="CASCADE",
        )
        row_number = pw.IntegerField()
        status = pw.CharField(default="pending", max_length=20)
        sought_name = pw.CharField(default="", max_length=100)
        data = pw.TextField(default="{}")
        row_key = pw.CharField(default="", index=True, max_length=64)
        report = pw.ForeignKeyField(
            column_name="report_id",
            field="id",
            model=migrator.orm["missing_report"],
            null=True,
            on_delete="SET NULL",
        )
        message = pw.TextField(default="")
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "import_item"
            indexes = [(("job", "row_number"), True), (("job", "status"), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Remove import_item and import_job."""
    migrator.remove_model("import_item")
    migrator.remove_model("import_job")
