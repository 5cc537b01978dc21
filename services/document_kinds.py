"""The template, title and extra template context of each kind of document.

Form values reach `build` as stored JSON, so dates arrive as ISO strings.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l

from db.documents import CommendationPhoto
from db.photos import FaceVector, Photo
from services import commendations, pdf
from services.masking import mask_phone
from services.photo_store import photo_path
from services.timezone import utc_to_local

ASSIST_ASKS = {
    "confirm_identity": _l("核实其身份信息"),
    "find_family": _l("协助查找其亲属"),
    "household": _l("核查户籍登记情况"),
    "reception": _l("协助安排接收返乡"),
}
RECEIVER_KINDS = {
    "family": _l("家属"),
    "station": _l("救助管理机构"),
    "institution": _l("其他机构"),
}
DISCHARGE_REASONS = {
    "family": _l("家属领回"),
    "escort": _l("护送返乡"),
    "transfer": _l("转送其他机构"),
    "self": _l("自愿离站"),
}
DISCHARGE_CHECKS = {
    "belongings": _l("随身物品已清点退还"),
    "medicine": _l("药品及用药说明已交接"),
    "ticket": _l("返乡车票已购买"),
    "allowance": _l("路途生活费已发放"),
    "clothing": _l("衣物已备齐"),
    "records": _l("受助档案已整理归档"),
}


def parse_date(value):
    if not value:
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(value[:10])


def parse_datetime(value):
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def chosen_photo(case, photo_id=None):
    """Return the photo picked on the form, else the case's newest photo with
    a face, else its newest photo, else None."""
    if case is None:
        return None
    photos = Photo.select().where(Photo.case == case)
    if photo_id:
        picked = photos.where(Photo.id == photo_id).first()
        if picked is not None:
            return picked
    with_face = (
        photos.join(FaceVector).order_by(Photo.id.desc()).first()
        if photos.exists()
        else None
    )
    return with_face or photos.order_by(Photo.id.desc()).first()


def photo_uri(case, photo_id, width_mm, height_mm):
    photo = chosen_photo(case, photo_id)
    if photo is None:
        return None
    return pdf.picture_data_uri(photo_path(photo), width_mm, height_mm)


def age_text(case):
    if case.age_min is None and case.age_max is None:
        return str(_l("不详"))
    if case.age_min == case.age_max or case.age_max is None:
        return str(_l("约%(age)d岁", age=case.age_min))
    if case.age_min is None:
        return str(_l("约%(age)d岁", age=case.age_max))
    return str(_l("约%(low)d–%(high)d岁", low=case.age_min, high=case.age_max))


def case_facts(case):
    """Return the description of the person that letters and notices share."""
    return {
        "sex": case.sex_label,
        "age": age_text(case),
        "height": f"{case.height_cm} cm" if case.height_cm else "",
        "dialect": case.dialect,
        "marks": case.marks,
        "found_at": utc_to_local(case.found_at) if case.found_at else None,
        "found_place": case.found_place,
        "aliases": [alias.name for alias in case.aliases],
    }


@dataclass(frozen=True)
class KindSpec:
    template: str
    title: Callable
    build: Callable


def _build_search_notice(content, case, **_):
    return {
        "facts": case_facts(case),
        "photo": photo_uri(case, content.get("photo_id"), 60, 80),
    }


def _build_assist_letter(content, case, **_):
    return {
        "facts": case_facts(case),
        "asks": [ASSIST_ASKS[key] for key in content.get("asks", [])],
        "due_on": parse_date(content.get("due_on")),
    }


def _build_escort_letter(content, case, **_):
    return {
        "facts": case_facts(case),
        "depart_on": parse_date(content.get("depart_on")),
    }


def _build_official_letter(content, case, **_):
    paragraphs = [line.strip() for line in content.get("body", "").splitlines()]
    return {"paragraphs": [line for line in paragraphs if line]}


def _build_handover(content, case, **_):
    return {
        "facts": case_facts(case),
        "photo": photo_uri(case, content.get("photo_id"), 30, 40),
        "receiver_kind": RECEIVER_KINDS.get(content.get("receiver_kind"), ""),
        "handover_at": parse_datetime(content.get("handover_at")),
    }


def _build_discharge(content, case, **_):
    checks = set(content.get("checks", []))
    return {
        "facts": case_facts(case),
        "reason": DISCHARGE_REASONS.get(content.get("reason_kind"), ""),
        "intake_at": utc_to_local(case.created_at),
        "checks": [(label, key in checks) for key, label in DISCHARGE_CHECKS.items()],
        "discharge_on": parse_date(content.get("discharge_on")),
    }


def _build_signoff_sheet(content, case, decision, **_):
    report = decision.report
    return {
        "facts": case_facts(case),
        "decision": decision,
        "report": report,
        "reporter_phone": mask_phone(report.reporter_phone),
        "reviewed_at": utc_to_local(decision.reviewed_at),
        "signed_off_at": utc_to_local(decision.signed_off_at),
    }


def _build_commendation(content, commendation, **_):
    first = commendation.photos.order_by(CommendationPhoto.id).first()
    return {
        "commendation": commendation,
        "staff": commendation.staff_members(),
        "photo": pdf.picture_data_uri(commendations.photo_path(first), 80, 60)
        if first is not None
        else None,
    }


def _case_title(label):
    def title(content, case, **_):
        return f"{label}：{case.display_name}（{case.case_number}）"

    return title


def _letter_title(label):
    def title(content, case, **_):
        return f"{label}：致{content.get('recipient', '')}（{case.case_number}）"

    return title


def _official_title(content, case, **_):
    title = f"{_l('公函')}：{content.get('subject', '')}"
    return f"{title}（{case.case_number}）" if case is not None else title


def _commendation_title(content, commendation, **_):
    return f"{_l('表扬记录')}：{commendation.giver}"


SPECS = {
    "search_notice": KindSpec(
        "documents/pdf/search_notice.html",
        _case_title(_l("寻亲公告")),
        _build_search_notice,
    ),
    "assist_letter": KindSpec(
        "documents/pdf/assist_letter.html",
        _letter_title(_l("协查函")),
        _build_assist_letter,
    ),
    "escort_letter": KindSpec(
        "documents/pdf/escort_letter.html",
        _letter_title(_l("护送函")),
        _build_escort_letter,
    ),
    "official_letter": KindSpec(
        "documents/pdf/official_letter.html", _official_title, _build_official_letter
    ),
    "handover": KindSpec(
        "documents/pdf/handover.html", _case_title(_l("交接单")), _build_handover
    ),
    "discharge": KindSpec(
        "documents/pdf/discharge.html",
        _case_title(_l("离站手续单")),
        _build_discharge,
    ),
    "signoff_sheet": KindSpec(
        "documents/pdf/signoff_sheet.html",
        _case_title(_l("身份确认签批单")),
        _build_signoff_sheet,
    ),
    "commendation": KindSpec(
        "documents/pdf/commendation.html", _commendation_title, _build_commendation
    ),
}
