"""Append-only audit log whose rows are chained by SHA-256.

Each row stores the hash of the previous row, and its own hash covers its
content and that previous hash, so editing or deleting a row in the middle
breaks `verify_chain` from that row on.
"""

import hashlib
import json

import peewee

from db.base import BaseModel, database, is_postgres, utcnow

GENESIS = "0" * 64
# Any constant works: it only names the advisory lock that serialises writers.
_PG_LOCK_KEY = 0x7475616E


class AuditLog(BaseModel):
    created_at = peewee.DateTimeField(default=utcnow, index=True)
    user_id = peewee.IntegerField(null=True, index=True)
    username = peewee.CharField(max_length=50, default="")
    action = peewee.CharField(max_length=40, index=True)
    object_type = peewee.CharField(max_length=40, default="")
    object_id = peewee.CharField(max_length=40, default="")
    detail = peewee.TextField(default="{}")
    ip = peewee.CharField(max_length=45, default="")
    request_id = peewee.CharField(max_length=40, default="")
    prev_hash = peewee.CharField(max_length=64)
    row_hash = peewee.CharField(max_length=64, unique=True)

    def save(self, *args, **kwargs):
        if self.id is not None:
            raise PermissionError("audit log rows cannot be changed")
        return super().save(*args, **kwargs)

    def delete_instance(self, *args, **kwargs):
        raise PermissionError("audit log rows cannot be deleted")

    def compute_hash(self):
        payload = json.dumps(
            [
                self.prev_hash,
                self.created_at.isoformat(timespec="microseconds"),
                self.user_id,
                self.username,
                self.action,
                self.object_type,
                self.object_id,
                self.detail,
                self.ip,
                self.request_id,
            ],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    @classmethod
    def append(cls, action, *, user=None, obj=None, detail=None, ip="", request_id=""):
        with database.atomic():
            if is_postgres():
                database.execute_sql(
                    "SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_KEY,)
                )
            last = cls.select(cls.row_hash).order_by(cls.id.desc()).limit(1).scalar()
            row = cls(
                created_at=utcnow(),
                user_id=user.id if user else None,
                username=user.username if user else "",
                action=action,
                object_type=type(obj).__name__ if obj is not None else "",
                object_id=str(obj.id) if obj is not None else "",
                detail=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
                ip=ip,
                request_id=request_id,
                prev_hash=last or GENESIS,
            )
            row.row_hash = row.compute_hash()
            super(AuditLog, row).save(force_insert=True)
        return row

    @classmethod
    def verify_chain(cls):
        """Return the id of the first row that breaks the chain, or None."""
        previous = GENESIS
        for row in cls.select().order_by(cls.id).iterator():
            if row.prev_hash != previous or row.compute_hash() != row.row_hash:
                return row.id
            previous = row.row_hash
        return None
