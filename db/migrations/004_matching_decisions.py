"""Decisions on pairs of records, fact-aware candidate scores and more report
facts, first written by `flask db migration matching_decisions`."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Add match decisions, candidate scores with facts, and report facts."""
    migrator.add_fields(
        "missing_report",
        height_cm=pw.SmallIntegerField(null=True),
        dialect=pw.CharField(default="", max_length=100),
        marks=pw.TextField(default=""),
    )
    migrator.add_fields(
        "match_candidate",
        combined_score=pw.FloatField(default=0.0),
        facts=pw.TextField(default="[]"),
    )

    @migrator.create_model
    class MatchDecision(pw.Model):
        id = pw.AutoField()
        case = pw.ForeignKeyField(
            column_name="case_id", field="id", model=migrator.orm["case"]
        )
        report = pw.ForeignKeyField(
            column_name="report_id", field="id", model=migrator.orm["missing_report"]
        )
        kind = pw.CharField(default="search", max_length=20)
        status = pw.CharField(default="pending", index=True, max_length=20)
        face_score = pw.FloatField()
        combined_score = pw.FloatField(default=0.0)
        band = pw.CharField(max_length=10)
        facts = pw.TextField(default="[]")
        reason = pw.TextField(default="")
        reviewer = pw.ForeignKeyField(
            column_name="reviewer_id", field="id", model=migrator.orm["user"], null=True
        )
        reviewed_at = pw.DateTimeField(null=True)
        signed_off_by = pw.ForeignKeyField(
            column_name="signed_off_by_id",
            field="id",
            model=migrator.orm["user"],
            null=True,
        )
        signed_off_at = pw.DateTimeField(null=True)
        reopened_at = pw.DateTimeField(null=True)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "match_decision"
            indexes = [(("case", "report"), True)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Remove what `migrate` added."""
    migrator.remove_model("match_decision")
    migrator.remove_fields("match_candidate", "combined_score", "facts")
    migrator.remove_fields("missing_report", "height_cm", "dialect", "marks")
