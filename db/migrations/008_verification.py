"""Station directory, agreements and identity-verification requests, written
by hand."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Add directory columns to station, and the contact, agreement and
    verification tables."""
    migrator.add_fields(
        "station",
        directory_group=pw.CharField(default="", max_length=20),
        uses_platform=pw.BooleanField(default=False),
        channels=pw.TextField(default=""),
    )
    station_model = migrator.orm["station"]
    user_model = migrator.orm["user"]

    @migrator.create_model
    class StationContact(pw.Model):
        id = pw.AutoField()
        station = pw.ForeignKeyField(
            column_name="station_id",
            field="id",
            model=station_model,
            on_delete="CASCADE",
        )
        name = pw.CharField(max_length=50)
        title = pw.CharField(default="", max_length=50)
        phone = pw.CharField(default="", max_length=40)
        channel = pw.CharField(default="", max_length=200)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "station_contact"

    @migrator.create_model
    class Agreement(pw.Model):
        id = pw.AutoField()
        station = pw.ForeignKeyField(
            column_name="station_id",
            field="id",
            model=station_model,
            on_delete="CASCADE",
        )
        kind = pw.CharField(max_length=30)
        title = pw.CharField(max_length=200)
        signed_on = pw.DateField(null=True)
        valid_from = pw.DateField()
        valid_until = pw.DateField(null=True)
        scope = pw.TextField(default="")
        stored_name = pw.CharField(max_length=80, null=True, unique=True)
        original_name = pw.CharField(default="", max_length=255)
        mime_type = pw.CharField(default="", max_length=80)
        sha256 = pw.CharField(default="", max_length=64)
        created_by = pw.ForeignKeyField(
            column_name="created_by_id", field="id", model=user_model
        )
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "agreement"

    @migrator.create_model
    class VerificationRequest(pw.Model):
        id = pw.AutoField()
        public_id = pw.CharField(max_length=32, unique=True)
        case = pw.ForeignKeyField(
            column_name="case_id",
            field="id",
            model=migrator.orm["case"],
            null=True,
            on_delete="CASCADE",
        )
        from_station = pw.ForeignKeyField(
            column_name="from_station_id", field="id", model=station_model
        )
        to_station = pw.ForeignKeyField(
            column_name="to_station_id", field="id", model=station_model
        )
        imported = pw.BooleanField(default=False)
        case_number = pw.CharField(default="", max_length=40)
        known_facts = pw.TextField(default="")
        id_number = pw.CharField(max_length=18, null=True)
        asks = pw.CharField(default="", max_length=200)
        question = pw.TextField(default="")
        contact_name = pw.CharField(default="", max_length=50)
        contact_phone = pw.CharField(default="", max_length=40)
        due_date = pw.DateField(index=True, null=True)
        status = pw.CharField(default="draft", index=True, max_length=20)
        outcome = pw.CharField(max_length=20, null=True)
        answer_text = pw.TextField(default="")
        answer_name = pw.CharField(default="", max_length=100)
        answer_address = pw.CharField(default="", max_length=200)
        answer_contact = pw.CharField(default="", max_length=200)
        answer_channel = pw.CharField(default="", max_length=20)
        answered_by_name = pw.CharField(default="", max_length=50)
        close_reason = pw.TextField(default="")
        created_by = pw.ForeignKeyField(
            column_name="created_by_id", field="id", model=user_model, null=True
        )
        created_at = pw.DateTimeField(index=True)
        sent_at = pw.DateTimeField(index=True, null=True)
        received_at = pw.DateTimeField(null=True)
        answered_at = pw.DateTimeField(index=True, null=True)
        closed_at = pw.DateTimeField(null=True)
        reminded_at = pw.DateTimeField(null=True)
        reminder_count = pw.IntegerField(default=0)
        signoff_status = pw.CharField(default="", max_length=20)
        signed_off_by = pw.ForeignKeyField(
            column_name="signed_off_by_id", field="id", model=user_model, null=True
        )
        signed_off_at = pw.DateTimeField(null=True)
        import_checksum = pw.CharField(max_length=64, null=True, unique=True)
        reply_checksum = pw.CharField(max_length=64, null=True, unique=True)
        version = pw.IntegerField(default=1)

        class Meta:
            table_name = "verification_request"
            indexes = [
                (("from_station", "status"), False),
                (("to_station", "status"), False),
            ]

    @migrator.create_model
    class VerificationEvent(pw.Model):
        id = pw.AutoField()
        request = pw.ForeignKeyField(
            column_name="request_id",
            field="id",
            model=migrator.orm["verification_request"],
            on_delete="CASCADE",
        )
        from_status = pw.CharField(default="", max_length=20)
        to_status = pw.CharField(max_length=20)
        user = pw.ForeignKeyField(
            column_name="user_id", field="id", model=user_model, null=True
        )
        actor_name = pw.CharField(default="", max_length=100)
        station = pw.ForeignKeyField(
            column_name="station_id", field="id", model=station_model
        )
        note = pw.TextField(default="")
        created_at = pw.DateTimeField(index=True)

        class Meta:
            table_name = "verification_event"

    @migrator.create_model
    class VerificationFile(pw.Model):
        id = pw.AutoField()
        request = pw.ForeignKeyField(
            column_name="request_id",
            field="id",
            model=migrator.orm["verification_request"],
            on_delete="CASCADE",
        )
        role = pw.CharField(max_length=20)
        photo = pw.ForeignKeyField(
            column_name="photo_id",
            field="id",
            model=migrator.orm["photo"],
            null=True,
            on_delete="CASCADE",
        )
        stored_name = pw.CharField(max_length=80, null=True, unique=True)
        original_name = pw.CharField(default="", max_length=255)
        mime_type = pw.CharField(default="image/jpeg", max_length=80)
        size = pw.IntegerField(default=0)
        sha256 = pw.CharField(default="", max_length=64)
        uploaded_by = pw.ForeignKeyField(
            column_name="uploaded_by_id", field="id", model=user_model, null=True
        )
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "verification_file"


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Remove the verification and directory tables and columns."""
    migrator.remove_model("verification_file")
    migrator.remove_model("verification_event")
    migrator.remove_model("verification_request")
    migrator.remove_model("agreement")
    migrator.remove_model("station_contact")
    migrator.remove_fields("station", "directory_group", "uses_platform", "channels")
