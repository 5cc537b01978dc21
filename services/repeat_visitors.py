"""Finding earlier records of a person before registering them again."""

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

from db.cases import Case
from services import gallery, search


@dataclass
class EarlierRecord:
    case: Case
    reasons: list = field(default_factory=list)
    similarity: float | None = None


def find(values, prepared, limit=5):
    """Return likely earlier records of the person described by `values`.

    Matches the same ID number, a similar name (pinyin) with an overlapping
    age, or a face that the case gallery ranks as the same person or worth a
    look.
    """
    found = {}

    def note(case, reason, similarity=None):
        record = found.setdefault(case.id, EarlierRecord(case))
        record.reasons.append(reason)
        if similarity is not None:
            record.similarity = max(record.similarity or 0, similarity)

    if values.get("id_number"):
        same_id = Case.select().where(
            (Case.id_number == values["id_number"]) & Case.merged_into.is_null()
        )
        for case in same_id:
            note(case, _l("身份证号相同"))
    if values.get("name"):
        for case in search.similar_cases(
            values["name"], values.get("age_min"), values.get("age_max"), limit=limit
        ):
            note(case, _l("姓名读音相近且年龄相符"))
    for item in prepared:
        hits, _ = gallery.search(item.face.vector, limit, kind=gallery.CASES)
        for hit in hits:
            if hit.band == "unlikely":
                continue
            case = Case.get_or_none(Case.id == hit.owner_id)
            if case is not None:
                note(case, _l("照片人脸相似"), hit.similarity)
    ranked = sorted(
        found.values(), key=lambda r: (len(r.reasons), r.similarity or 0), reverse=True
    )
    return ranked[:limit]
