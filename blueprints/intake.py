"""Intake (受助登记): register a person in care with photos, list and view cases."""

from flask import Blueprint, current_app, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields import DateTimeLocalField
from wtforms.validators import (
    DataRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from access import case_work_required, require_case, stations_for_intake
from blueprints.common import audit, redirect_to, render_view
from blueprints.forms import check_not_future, photos_field, sex_field, uploaded_files
from db.base import database, utcnow
from db.cases import Case, CaseNumberCounter
from services import photo_store
from services.timezone import local_to_utc, utc_to_local

bp = Blueprint("intake", __name__, url_prefix="/cases")

AGE = [Optional(), NumberRange(0, 120, _l("年龄应在 0 到 120 岁之间。"))]


class CaseForm(FlaskForm):
    station = SelectField(_l("登记站点"), coerce=int)
    name = StringField(
        _l("姓名"),
        default="",
        description=_l("不知道可留空"),
        validators=[Length(max=100)],
    )
    sex = sex_field()
    age_min = IntegerField(_l("估计年龄（最小）"), validators=AGE)
    age_max = IntegerField(_l("估计年龄（最大）"), validators=AGE)
    found_at = DateTimeLocalField(
        _l("发现时间"),
        format="%Y-%m-%dT%H:%M",
        validators=[DataRequired(_l("请填写发现时间。"))],
    )
    found_place = StringField(
        _l("发现地点"),
        validators=[DataRequired(_l("请填写发现地点。")), Length(max=200)],
    )
    notes = TextAreaField(_l("备注"), default="", validators=[Length(max=4000)])
    photos = photos_field(_l("照片"), required=True)

    def validate_age_max(self, field):
        low, high = self.age_min.data, field.data
        if low is not None and high is not None and high < low:
            raise ValidationError(_l("最大年龄不能小于最小年龄。"))

    def validate_found_at(self, field):
        check_not_future(field, utc_to_local(utcnow()))


@bp.route("/")
@case_work_required
def index():
    page = request.args.get("page", 1, type=int)
    query = Case.visible_to(current_user).order_by(Case.created_at.desc())
    size = current_app.config["PAGE_SIZE"]
    return render_view(
        "intake/index.html",
        "intake/_list.html",
        cases=query.paginate(max(page, 1), size),
        page=max(page, 1),
        has_next=query.count() > page * size,
    )


@bp.route("/new", methods=["GET", "POST"])
@case_work_required
def new():
    form = CaseForm()
    form.station.choices = [(s.id, s.name) for s in stations_for_intake(current_user)]
    if request.method == "GET":
        form.station.data = current_user.station_id
        form.found_at.data = utc_to_local(utcnow()).replace(second=0, microsecond=0)
    if not form.validate_on_submit():
        return _form_page(form, status=422 if request.method == "POST" else 200)

    prepared, photo_errors = photo_store.prepare(uploaded_files(form.photos))
    if photo_errors:
        form.photos.errors = list(photo_errors)
        return _form_page(form, status=422)

    case = _create_case(form, prepared)
    return redirect_to(
        url_for("intake.detail", case_id=case.id),
        _l("已登记 %(number)s。", number=case.case_number),
    )


def _form_page(form, status):
    return render_view("intake/new.html", "intake/_form.html", status, form=form)


def _create_case(form, prepared):
    with photo_store.StoredFiles() as files, database.atomic():
        station = next(
            s for s in stations_for_intake(current_user) if s.id == form.station.data
        )
        now = utcnow()
        case = Case.create(
            case_number=CaseNumberCounter.next_number(station, utc_to_local(now).year),
            station=station,
            name=form.name.data.strip(),
            sex=form.sex.data,
            age_min=form.age_min.data,
            age_max=form.age_max.data,
            found_at=local_to_utc(form.found_at.data),
            found_place=form.found_place.data.strip(),
            notes=form.notes.data.strip(),
            created_by=current_user.id,
            created_at=now,
            updated_at=now,
        )
        photo_store.store(prepared, files, user=current_user.id, case=case)
        audit("case_created", case, case_number=case.case_number, photos=len(prepared))
    return case


@bp.route("/<int:case_id>")
@case_work_required
def detail(case_id):
    case = require_case(Case.get_or_404(Case.id == case_id))
    return render_view("intake/detail.html", case=case, photos=list(case.photos))


class AddPhotosForm(FlaskForm):
    photos = photos_field(_l("添加照片"), required=True)


@bp.route("/<int:case_id>/photos", methods=["POST"])
@case_work_required
def add_photos(case_id):
    case = require_case(Case.get_or_404(Case.id == case_id))
    form = AddPhotosForm()
    errors = form.photos.errors if not form.validate_on_submit() else []
    prepared = []
    if not errors:
        prepared, errors = photo_store.prepare(uploaded_files(form.photos))
    if errors:
        return render_view(
            "intake/detail.html",
            "intake/_add_photos.html",
            422,
            case=case,
            photos=list(case.photos),
            errors=errors,
        )

    with photo_store.StoredFiles() as files, database.atomic():
        photo_store.store(prepared, files, user=current_user.id, case=case)
        case.updated_at = utcnow()
        case.save(only=[Case.updated_at])
        audit("case_photos_added", case, photos=len(prepared))
    return redirect_to(url_for("intake.detail", case_id=case.id), _l("照片已添加。"))
