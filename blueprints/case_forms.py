"""The case record form, shared by intake and editing, and its smaller forms."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields import DateTimeLocalField
from wtforms.validators import (
    DataRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from blueprints.forms import check_not_future, long_text, sex_field, text_field
from db.base import utcnow
from db.cases import ARRIVAL_WAYS, DNA_STATUSES, PLACEMENT_KINDS, CaseAlias
from services import idnumbers
from services.timezone import local_to_utc, utc_to_local

AGE = [Optional(), NumberRange(0, 120, _l("年龄应在 0 到 120 岁之间。"))]


class CaseFields(FlaskForm):
    """Every field of the record that staff fill in and edit."""

    name = text_field(_l("姓名"), 100, description=_l("按本人所说填写，不知道可留空"))
    sex = sex_field()
    age_min = IntegerField(_l("估计年龄（最小）"), validators=AGE)
    age_max = IntegerField(_l("估计年龄（最大）"), validators=AGE)
    id_number = StringField(
        _l("身份证号"),
        default="",
        description=_l("可不填；填写时校验末位校验码"),
        validators=[Length(max=40)],
    )
    dialect = text_field(_l("方言口音"), 100)
    height_cm = IntegerField(
        _l("身高（厘米）"),
        validators=[
            Optional(),
            NumberRange(40, 250, _l("身高应在 40 到 250 厘米之间。")),
        ],
    )
    build = text_field(_l("体型"), 50)
    marks = long_text(_l("体貌特征与身体标记"))
    arrival_way = SelectField(
        _l("来站方式"), choices=list(ARRIVAL_WAYS.items()), default="other"
    )
    found_at = DateTimeLocalField(
        _l("发现时间"),
        format="%Y-%m-%dT%H:%M",
        validators=[DataRequired(_l("请填写发现时间。"))],
    )
    found_place = StringField(
        _l("发现地点"),
        default="",
        validators=[DataRequired(_l("请填写发现地点。")), Length(max=200)],
    )
    health = long_text(_l("健康状况"))
    disability = text_field(_l("残疾情况"), 200)
    medication = long_text(_l("用药情况"))
    belongings = long_text(_l("随身物品"))
    contacts_mentioned = long_text(_l("本人提到的联系人"))
    notes = long_text(_l("备注"))

    def validate_age_max(self, field):
        low, high = self.age_min.data, field.data
        if low is not None and high is not None and high < low:
            raise ValidationError(_l("最大年龄不能小于最小年龄。"))

    def validate_found_at(self, field):
        check_not_future(field, utc_to_local(utcnow()))

    def validate_id_number(self, field):
        self.parsed_id = None
        if field.data and field.data.strip():
            try:
                self.parsed_id = idnumbers.parse(field.data)
            except idnumbers.IdNumberError as error:
                raise ValidationError(str(error)) from error

    def record_values(self):
        """Return the model values of the form, with the ID number decoded."""
        parsed = getattr(self, "parsed_id", None)
        return {
            "name": self.name.data.strip(),
            "sex": self.sex.data,
            "age_min": self.age_min.data,
            "age_max": self.age_max.data,
            "id_number": parsed.number if parsed else None,
            "id_region_code": parsed.region_code if parsed else "",
            "id_birth_date": parsed.birth_date if parsed else None,
            "dialect": self.dialect.data.strip(),
            "height_cm": self.height_cm.data,
            "build": self.build.data.strip(),
            "marks": self.marks.data.strip(),
            "arrival_way": self.arrival_way.data,
            "found_at": local_to_utc(self.found_at.data),
            "found_place": self.found_place.data.strip(),
            "health": self.health.data.strip(),
            "disability": self.disability.data.strip(),
            "medication": self.medication.data.strip(),
            "belongings": self.belongings.data.strip(),
            "contacts_mentioned": self.contacts_mentioned.data.strip(),
            "notes": self.notes.data.strip(),
        }


class EditCaseForm(CaseFields):
    version = HiddenField()


class StatusForm(FlaskForm):
    target = SelectField(_l("新状态"), choices=[])
    reason = TextAreaField(
        _l("原因"),
        validators=[DataRequired(_l("请填写状态变更的原因。")), Length(max=1000)],
    )


class PlacementForm(FlaskForm):
    kind = SelectField(_l("安置去向"), choices=list(PLACEMENT_KINDS.items()))
    institution = StringField(
        _l("机构名称"),
        default="",
        validators=[DataRequired(_l("请填写机构名称。")), Length(max=200)],
    )
    start_date = DateField(
        _l("开始日期"), validators=[DataRequired(_l("请填写开始日期。"))]
    )
    notes = text_field(_l("说明"), 500)

    def validate_start_date(self, field):
        check_not_future(field, utc_to_local(utcnow()).date())


class AliasForm(FlaskForm):
    alias = StringField(
        _l("其他名字"),
        default="",
        validators=[DataRequired(_l("请填写名字。")), Length(max=100)],
    )
    kind = SelectField(_l("类型"), choices=list(CaseAlias.KINDS.items()))


class DnaForm(FlaskForm):
    dna_status = SelectField(_l("DNA 状态"), choices=list(DNA_STATUSES.items()))
    dna_note = text_field(_l("说明"), 1000)


class MergeForm(FlaskForm):
    other_number = StringField(
        _l("要并入本个案的个案编号"),
        default="",
        validators=[DataRequired(_l("请填写个案编号。")), Length(max=40)],
    )
    reason = TextAreaField(
        _l("合并原因"),
        validators=[DataRequired(_l("请填写合并原因。")), Length(max=1000)],
    )
