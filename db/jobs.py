"""Bulk import jobs (批量导入) and the outcome of each spreadsheet row."""

import json
from datetime import timedelta

import peewee
from flask_babel import lazy_gettext as _l

from db.accounts import Station, User
from db.base import BaseModel, ChoiceLabels, utcnow
from db.reports import MissingReport


class ImportJob(ChoiceLabels, BaseModel):
    """One import of a photo archive or server folder with a spreadsheet.

    A worker owns a running job through `worker_token` and refreshes
    `heartbeat_at` with every batch it writes, so a job whose heartbeat has
    gone stale was left by a worker that died and may be claimed again.
    """

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STATUSES = {
        QUEUED: _l("排队中"),
        RUNNING: _l("导入中"),
        DONE: _l("已完成"),
        FAILED: _l("已中断"),
        CANCELLED: _l("已取消"),
    }
    ACTIVE = (QUEUED, RUNNING)

    station = peewee.ForeignKeyField(Station, backref="+")
    created_by = peewee.ForeignKeyField(User, backref="+")
    # Names of the uploaded files as staff chose them, or the server folder.
    archive_name = peewee.CharField(max_length=255, default="")
    folder_name = peewee.CharField(max_length=255, default="")
    sheet_name = peewee.CharField(max_length=255)
    # Folder under the instance folder that contains this job's uploads.
    storage_key = peewee.CharField(max_length=32, unique=True)
    status = peewee.CharField(max_length=20, default=QUEUED, index=True)
    total = peewee.IntegerField(default=0)
    imported = peewee.IntegerField(default=0)
    skipped = peewee.IntegerField(default=0)
    failed = peewee.IntegerField(default=0)
    error = peewee.TextField(default="")
    worker_token = peewee.CharField(max_length=32, default="")
    created_at = peewee.DateTimeField(default=utcnow, index=True)
    started_at = peewee.DateTimeField(null=True)
    finished_at = peewee.DateTimeField(null=True)
    heartbeat_at = peewee.DateTimeField(default=utcnow)

    @property
    def processed(self):
        return self.imported + self.skipped + self.failed

    @property
    def percent(self):
        """Rows processed as a whole percentage of all rows, 0 before counting."""
        return self.processed * 100 // self.total if self.total else 0

    @property
    def is_active(self):
        return self.status in self.ACTIVE

    def is_stale(self, now, stale_seconds):
        """True when a queued or running job has had no heartbeat for
        `stale_seconds`, so no live worker is on it."""
        return self.is_active and self.heartbeat_at < now - timedelta(
            seconds=stale_seconds
        )

    def can_resume(self, now, stale_seconds):
        if self.status in (self.FAILED, self.CANCELLED):
            return True
        return self.is_stale(now, stale_seconds)

    @classmethod
    def visible_to(cls, station_ids):
        """Jobs of the stations in `station_ids`, or of every station for None."""
        query = cls.select()
        if station_ids is not None:
            query = query.where(cls.station.in_(station_ids))
        return query

    @classmethod
    def claim(cls, job_id, token, now, stale_seconds):
        """Mark the job running for the worker holding `token`; return whether
        it was free to take (queued, or running with a stale heartbeat)."""
        stale_before = now - timedelta(seconds=stale_seconds)
        free = (cls.status == cls.QUEUED) | (
            (cls.status == cls.RUNNING) & (cls.heartbeat_at < stale_before)
        )
        updated = (
            cls.update(
                status=cls.RUNNING,
                worker_token=token,
                heartbeat_at=now,
                started_at=peewee.fn.COALESCE(cls.started_at, now),
                error="",
            )
            .where((cls.id == job_id) & free)
            .execute()
        )
        return updated == 1

    @classmethod
    def owned(cls, job_id, token):
        """Condition for updates that only the worker holding `token` may make."""
        return (
            (cls.id == job_id)
            & (cls.worker_token == token)
            & (cls.status == cls.RUNNING)
        )


class ImportItem(ChoiceLabels, BaseModel):
    """One spreadsheet row of a job: its values, and what became of it."""

    PENDING = "pending"
    IMPORTED = "imported"
    SKIPPED = "skipped"
    FAILED = "failed"
    STATUSES = {
        PENDING: _l("待处理"),
        IMPORTED: _l("已导入"),
        SKIPPED: _l("已跳过"),
        FAILED: _l("导入失败"),
    }

    job = peewee.ForeignKeyField(ImportJob, backref="items", on_delete="CASCADE")
    # The row number as the spreadsheet program shows it, header row included.
    row_number = peewee.IntegerField()
    status = peewee.CharField(max_length=20, default=PENDING)
    sought_name = peewee.CharField(max_length=100, default="")
    # The checked report fields and photo names as JSON, so a resumed job
    # does not read the spreadsheet again.
    data = peewee.TextField(default="{}")
    # SHA-256 of the report fields that identify a row, for skipping a row
    # imported before; empty for rows that failed their checks.
    row_key = peewee.CharField(max_length=64, default="", index=True)
    report = peewee.ForeignKeyField(
        MissingReport, null=True, backref="+", on_delete="SET NULL"
    )
    message = peewee.TextField(default="")
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("job", "row_number"), True),
            (("job", "status"), False),
        )

    @property
    def values(self):
        return json.loads(self.data)

    @classmethod
    def problems(cls, job):
        """Rows that were skipped or failed, or imported with a note."""
        return (
            cls.select()
            .where(
                (cls.job == job)
                & (
                    cls.status.in_([cls.SKIPPED, cls.FAILED])
                    | ((cls.status == cls.IMPORTED) & (cls.message != ""))
                )
            )
            .order_by(cls.row_number)
        )
