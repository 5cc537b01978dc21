"""Case records, first written by `flask db migration case_records`."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Add the full case record: identity, placements, status history,
    interviews, clues, tasks, attachments, settings and search tokens."""

    migrator.add_fields(
        "case",
        dialect=pw.CharField(default="", max_length=100),
        height_cm=pw.SmallIntegerField(null=True),
        build=pw.CharField(default="", max_length=50),
        marks=pw.TextField(default=""),
        arrival_way=pw.CharField(default="other", max_length=20),
        health=pw.TextField(default=""),
        disability=pw.CharField(default="", max_length=200),
        medication=pw.TextField(default=""),
        belongings=pw.TextField(default=""),
        contacts_mentioned=pw.TextField(default=""),
        id_number=pw.CharField(index=True, max_length=18, null=True),
        id_region_code=pw.CharField(default="", max_length=6),
        id_birth_date=pw.DateField(null=True),
        placement=pw.CharField(default="station", index=True, max_length=20),
        placement_since=pw.DateField(null=True),
        dna_status=pw.CharField(default="none", max_length=20),
        dna_note=pw.TextField(default=""),
        merged_into=pw.ForeignKeyField(
            column_name="merged_into_id", field="id", model="self", null=True
        ),
        version=pw.IntegerField(default=1),
    )

    migrator.drop_index("case", "status")

    migrator.add_index("case", "found_at", unique=False)

    migrator.add_index("case", "station", "status", "created_at", unique=False)

    migrator.add_index("case", "status", "created_at", unique=False)

    @migrator.create_model
    class Attachment(pw.Model):
        id = pw.AutoField()
        case = pw.ForeignKeyField(
            column_name="case_id",
            field="id",
            model=migrator.orm["case"],
            on_delete="CASCADE",
        )
        stored_name = pw.CharField(max_length=80, unique=True)
        original_name = pw.CharField(max_length=255)
        mime_type = pw.CharField(max_length=80)
        size = pw.IntegerField()
        sha256 = pw.CharField(max_length=64)
        description = pw.CharField(default="", max_length=200)
        uploaded_by = pw.ForeignKeyField(
            column_name="uploaded_by_id", field="id", model=migrator.orm["user"]
        )
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "attachment"

    @migrator.create_model
    class CaseAlias(pw.Model):
        id = pw.AutoField()
        case = pw.ForeignKeyField(
            column_name="case_id",
            field="id",
            model=migrator.orm["case"],
            on_delete="CASCADE",
        )
        name = pw.CharField(max_length=100)
        kind = pw.CharField(default="alias", max_length=20)

        class Meta:
            table_name = "case_alias"

    @migrator.create_model
    class Interview(pw.Model):
        id = pw.AutoField()
        case = pw.ForeignKeyField(
            column_name="case_id",
            field="id",
            model=migrator.orm["case"],
            on_delete="CASCADE",
        )
        held_at = pw.DateTimeField()
        interviewer = pw.ForeignKeyField(
            column_name="interviewer_id", field="id", model=migrator.orm["user"]
        )
        dialect_helper = pw.CharField(default="", max_length=100)
        content = pw.TextField()
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "interview"

    @migrator.create_model
    class Clue(pw.Model):
        id = pw.AutoField()
        case = pw.ForeignKeyField(
            column_name="case_id",
            field="id",
            model=migrator.orm["case"],
            on_delete="CASCADE",
        )
        interview = pw.ForeignKeyField(
            column_name="interview_id",
            field="id",
            model=migrator.orm["interview"],
            null=True,
            on_delete="SET NULL",
        )
        kind = pw.CharField(max_length=20)
        text = pw.CharField(max_length=200)
        division_code = pw.CharField(default="", max_length=12)
        interpretation = pw.CharField(default="", max_length=300)
        status = pw.CharField(default="open", max_length=20)
        note = pw.TextField(default="")
        created_by = pw.ForeignKeyField(
            column_name="created_by_id", field="id", model=migrator.orm["user"]
        )
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "clue"

    @migrator.create_model
    class Placement(pw.Model):
        id = pw.AutoField()
        case = pw.ForeignKeyField(
            column_name="case_id",
            field="id",
            model=migrator.orm["case"],
            on_delete="CASCADE",
        )
        kind = pw.CharField(max_length=20)
        institution = pw.CharField(default="", index=True, max_length=200)
        start_date = pw.DateField()
        end_date = pw.DateField(null=True)
        notes = pw.TextField(default="")
        created_by = pw.ForeignKeyField(
            column_name="created_by_id", field="id", model=migrator.orm["user"]
        )
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "placement"

    @migrator.create_model
    class SearchToken(pw.Model):
        id = pw.AutoField()
        kind = pw.CharField(max_length=10)
        object_id = pw.IntegerField()
        token = pw.CharField(max_length=64)
        weight = pw.SmallIntegerField(default=1)

        class Meta:
            table_name = "search_token"
            indexes = [
                (("token", "kind", "object_id"), False),
                (("kind", "object_id"), False),
            ]

    @migrator.create_model
    class Setting(pw.Model):
        id = pw.AutoField()
        key = pw.CharField(max_length=50, unique=True)
        value = pw.IntegerField()
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "setting"

    @migrator.create_model
    class StatusChange(pw.Model):
        id = pw.AutoField()
        case = pw.ForeignKeyField(
            column_name="case_id",
            field="id",
            model=migrator.orm["case"],
            on_delete="CASCADE",
        )
        from_status = pw.CharField(max_length=20)
        to_status = pw.CharField(max_length=20)
        reason = pw.TextField()
        user = pw.ForeignKeyField(
            column_name="user_id", field="id", model=migrator.orm["user"]
        )
        created_at = pw.DateTimeField(index=True)

        class Meta:
            table_name = "status_change"

    @migrator.create_model
    class Task(pw.Model):
        id = pw.AutoField()
        case = pw.ForeignKeyField(
            column_name="case_id",
            field="id",
            model=migrator.orm["case"],
            on_delete="CASCADE",
        )
        clue = pw.ForeignKeyField(
            column_name="clue_id",
            field="id",
            model=migrator.orm["clue"],
            null=True,
            on_delete="SET NULL",
        )
        kind = pw.CharField(max_length=30)
        rule = pw.CharField(max_length=30, null=True)
        title = pw.CharField(max_length=200)
        owner = pw.ForeignKeyField(
            column_name="owner_id", field="id", model=migrator.orm["user"], null=True
        )
        due_at = pw.DateTimeField(index=True, null=True)
        status = pw.CharField(default="open", index=True, max_length=20)
        outcome = pw.TextField(default="")
        escalated_at = pw.DateTimeField(null=True)
        created_at = pw.DateTimeField()
        completed_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "task"
            indexes = [(("case", "rule"), True)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Remove what `migrate` added."""

    migrator.remove_fields(
        "case",
        "dialect",
        "height_cm",
        "build",
        "marks",
        "arrival_way",
        "health",
        "disability",
        "medication",
        "belongings",
        "contacts_mentioned",
        "id_number",
        "id_region_code",
        "id_birth_date",
        "placement",
        "placement_since",
        "dna_status",
        "dna_note",
        "merged_into",
        "version",
    )

    migrator.drop_index("case", "found_at")

    migrator.drop_index("case", "station", "status", "created_at")

    migrator.drop_index("case", "status", "created_at")

    migrator.add_index("case", "status", unique=False)

    migrator.remove_model("task")

    migrator.remove_model("status_change")

    migrator.remove_model("setting")

    migrator.remove_model("search_token")

    migrator.remove_model("placement")

    migrator.remove_model("clue")

    migrator.remove_model("interview")

    migrator.remove_model("case_alias")

    migrator.remove_model("attachment")
