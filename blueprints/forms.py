"""Form fields and checks shared by the intake and report forms."""

import re

from flask_babel import lazy_gettext as _l
from wtforms import (
    MultipleFileField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

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


def text_checks(max_length, required=None):
    """Return the validators of free text: at most `max_length` characters,
    no control characters, and, with a `required` message, not empty."""
    checks = [
        Length(max=max_length, message=_l("不能超过 %(max)d 个字。")),
        no_control_characters,
    ]
    if required:
        checks.insert(0, DataRequired(message=required))
    return checks


def text_field(label, max_length, required=None, **kwargs):
    """Return a one-line text field with text_checks()."""
    validators = text_checks(max_length, required)
    return StringField(label, default="", validators=validators, **kwargs)


def long_text(label, max_length=4000, required=None, **kwargs):
    """Return a multi-line text field with text_checks()."""
    validators = text_checks(max_length, required)
    return TextAreaField(label, default="", validators=validators, **kwargs)


class MultipleChoiceField(SelectMultipleField):
    """A multiple choice with Chinese messages for values not on offer,
    which WTForms 3.3 has no Chinese text for."""

    def __init__(self, label=None, **kwargs):
        kwargs.setdefault(
            "invalid_value_message", _l("所选项无效，请刷新页面后重新选择。")
        )
        kwargs.setdefault(
            "invalid_choice_message",
            _l("所选项“%(value)s”已不可选，请刷新页面后重新选择。"),
        )
        super().__init__(label, **kwargs)


class CheckboxesField(MultipleChoiceField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()
