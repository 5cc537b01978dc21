"""Forms for each kind of document, and for the register and font settings.

Each document form turns its fields into the JSON `content` a document is
rendered from (`content()`), and fills itself from stored content when a
document is corrected (`load()`).
"""

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    DateField,
    DateTimeLocalField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from services import idnumbers
from services.document_kinds import (
    ASSIST_ASKS,
    DISCHARGE_CHECKS,
    DISCHARGE_REASONS,
    RECEIVER_KINDS,
)

MAX_ITEMS = 200
MAX_LEGS = 12


def _length(max_length):
    return Length(max=max_length, message=_l("不能超过 %(max)d 个字。"))


def _text(label, max_length, required=False, **kwargs):
    validators = [_length(max_length)]
    if required:
        validators.insert(0, DataRequired(message=_l("请填写此项。")))
    return StringField(label, default="", validators=validators, **kwargs)


def _area(label, max_length=2000, **kwargs):
    return TextAreaField(label, default="", validators=[_length(max_length)], **kwargs)


def _text_lines(field, maximum, message):
    """Return the non-blank lines of a text area, at most `maximum` of them."""
    lines = [line.strip() for line in (field.data or "").splitlines()]
    lines = [line for line in lines if line]
    if len(lines) > maximum:
        raise ValidationError(message)
    return lines


class _CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


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
    asks = _CheckboxesField(
        _l("请协助事项"),
        choices=list(ASSIST_ASKS.items()),
        validators=[DataRequired(message=_l("请至少选择一项协助事项。"))],
    )
    due_on = DateField(
        _l("请于何日前函复"),
        validators=[DataRequired(message=_l("请填写函复期限。"))],
    )
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
        if field.data and field.data < date.today():
            raise ValidationError(_l("函复期限不能早于今天。"))


# Words staff may put between the departure and arrival times of a leg.
LEG_SEPARATORS = {"至", "到", "-", "—", "~"}


class EscortLetterForm(DocumentForm):
    recipient = _text(_l("主送单位"), 100, required=True)
    destination = _text(_l("返乡目的地"), 200, required=True)
    escorts = _text(_l("护送人员"), 100, required=True)
    depart_on = DateField(
        _l("出发日期"), validators=[DataRequired(message=_l("请填写出发日期。"))]
    )
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
        validators=[DataRequired(message=_l("请填写交接时间。"))],
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

    def validate_items_text(self, field):
        message = _l("物品最多 %(count)d 行。", count=MAX_ITEMS)
        self.rows = []
        for line in _text_lines(field, MAX_ITEMS, message):
            name, _, rest = line.partition(" ")
            quantity, _, note = rest.strip().partition(" ")
            self.rows.append({"name": name, "quantity": quantity, "note": note.strip()})


class DischargeForm(DocumentForm):
    reason_kind = SelectField(
        _l("离站方式"), choices=list(DISCHARGE_REASONS.items()), default="escort"
    )
    discharge_on = DateField(
        _l("离站日期"), validators=[DataRequired(message=_l("请填写离站日期。"))]
    )
    destination = _text(_l("去向"), 200, required=True)
    checks = _CheckboxesField(
        _l("已完成的事项"), choices=list(DISCHARGE_CHECKS.items())
    )
    note = _area(_l("备注"), 1000)
    CONTENT_FIELDS = ("reason_kind", "discharge_on", "destination", "checks", "note")


class SignoffSheetForm(DocumentForm):
    note = _area(_l("备注"), 1000)
    CONTENT_FIELDS = ("note",)


class CommendationRecordForm(DocumentForm):
    CONTENT_FIELDS = ()


FORMS = {
    "search_notice": SearchNoticeForm,
    "assist_letter": AssistLetterForm,
    "escort_letter": EscortLetterForm,
    "handover": HandoverForm,
    "discharge": DischargeForm,
    "signoff_sheet": SignoffSheetForm,
    "commendation": CommendationRecordForm,
}


class IncomingLetterForm(FlaskForm):
    serial = _text(_l("来文字号"), 60, required=True)
    sender = _text(_l("来文单位"), 200, required=True)
    subject = _text(_l("标题"), 200, required=True)
    received_on = DateField(
        _l("收文日期"), validators=[DataRequired(message=_l("请填写收文日期。"))]
    )
    case_number = _text(_l("相关个案编号"), 40)
    note = _area(_l("备注"), 1000)
    scan = FileField(_l("扫描件（PDF 或图片，可不传）"))

    def validate_received_on(self, field):
        if field.data and field.data > date.today():
            raise ValidationError(_l("收文日期不能晚于今天。"))


class VerifyUploadForm(FlaskForm):
    file = FileField(_l("选择收到的 PDF 文件"))


class BatchForm(FlaskForm):
    case_ids = SelectMultipleField(_l("个案"), coerce=int, validators=[Optional()])
    contact_name = _text(_l("联系人"), 50, required=True)
    contact_phone = _text(_l("联系电话"), 40, required=True)
