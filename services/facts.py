"""Comparing the facts of a case and a missing-person report, field by field.

A face score alone misleads when photos are old or poor, so candidates are
ranked by the face similarity (in points, 0 to 100) plus the weight of each
fact that agrees and minus the weight of each that differs. Unknown facts
add nothing. The weights are settings (db.settings.DEFAULTS, weight_*).
"""

from flask_babel import lazy_gettext as _l

from db.settings import Setting
from services import divisions
from services.timezone import utc_to_local

AGREE, DIFFER, UNKNOWN = "agree", "differ", "unknown"
VERDICT_LABELS = {AGREE: _l("相符"), DIFFER: _l("不符"), UNKNOWN: _l("无法比较")}

# Apparent age is a guess: an estimate within this many years agrees.
AGE_TOLERANCE = 5
HEIGHT_TOLERANCE_CM = 6


def weights():
    values = Setting.all_values()
    return {
        key[len("weight_") :]: v for key, v in values.items() if key[:7] == "weight_"
    }


def compare(case, report):
    """Return the comparison rows, each a dict that JSON can store."""
    rows = [
        _row("sex", _l("性别"), case.sex_label, report.sex_label, _sex(case, report)),
        _row(
            "age", _l("年龄"), _case_age(case), _report_age(report), _age(case, report)
        ),
        _row(
            "dates",
            _l("走失与发现时间"),
            _date_text(case.found_at),
            _report_date(report),
            _dates(case, report),
        ),
        _row(
            "place",
            _l("地点与口音"),
            case.dialect or case.found_place,
            report.last_seen_place,
            _place(case, report),
        ),
        _row(
            "height",
            _l("身高"),
            _height_text(case.height_cm),
            _height_text(report.height_cm),
            _height(case, report),
        ),
        _row("marks", _l("体貌特征"), case.marks, report.marks, _marks(case, report)),
    ]
    return rows


def score(face_similarity, rows, weight_of=None):
    """Return the combined score in points: face similarity × 100 ± weights."""
    weight_of = weight_of or weights()
    total = face_similarity * 100
    for row in rows:
        weight = weight_of.get(row["field"], 0)
        if row["verdict"] == AGREE:
            total += weight
        elif row["verdict"] == DIFFER:
            total -= weight
    return round(total, 2)


def _row(field, label, case_value, report_value, verdict):
    return {
        "field": field,
        "label": str(label),
        "case": str(case_value or ""),
        "report": str(report_value or ""),
        "verdict": verdict,
    }


def _sex(case, report):
    if "unknown" in (case.sex, report.sex):
        return UNKNOWN
    return AGREE if case.sex == report.sex else DIFFER


def _expected_age(report, when):
    """Age the reported person would have at `when`, or None."""
    if report.age_at_missing is None or report.last_seen_on is None or when is None:
        return None
    return report.age_at_missing + (when.date() - report.last_seen_on).days / 365.25


def _age(case, report):
    if case.age_min is None and case.age_max is None:
        return UNKNOWN
    expected = _expected_age(report, case.found_at)
    if expected is None:
        return UNKNOWN
    low = case.age_min if case.age_min is not None else case.age_max
    high = case.age_max if case.age_max is not None else case.age_min
    inside = low - AGE_TOLERANCE <= expected <= high + AGE_TOLERANCE
    return AGREE if inside else DIFFER


def _dates(case, report):
    if case.found_at is None or report.last_seen_on is None:
        return UNKNOWN
    # The person must have gone missing before the station found them.
    return (
        AGREE if report.last_seen_on <= utc_to_local(case.found_at).date() else DIFFER
    )


def _place(case, report):
    if not report.last_seen_place or not case.dialect:
        return UNKNOWN
    provinces = divisions.provinces_for_accent(case.dialect)
    if not provinces:
        return UNKNOWN
    return (
        AGREE
        if any(
            p in report.last_seen_place or p[:2] in report.last_seen_place
            for p in provinces
        )
        else DIFFER
    )


def _height(case, report):
    if case.height_cm is None or report.height_cm is None:
        return UNKNOWN
    close = abs(case.height_cm - report.height_cm) <= HEIGHT_TOLERANCE_CM
    return AGREE if close else DIFFER


def _marks(case, report):
    if not case.marks or not report.marks:
        return UNKNOWN
    first, second = _bigrams(case.marks), _bigrams(report.marks)
    if not first or not second:
        return UNKNOWN
    overlap = len(first & second) / min(len(first), len(second))
    # Free text: shared wording such as 左手 or 伤疤 agrees; none is unknown
    # rather than a difference, since staff describe the same mark differently.
    return AGREE if overlap >= 0.3 else UNKNOWN


def _bigrams(text):
    chars = [ch for ch in text if "\u4e00" <= ch <= "\u9fff"]
    return {a + b for a, b in zip(chars, chars[1:], strict=False)}


def _case_age(case):
    if case.age_min is None and case.age_max is None:
        return ""
    if case.age_min == case.age_max or case.age_max is None:
        return str(_l("约 %(age)s 岁", age=case.age_min))
    if case.age_min is None:
        return str(_l("约 %(age)s 岁", age=case.age_max))
    return str(_l("%(low)s–%(high)s 岁", low=case.age_min, high=case.age_max))


def _report_age(report):
    if report.age_at_missing is None:
        return ""
    return str(_l("走失时 %(age)s 岁", age=report.age_at_missing))


def _date_text(moment):
    return utc_to_local(moment).date().isoformat() if moment else ""


def _report_date(report):
    return report.last_seen_on.isoformat() if report.last_seen_on else ""


def _height_text(value):
    return f"{value} cm" if value else ""
