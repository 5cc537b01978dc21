"""peewee models, split by concept, and the versioned migrations under migrations/."""

from db.accounts import Station, User
from db.audit import AuditLog
from db.base import database
from db.cases import Case, CaseNumberCounter
from db.matching import FaceSearch, MatchCandidate
from db.photos import FaceVector, GalleryRevision, Photo
from db.reports import MissingReport

MODELS = [
    Station,
    User,
    Case,
    CaseNumberCounter,
    MissingReport,
    Photo,
    FaceVector,
    GalleryRevision,
    FaceSearch,
    MatchCandidate,
    AuditLog,
]

__all__ = [m.__name__ for m in MODELS] + ["MODELS", "database"]
