"""Initial schema, first written by `flask db migration initial`."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Create the first schema: stations, users, cases, reports, photos, faces,
    searches and the audit log."""

    @migrator.create_model
    class AuditLog(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField(index=True)
        user_id = pw.IntegerField(index=True, null=True)
        username = pw.CharField(default="", max_length=50)
        action = pw.CharField(index=True, max_length=40)
        object_type = pw.CharField(default="", max_length=40)
        object_id = pw.CharField(default="", max_length=40)
        detail = pw.TextField(default="{}")
        ip = pw.CharField(default="", max_length=45)
        request_id = pw.CharField(default="", max_length=40)
        prev_hash = pw.CharField(max_length=64)
        row_hash = pw.CharField(max_length=64, unique=True)

        class Meta:
            table_name = "audit_log"

    @migrator.create_model
    class Station(pw.Model):
        id = pw.AutoField()
        name = pw.CharField(max_length=100, unique=True)
        short_name = pw.CharField(max_length=20, unique=True)
        kind = pw.CharField(default="district", max_length=20)
        parent = pw.ForeignKeyField(
            column_name="parent_id", field="id", model="self", null=True
        )
        division_code = pw.CharField(default="", max_length=12)
        address = pw.CharField(default="", max_length=200)
        phone = pw.CharField(default="", max_length=40)

        class Meta:
            table_name = "station"

    @migrator.create_model
    class User(pw.Model):
        id = pw.AutoField()
        username = pw.CharField(max_length=50, unique=True)
        full_name = pw.CharField(max_length=50)
        role = pw.CharField(default="staff", max_length=20)
        station = pw.ForeignKeyField(
            column_name="station_id", field="id", model=migrator.orm["station"]
        )
        password_hash = pw.CharField(max_length=200)
        is_active_account = pw.BooleanField(default=True)
        created_at = pw.DateTimeField()
        last_login_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "user"

    @migrator.create_model
    class Case(pw.Model):
        id = pw.AutoField()
        case_number = pw.CharField(max_length=40, unique=True)
        station = pw.ForeignKeyField(
            column_name="station_id", field="id", model=migrator.orm["station"]
        )
        name = pw.CharField(default="", max_length=100)
        sex = pw.CharField(default="unknown", max_length=10)
        age_min = pw.SmallIntegerField(null=True)
        age_max = pw.SmallIntegerField(null=True)
        found_at = pw.DateTimeField(null=True)
        found_place = pw.CharField(default="", max_length=200)
        notes = pw.TextField(default="")
        status = pw.CharField(default="in_station", index=True, max_length=20)
        created_by = pw.ForeignKeyField(
            column_name="created_by_id", field="id", model=migrator.orm["user"]
        )
        created_at = pw.DateTimeField(index=True)
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "case"

    @migrator.create_model
    class CaseNumberCounter(pw.Model):
        id = pw.AutoField()
        station = pw.ForeignKeyField(
            column_name="station_id", field="id", model=migrator.orm["station"]
        )
        year = pw.SmallIntegerField()
        last_value = pw.IntegerField(default=0)

        class Meta:
            table_name = "case_number_counter"
            indexes = [(("station", "year"), True)]

    @migrator.create_model
    class MissingReport(pw.Model):
        id = pw.AutoField()
        sought_name = pw.CharField(max_length=100)
        sex = pw.CharField(default="unknown", max_length=10)
        age_at_missing = pw.SmallIntegerField(null=True)
        last_seen_place = pw.CharField(default="", max_length=200)
        last_seen_on = pw.DateField(null=True)
        reporter_name = pw.CharField(max_length=50)
        reporter_relation = pw.CharField(default="", max_length=20)
        reporter_phone = pw.CharField(default="", max_length=30)
        notes = pw.TextField(default="")
        status = pw.CharField(default="open", index=True, max_length=10)
        station = pw.ForeignKeyField(
            column_name="station_id", field="id", model=migrator.orm["station"]
        )
        created_by = pw.ForeignKeyField(
            column_name="created_by_id", field="id", model=migrator.orm["user"]
        )
        created_at = pw.DateTimeField(index=True)

        class Meta:
            table_name = "missing_report"

    @migrator.create_model
    class Photo(pw.Model):
        id = pw.AutoField()
        case = pw.ForeignKeyField(
            column_name="case_id", field="id", model=migrator.orm["case"], null=True
        )
        report = pw.ForeignKeyField(
            column_name="report_id",
            field="id",
            model=migrator.orm["missing_report"],
            null=True,
        )
        stored_name = pw.CharField(max_length=80, unique=True)
        original_name = pw.CharField(default="", max_length=255)
        sha256 = pw.CharField(index=True, max_length=64)
        width = pw.IntegerField()
        height = pw.IntegerField()
        uploaded_by = pw.ForeignKeyField(
            column_name="uploaded_by_id", field="id", model=migrator.orm["user"]
        )
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "photo"
            constraints = [pw.Check("(case_id IS NULL) <> (report_id IS NULL)")]

    @migrator.create_model
    class FaceSearch(pw.Model):
        id = pw.AutoField()
        photo = pw.ForeignKeyField(
            column_name="photo_id", field="id", model=migrator.orm["photo"]
        )
        case = pw.ForeignKeyField(
            column_name="case_id", field="id", model=migrator.orm["case"]
        )
        user = pw.ForeignKeyField(
            column_name="user_id", field="id", model=migrator.orm["user"]
        )
        model_name = pw.CharField(max_length=40)
        model_version = pw.CharField(max_length=80)
        gallery_size = pw.IntegerField()
        seconds = pw.FloatField()
        created_at = pw.DateTimeField(index=True)

        class Meta:
            table_name = "face_search"

    @migrator.create_model
    class FaceVector(pw.Model):
        id = pw.AutoField()
        photo = pw.ForeignKeyField(
            column_name="photo_id",
            field="id",
            model=migrator.orm["photo"],
            on_delete="CASCADE",
        )
        model_name = pw.CharField(max_length=40)
        model_version = pw.CharField(max_length=80)
        detector = pw.CharField(max_length=40)
        vector = pw.BlobField()
        box_left = pw.IntegerField()
        box_top = pw.IntegerField()
        box_width = pw.IntegerField()
        box_height = pw.IntegerField()
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "face_vector"
            indexes = [(("model_name", "model_version"), False)]

    @migrator.create_model
    class GalleryRevision(pw.Model):
        id = pw.AutoField()
        token = pw.CharField(max_length=32)

        class Meta:
            table_name = "gallery_revision"

    @migrator.create_model
    class MatchCandidate(pw.Model):
        id = pw.AutoField()
        search = pw.ForeignKeyField(
            column_name="search_id",
            field="id",
            model=migrator.orm["face_search"],
            on_delete="CASCADE",
        )
        report = pw.ForeignKeyField(
            column_name="report_id", field="id", model=migrator.orm["missing_report"]
        )
        report_photo = pw.ForeignKeyField(
            column_name="report_photo_id", field="id", model=migrator.orm["photo"]
        )
        rank = pw.SmallIntegerField()
        similarity = pw.FloatField()
        band = pw.CharField(max_length=10)

        class Meta:
            table_name = "match_candidate"
            indexes = [(("search", "rank"), True)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Drop every table of the first schema."""

    migrator.remove_model("match_candidate")

    migrator.remove_model("gallery_revision")

    migrator.remove_model("face_vector")

    migrator.remove_model("face_search")

    migrator.remove_model("photo")

    migrator.remove_model("missing_report")

    migrator.remove_model("case_number_counter")

    migrator.remove_model("case")

    migrator.remove_model("user")

    migrator.remove_model("station")

    migrator.remove_model("audit_log")
