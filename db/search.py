"""Search tokens of cases and reports: names, pinyin, numbers and places.

Each row maps one normalised token to one record, so a query becomes exact
lookups on an index instead of a scan with LIKE '%…%'.
"""

import peewee

from db.base import BaseModel


class SearchToken(BaseModel):
    CASE = "case"
    REPORT = "report"

    kind = peewee.CharField(max_length=10)
    object_id = peewee.IntegerField()
    token = peewee.CharField(max_length=64)
    # Higher for stronger evidence: a whole name above one pinyin syllable.
    weight = peewee.SmallIntegerField(default=1)

    class Meta:
        indexes = (
            (("token", "kind", "object_id"), False),
            (("kind", "object_id"), False),
        )
