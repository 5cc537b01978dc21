"""Generated documents, their numbering, received letters, batches and
commendations, written by hand."""

import peewee as pw
from peewee_migrate import Migrator


def _fk(migrator, table, column, **options):
    return pw.ForeignKeyField(
        column_name=column, field="id", model=migrator.orm[table], **options
    )


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Add the tables of the document service and of commendations."""

    @migrator.create_model
    class DocumentBatch(pw.Model):
        id = pw.AutoField()
        station = _fk(migrator, "station", "station_id")
        kind = pw.CharField(max_length=20)
        params = pw.TextField(default="{}")
        status = pw.CharField(default="queued", max_length=20)
        total = pw.IntegerField(default=0)
        done = pw.IntegerField(default=0)
        failed = pw.IntegerField(default=0)
        problems = pw.TextField(default="[]")
        zip_name = pw.CharField(max_length=80, null=True)
        created_by = _fk(migrator, "user", "created_by_id")
        created_at = pw.DateTimeField()
        finished_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "document_batch"

    @migrator.create_model
    class Commendation(pw.Model):
        id = pw.AutoField()
        station = _fk(migrator, "station", "station_id")
        case = _fk(migrator, "case", "case_id", null=True)
        kind = pw.CharField(default="banner", max_length=20)
        giver = pw.CharField(max_length=100)
        giver_relation = pw.CharField(default="", max_length=50)
        place = pw.CharField(default="", max_length=200)
        received_on = pw.DateField(index=True)
        banner_text = pw.CharField(default="", max_length=200)
        letter_text = pw.TextField(default="")
        note = pw.TextField(default="")
        created_by = _fk(migrator, "user", "created_by_id")
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "commendation"

    @migrator.create_model
    class CommendationStaff(pw.Model):
        id = pw.AutoField()
        commendation = _fk(
            migrator, "commendation", "commendation_id", on_delete="CASCADE"
        )
        user = _fk(migrator, "user", "user_id")

        class Meta:
            table_name = "commendation_staff"
            indexes = ((("commendation", "user"), True),)

    @migrator.create_model
    class CommendationPhoto(pw.Model):
        id = pw.AutoField()
        commendation = _fk(
            migrator, "commendation", "commendation_id", on_delete="CASCADE"
        )
        stored_name = pw.CharField(max_length=80, unique=True)
        original_name = pw.CharField(max_length=255)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "commendation_photo"

    @migrator.create_model
    class Document(pw.Model):
        id = pw.AutoField()
        serial = pw.CharField(max_length=60, index=True)
        version = pw.SmallIntegerField(default=1)
        verify_code = pw.CharField(max_length=32, unique=True)
        kind = pw.CharField(max_length=20)
        title = pw.CharField(max_length=200)
        station = _fk(migrator, "station", "station_id")
        case = _fk(migrator, "case", "case_id", null=True)
        decision = _fk(migrator, "match_decision", "decision_id", null=True)
        commendation = _fk(migrator, "commendation", "commendation_id", null=True)
        recipient = pw.CharField(default="", max_length=200)
        content = pw.TextField(default="{}")
        previous = pw.ForeignKeyField(
            column_name="previous_id", field="id", model="self", null=True
        )
        correction_reason = pw.TextField(default="")
        superseded_at = pw.DateTimeField(null=True)
        stored_name = pw.CharField(max_length=80, unique=True)
        sha256 = pw.CharField(max_length=64)
        size = pw.IntegerField()
        pages = pw.SmallIntegerField()
        batch = _fk(migrator, "document_batch", "batch_id", null=True)
        created_by = _fk(migrator, "user", "created_by_id")
        created_at = pw.DateTimeField(index=True)

        class Meta:
            table_name = "document"
            indexes = ((("serial", "version"), True), (("station", "kind"), False))

    @migrator.create_model
    class DocumentPrefix(pw.Model):
        id = pw.AutoField()
        station = _fk(migrator, "station", "station_id")
        kind = pw.CharField(max_length=20)
        prefix = pw.CharField(max_length=20)

        class Meta:
            table_name = "document_prefix"
            indexes = ((("station", "kind"), True),)

    @migrator.create_model
    class DocumentCounter(pw.Model):
        id = pw.AutoField()
        station = _fk(migrator, "station", "station_id")
        kind = pw.CharField(max_length=20)
        year = pw.SmallIntegerField()
        last_value = pw.IntegerField(default=0)

        class Meta:
            table_name = "document_counter"
            indexes = ((("station", "kind", "year"), True),)

    @migrator.create_model
    class DocumentSetting(pw.Model):
        id = pw.AutoField()
        key = pw.CharField(max_length=50, unique=True)
        value = pw.CharField(max_length=200)
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "document_setting"

    @migrator.create_model
    class IncomingLetter(pw.Model):
        id = pw.AutoField()
        station = _fk(migrator, "station", "station_id")
        serial = pw.CharField(max_length=60)
        sender = pw.CharField(max_length=200)
        subject = pw.CharField(max_length=200)
        received_on = pw.DateField(index=True)
        case = _fk(migrator, "case", "case_id", null=True)
        note = pw.TextField(default="")
        stored_name = pw.CharField(max_length=80, null=True)
        mime_type = pw.CharField(default="", max_length=80)
        sha256 = pw.CharField(default="", max_length=64)
        created_by = _fk(migrator, "user", "created_by_id")
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "incoming_letter"
            indexes = ((("station", "sender", "serial"), True),)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Drop the document and commendation tables."""
    for table in (
        "incoming_letter",
        "document_setting",
        "document_counter",
        "document_prefix",
        "document",
        "commendation_photo",
        "commendation_staff",
        "commendation",
        "document_batch",
    ):
        migrator.remove_model(table)
