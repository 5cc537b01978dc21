"""Forms for each kind of document, and for the register and font settings.

Each document form turns its fields into the JSON `content` a document is
rendered from (`content()`), and fills itself from stored content when a
document is corrected (`load()`).
"""

import re
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    DateField,
    DateTimeLocalField,
    SelectField,
)
from wtforms.validators import Optional, ValidationError

from blueprints.forms import (
    CheckboxesField,
    MultipleChoiceField,
    long_text,
    text_field,
)
from services import idnumbers
from services.document_kinds import (
    ASSIST_ASKS,
    DISCHARGE_CHECKS,
    DISCHARGE_REASONS,
    RECEIVER_KINDS,
)
from services.timezone import local_today

MAX_ITEMS = 200
MAX_LEGS = 12
# A longer line is almost surely pasted by mistake, and one unbreakable
# table cell of several thousand characters takes WeasyPrint minutes.
MAX_ROW_LENGTH = 200
# Dates on documents lie within this many days of today.
DATE_WINDOW_DAYS = 366
# Number prefixes are words: letters, digits and Chinese characters.
PREFIX_PATTERN = re.compile(r"^[^\W_]{1,20}$")


FILL_IN = _l("请填写此项。")


def _text(label, max_length, required=False, **kwargs):
    return text_field(label, max_length, FILL_IN if required else None, **kwargs)


def _area(label, max_length=2000, **kwargs):
    return long_text(label, max_length, **kwargs)


def _chosen(message):
    """Require at least one ticked box, without the `required` attribute
    that would make the browser demand every box."""

    def check(form, field):
        if not field.data:
            raise ValidationError(message)

    return check


def date_field(label, message, **kwargs):
    """Return a required date field: an unreadable date gets the "invalid"
    message and an empty one gets `message`."""
    return DateField(label, validators=[_date_given(message)], **kwargs)


def _date_given(message):
    def check(form, field):
        if field.data is not None:
            return
        field.errors[:] = []
        if any(value.strip() for value in field.raw_data or []):
            raise ValidationError(_l("日期无效，请按“年-月-日”填写。"))
        raise ValidationError(message)

    check.field_flags = {"required": True}
    return check


def _within_window(field, past=True, future=True):
    """Reject a date more than DATE_WINDOW_DAYS before or after today."""
    if field.data is None:
        return
    value = field.data.date() if isinstance(field.data, datetime) else field.data
    today = local_today()
    window = timedelta(days=DATE_WINDOW_DAYS)
    if past and value < today - window:
        raise ValidationError(_l("日期不能早于一年前。"))
    if future and value > today + window:
        raise ValidationError(_l("日期不能晚于一年后。"))


# The quantity of an item line: digits or Chinese numerals, perhaps with a
# unit ("1", "1张", "两件"), and a unit written apart after plain digits.
QUANTITY = re.compile(r"[0-9一二两三四五六七八九十百千]+[^\s0-9]{0,2}")
UNIT = re.compile(r"[^\s0-9A-Za-z]{1,2}")


def item_row(line):
    """Split an item line such as "身份证 1 张 已核对" into name, quantity
    and note."""
    name, *rest = line.split()
    quantity = ""
    if rest and QUANTITY.fullmatch(rest[0]):
        quantity = rest.pop(0)
        if quantity.isdigit() and rest and UNIT.fullmatch(rest[0]):
            quantity += rest.pop(0)
    return {"name": name, "quantity": quantity, "note": " ".join(rest)}


def _text_lines(field, maximum, message):
    """Return the non-blank lines of a text area, at most `maximum` of them."""
    lines = [line.strip() for line in (field.data or "").splitlines()]
    lines = [line for line in lines if line]
    if len(lines) > maximum:
        raise ValidationError(message)
    for number, line in enumerate(lines, start=1):
        if len(line) > MAX_ROW_LENGTH:
            raise ValidationError(
                _l(
                    "第 %(number)d 行超过 %(max)d 个字，请分成几行。",
                    number=number,
                    max=MAX_ROW_LENGTH,
                )
            )
    return lines


class DocumentForm(FlaskForm):
    """Base of the document forms: `reason` is shown only for corrections."""

    reason = _area(_l("更正原因"), 500)
    # Names of the fields that `content()` stores and `load()` restores.
    CONTENT_FIELDS = ()
    # A text area whose lines become table rows (items, train legs): the
    # rows go to content[ROWS_KEY], the text itself to content[ROWS_FIELD].
    ROWS_FIELD = None
    ROWS_KEY = None
    rows = ()

    def content(self):
        values = {}
        for name in self.CONTENT_FIELDS:
            value = self[name].data
            if isinstance(value, datetime):
                value = value.isoformat(timespec="minutes")
            elif isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, str):
                value = value.strip()
            values[name] = value
        if self.ROWS_FIELD:
            values[self.ROWS_KEY] = list(self.rows)
            values[self.ROWS_FIELD] = (self[self.ROWS_FIELD].data or "").strip()
        return values

    def load(self, content):
        for name in self.CONTENT_FIELDS:
            if name not in content or content[name] in (None, ""):
                continue
            field = self[name]
            value = content[name]
            if isinstance(field, DateTimeLocalField):
                value = datetime.fromisoformat(value)
            elif isinstance(field, DateField):
                value = date.fromisoformat(value)
            field.data = value
        if self.ROWS_FIELD:
            self[self.ROWS_FIELD].data = content.get(self.ROWS_FIELD, "")

    def require_reason(self):
        if not (self.reason.data or "").strip():
            self.reason.errors = [*self.reason.errors, _l("更正文书须写明更正原因。")]
            return False
        return True


class PhotoChoiceMixin:
    def set_photo_choices(self, photos):
        self.photo_id.choices = [(0, _l("自动选择（最新的人脸照片）"))] + [
            (p.id, p.original_name or _l("照片 %(id)d", id=p.id)) for p in photos
        ]


class SearchNoticeForm(PhotoChoiceMixin, DocumentForm):
    photo_id = SelectField(_l("公告照片"), coerce=int, default=0, validate_choice=True)
    contact_name = _text(_l("联系人"), 50, required=True)
    contact_phone = _text(_l("联系电话"), 40, required=True)
    details = _area(_l("补充说明"), 500)
    CONTENT_FIELDS = ("photo_id", "contact_name", "contact_phone", "details")


class AssistLetterForm(DocumentForm):
    recipient = _text(_l("主送单位"), 100, required=True)
    asks = CheckboxesField(
        _l("请协助事项"),
        choices=list(ASSIST_ASKS.items()),
        validators=[_chosen(_l("请至少选择一项协助事项。"))],
    )
    due_on = date_field(_l("请于何日前函复"), _l("请填写函复期限。"))
    details = _area(_l("补充说明"), 1000)
    contact_name = _text(_l("联系人"), 50, required=True)
    contact_phone = _text(_l("联系电话"), 40, required=True)
    CONTENT_FIELDS = (
        "recipient",
        "asks",
        "due_on",
        "details",
        "contact_name",
        "contact_phone",
    )

    def validate_due_on(self, field):
        if field.data and field.data < local_today():
            raise ValidationError(_l("函复期限不能早于今天。"))
        _within_window(field, past=False)


# Words staff may put between the departure and arrival times of a leg.
LEG_SEPARATORS = {"至", "到", "-", "—", "~"}


class EscortLetterForm(DocumentForm):
    recipient = _text(_l("主送单位"), 100, required=True)
    destination = _text(_l("返乡目的地"), 200, required=True)
    escorts = _text(_l("护送人员"), 100, required=True)
    depart_on = date_field(_l("出发日期"), _l("请填写出发日期。"))
    legs_text = _area(
        _l("行程（每行一段）"),
        2000,
        description=_l(
            "每行：车次 出发站 到达站 出发时间 至 到达时间，"
            "如“K1234 广州 郑州 12月5日08:30 至 12月6日06:10”。"
        ),
    )
    details = _area(_l("补充说明"), 1000)
    contact_name = _text(_l("联系人"), 50, required=True)
    contact_phone = _text(_l("联系电话"), 40, required=True)
    CONTENT_FIELDS = (
        "recipient",
        "destination",
        "escorts",
        "depart_on",
        "details",
        "contact_name",
        "contact_phone",
    )

    ROWS_FIELD = "legs_text"
    ROWS_KEY = "legs"

    def validate_depart_on(self, field):
        _within_window(field)

    def validate_legs_text(self, field):
        self.rows = []
        message = _l("行程最多 %(count)d 段。", count=MAX_LEGS)
        for number, line in enumerate(_text_lines(field, MAX_LEGS, message), 1):
            parts = [part for part in line.split() if part not in LEG_SEPARATORS]
            if len(parts) != 5:
                raise ValidationError(
                    _l(
                        "第 %(number)d 行格式不对：应为“车次 出发站 到达站 "
                        "出发时间 至 到达时间”。",
                        number=number,
                    )
                )
            train, origin, destination, departs, arrives = parts
            self.rows.append(
                {
                    "train": train,
                    "origin": origin,
                    "destination": destination,
                    "departs": departs,
                    "arrives": arrives,
                }
            )


class OfficialLetterForm(DocumentForm):
    recipient = _text(_l("主送单位"), 100, required=True)
    subject = _text(
        _l("标题"),
        60,
        required=True,
        description=_l("如“关于商请协助安置受助人员的函”。"),
    )
    body = _area(
        _l("正文"),
        4000,
        description=_l("每段一行；结尾的“特此函达。”等语句请写在正文中。"),
    )
    contact_name = _text(_l("联系人"), 50, required=True)
    contact_phone = _text(_l("联系电话"), 40, required=True)
    CONTENT_FIELDS = ("recipient", "subject", "body", "contact_name", "contact_phone")

    def validate_body(self, field):
        if not (field.data or "").strip():
            raise ValidationError(_l("请填写正文。"))


class HandoverForm(PhotoChoiceMixin, DocumentForm):
    receiver_kind = SelectField(
        _l("接收方类型"), choices=list(RECEIVER_KINDS.items()), default="family"
    )
    receiver_name = _text(_l("接收人或单位"), 100, required=True)
    receiver_relation = _text(_l("与受助人关系"), 30)
    receiver_id_number = _text(_l("接收人身份证号"), 18)
    receiver_phone = _text(_l("接收人电话"), 40)
    receiver_address = _text(_l("接收人住址"), 200)
    handover_place = _text(_l("交接地点"), 200, required=True)
    handover_at = DateTimeLocalField(
        _l("交接时间"),
        format="%Y-%m-%dT%H:%M",
        validators=[_date_given(_l("请填写交接时间。"))],
    )
    items_text = _area(
        _l("随身物品（每行一件）"),
        6000,
        description=_l("每行：物品名称 数量 备注，如“身份证 1 张 已核对”。"),
    )
    photo_id = SelectField(_l("交接单照片"), coerce=int, default=0)
    note = _area(_l("其他说明"), 1000)
    CONTENT_FIELDS = (
        "receiver_kind",
        "receiver_name",
        "receiver_relation",
        "receiver_id_number",
        "receiver_phone",
        "receiver_address",
        "handover_place",
        "handover_at",
        "photo_id",
        "note",
    )

    def validate_receiver_id_number(self, field):
        if field.data and field.data.strip():
            try:
                field.data = idnumbers.parse(field.data).number
            except idnumbers.IdNumberError as error:
                raise ValidationError(str(error)) from error

    ROWS_FIELD = "items_text"
    ROWS_KEY = "items"

    def validate_handover_at(self, field):
        _within_window(field)

    def validate_items_text(self, field):
        message = _l("物品最多 %(count)d 行。", count=MAX_ITEMS)
        self.rows = [item_row(line) for line in _text_lines(field, MAX_ITEMS, message)]


class DischargeForm(DocumentForm):
    reason_kind = SelectField(
        _l("离站方式"), choices=list(DISCHARGE_REASONS.items()), default="escort"
    )
    discharge_on = date_field(_l("离站日期"), _l("请填写离站日期。"))
    destination = _text(_l("去向"), 200, required=True)
    checks = CheckboxesField(_l("已完成的事项"), choices=list(DISCHARGE_CHECKS.items()))
    note = _area(_l("备注"), 1000)
    CONTENT_FIELDS = ("reason_kind", "discharge_on", "destination", "checks", "note")

    def validate_discharge_on(self, field):
        _within_window(field)


class SignoffSheetForm(DocumentForm):
    note = _area(_l("备注"), 1000)
    CONTENT_FIELDS = ("note",)


class CommendationRecordForm(DocumentForm):
    CONTENT_FIELDS = ()


FORMS = {
    "search_notice": SearchNoticeForm,
    "assist_letter": AssistLetterForm,
    "escort_letter": EscortLetterForm,
    "official_letter": OfficialLetterForm,
    "handover": HandoverForm,
    "discharge": DischargeForm,
    "signoff_sheet": SignoffSheetForm,
    "commendation": CommendationRecordForm,
}


class IncomingLetterForm(FlaskForm):
    serial = _text(_l("来文字号"), 60, required=True)
    sender = _text(_l("来文单位"), 200, required=True)
    subject = _text(_l("标题"), 200, required=True)
    received_on = date_field(_l("收文日期"), _l("请填写收文日期。"))
    case_number = _text(_l("相关个案编号"), 40)
    note = _area(_l("备注"), 1000)
    scan = FileField(_l("扫描件（PDF 或图片，可不传）"))

    def validate_received_on(self, field):
        if field.data and field.data > local_today():
            raise ValidationError(_l("收文日期不能晚于今天。"))
        _within_window(field, future=False)


class VerifyUploadForm(FlaskForm):
    file = FileField(_l("选择收到的 PDF 文件"))


class BatchForm(FlaskForm):
    case_ids = MultipleChoiceField(_l("个案"), coerce=int, validators=[Optional()])
    contact_name = _text(_l("联系人"), 50, required=True)
    contact_phone = _text(_l("联系电话"), 40, required=True)
