"""Form fields and checks shared by the intake and report forms."""

import re

from flask_babel import lazy_gettext as _l
from wtforms import MultipleFileField, SelectField
from wtforms.validators import ValidationError

from db.cases import SEXES

PHOTO_HELP = _l(
    "JPEG、PNG、WebP 或 HEIC 格式，每张不超过 20 MB，须为一人的清晰正面照片。"
)


def sex_field():
    return SelectField(_l("性别"), choices=list(SEXES.items()), default="unknown")


def photos_field(label, required):
    return MultipleFileField(
        label,
        description=PHOTO_HELP,
        validators=[_photos_present] if required else [],
    )


def uploaded_files(field):
    return [f for f in (field.data or []) if f and getattr(f, "filename", "")]


def _photos_present(form, field):
    if not uploaded_files(field):
        raise ValidationError(_l("请至少上传一张照片。"))


EARLIEST_YEAR = 1900


def check_not_future(field, now):
    """Accept a date or time from EARLIEST_YEAR up to `now`."""
    if not field.data:
        return
    if field.data > now:
        raise ValidationError(_l("时间不能晚于现在。"))
    if field.data.year < EARLIEST_YEAR:
        raise ValidationError(_l("日期不能早于 %(year)s 年。", year=EARLIEST_YEAR))


# C0 and C1 control characters except tab, line feed and carriage return,
# which browsers send in multi-line text. PostgreSQL rejects NUL in text.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def has_control_characters(text):
    return bool(text) and CONTROL_CHARACTERS.search(text) is not None


def no_control_characters(form, field):
    """Reject text that contains NUL or another control character."""
    if isinstance(field.data, str) and has_control_characters(field.data):
        raise ValidationError(
            _l(
                "“%(label)s”中含有不可见的控制字符，请删除后重新提交。",
                label=field.label.text,
            )
        )
