"""peewee models, split by concept, and the versioned migrations under migrations/."""

from db.accounts import Station, User
from db.attachments import Attachment
from db.audit import AuditLog
from db.base import database
from db.cases import Case, CaseAlias, CaseNumberCounter, Placement, StatusChange
from db.documents import MODELS as DOCUMENT_MODELS
from db.interviews import Clue, Interview
from db.jobs import ImportItem, ImportJob
from db.matching import FaceSearch, MatchCandidate, MatchDecision
from db.photos import FaceVector, GalleryRevision, Photo
from db.reports import MissingReport
from db.search import SearchToken
from db.settings import Setting
from db.stations_directory import Agreement, StationContact
from db.tasks import Task
from db.verification import VerificationEvent, VerificationFile, VerificationRequest

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
    CaseAlias,
    StatusChange,
    Placement,
    Attachment,
    Interview,
    Clue,
    Task,
    Setting,
    SearchToken,
    MatchDecision,
    ImportJob,
    ImportItem,
    StationContact,
    Agreement,
    VerificationRequest,
    VerificationEvent,
    VerificationFile,
    *DOCUMENT_MODELS,
]

__all__ = [m.__name__ for m in MODELS] + ["MODELS", "database"]
