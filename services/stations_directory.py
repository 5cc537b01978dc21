"""The station directory: which station to ask about a case, and agreement
documents."""

import hashlib
import uuid
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

from db.accounts import Station
from db.base import utcnow
from db.stations_directory import Agreement
from services import divisions, photo_store
from services.attachments import ALLOWED_TYPES
from services.timezone import utc_to_local

# Weight of each source of a suggestion, by how much of the division code
# agrees: the ID number is the strongest hint, a dialect the weakest.
ID_WEIGHTS = {6: 60, 4: 40, 2: 25}
CLUE_WEIGHTS = {6: 30, 4: 20, 2: 12}
ACCENT_WEIGHT = 8
AGREEMENT_BONUS = 5
MAX_SUGGESTIONS = 3


@dataclass
class Suggestion:
    station: Station
    score: int = 0
    reasons: list = field(default_factory=list)


def _shared_prefix(code, other):
    """Length of the division prefix two codes share: 6 (same county), 4 (same
    city), 2 (same province) or 0."""
    for length in (6, 4, 2):
        if len(code) >= length and code[:length] == other[:length]:
            return length
    return 0


def _candidates(case):
    return list(
        Station.select().where(
            (Station.id != case.station_id) & (Station.division_code != "")
        )
    )


def suggest(case):
    """Return up to MAX_SUGGESTIONS stations to ask about `case`, best first.

    Reads the region decoded from the ID number, places in the case's clues
    and the provinces its dialect points to, and prefers stations with an
    agreement in force.
    """
    found = {}

    def add(station, points, reason):
        item = found.setdefault(station.id, Suggestion(station))
        item.score += points
        if reason not in item.reasons:
            item.reasons.append(reason)

    stations = _candidates(case)
    if case.id_region_code:
        for station in stations:
            length = _shared_prefix(case.id_region_code, station.division_code)
            if length:
                add(station, ID_WEIGHTS[length], str(_l("身份证号户籍地")))
    for clue in case.clues:
        if not clue.division_code:
            continue
        for station in stations:
            length = _shared_prefix(clue.division_code[:6], station.division_code)
            if length:
                add(
                    station,
                    CLUE_WEIGHTS[length],
                    str(_l("本人提到的地点“%(text)s”", text=clue.text)),
                )
    for province in _accent_province_codes(case.dialect):
        for station in stations:
            if station.division_code[:2] == province:
                add(station, ACCENT_WEIGHT, str(_l("口音")))
    today = utc_to_local(utcnow()).date()
    for item in found.values():
        if any(a.in_force(today) for a in item.station.agreements):
            item.score += AGREEMENT_BONUS
    ranked = sorted(found.values(), key=lambda item: (-item.score, item.station.id))
    return ranked[:MAX_SUGGESTIONS]


def _accent_province_codes(dialect):
    if not dialect:
        return []
    codes = []
    for name in divisions.provinces_for_accent(dialect)[:3]:
        matches = divisions.match_place(name, limit=1)
        if matches:
            codes.append(matches[0].division.code[:2])
    return codes


def folder():
    return photo_store.upload_folder() / "agreements"


def document_path(agreement):
    return folder() / agreement.stored_name


def store_document(agreement, name, data, mime_type, stored):
    """Write an agreement's document; call inside the transaction that saves it."""
    stored_name = uuid.uuid4().hex + ALLOWED_TYPES[mime_type]
    path = folder() / stored_name
    path.parent.mkdir(parents=True, exist_ok=True)
    stored.paths.append(path)
    path.write_bytes(data)
    Agreement.update(
        stored_name=stored_name,
        original_name=(name or "")[:255],
        mime_type=mime_type,
        sha256=hashlib.sha256(data).hexdigest(),
    ).where(Agreement.id == agreement.id).execute()
