"""Intake (受助登记) with the repeat-visitor check, and the case list with search."""

from flask import Blueprint, current_app, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import Optional

from access import case_work_required, stations_for_intake
from blueprints.case_forms import CaseFields
from blueprints.common import (
    acting_user,
    audit,
    page_number,
    redirect_to,
    render_view,
)
from blueprints.forms import photos_field, uploaded_files
from db.accounts import Station
from db.base import database, utcnow
from db.cases import PLACEMENT_KINDS, SEXES, Case
from services import cases, photo_store, repeat_visitors, search
from services.timezone import utc_to_local

bp = Blueprint("intake", __name__, url_prefix="/cases")

NO_PHOTO = _l("请至少上传一张照片。")


class IntakeForm(CaseFields):
    station = SelectField(_l("登记站点"), coerce=int)
    photos = photos_field(_l("照片"), required=False)
    # Set when photos were checked in an earlier submit that showed possible
    # earlier records; the confirmation reuses them.
    pending = HiddenField()
    confirm_new = HiddenField()


class CaseFilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("搜索"), default="")
    station = SelectField(_l("站点"), coerce=int, validators=[Optional()])
    status = SelectField(_l("状态"), validators=[Optional()])
    sex = SelectField(_l("性别"), validators=[Optional()])
    age_from = IntegerField(_l("年龄从"), validators=[Optional()])
    age_to = IntegerField(_l("到"), validators=[Optional()])
    found_from = DateField(_l("发现日期从"), validators=[Optional()])
    found_to = DateField(_l("到"), validators=[Optional()])
    placement = SelectField(_l("安置"), validators=[Optional()])


def _filter_form():
    form = CaseFilterForm(request.args)
    any_choice = [("", _l("全部"))]
    form.station.choices = [(0, _l("全部"))] + [
        (s.id, s.name) for s in stations_for_intake(current_user)
    ]
    form.status.choices = any_choice + list(Case.STATUSES.items())
    form.sex.choices = any_choice + list(SEXES.items())
    form.placement.choices = any_choice + list(PLACEMENT_KINDS.items())
    return form


@bp.route("/")
@case_work_required
def index():
    form = _filter_form()
    form.validate()
    page = page_number()
    result = search.search_cases(
        current_user,
        form.q.data or "",
        station_id=form.station.data or None,
        status=form.status.data or None,
        sex=form.sex.data or None,
        age_from=form.age_from.data,
        age_to=form.age_to.data,
        found_from=form.found_from.data,
        found_to=form.found_to.data,
        placement=form.placement.data or None,
        page=page,
        per_page=current_app.config["PAGE_SIZE"],
    )
    if form.q.data:
        audit("case_search", query=form.q.data[:100], total=result.total)
    return render_view(
        "intake/index.html", "intake/_list.html", form=form, result=result
    )


@bp.route("/new", methods=["GET", "POST"])
@case_work_required
def new():
    form = IntakeForm()
    form.station.choices = [(s.id, s.name) for s in stations_for_intake(current_user)]
    if request.method == "GET":
        form.station.data = current_user.station_id
        form.found_at.data = utc_to_local(utcnow()).replace(second=0, microsecond=0)
        return _form_page(form)
    if not form.validate_on_submit():
        if not uploaded_files(form.photos) and not form.pending.data:
            form.photos.errors = [*form.photos.errors, NO_PHOTO]
        return _form_page(form, status=422)

    prepared, errors = _photos_of(form)
    if errors:
        form.photos.errors = list(errors)
        return _form_page(form, status=422)

    values = form.record_values()
    if not form.confirm_new.data:
        earlier = repeat_visitors.find(values, prepared)
        if earlier:
            form.pending.data = _stash(prepared)
            return _form_page(form, status=409, earlier=earlier, kept=prepared)

    case = _register(form, values, prepared)
    photo_store.discard(form.pending.data)
    return redirect_to(
        url_for("cases.detail", case_id=case.id),
        _l("已登记 %(number)s。", number=case.case_number),
    )


def _photos_of(form):
    """Return (prepared photos, errors) from the upload or an earlier stash."""
    uploads = uploaded_files(form.photos)
    if not uploads and form.pending.data:
        if form.pending.data in session.get("pending_photos", []):
            kept = photo_store.unstash(form.pending.data)
            if kept:
                return kept, []
        return [], [_l("之前上传的照片已失效，请重新选择照片。")]
    if not uploads:
        return [], [NO_PHOTO]
    return photo_store.prepare(uploads)


def _stash(prepared):
    token = photo_store.stash(prepared)
    session["pending_photos"] = session.get("pending_photos", [])[-4:] + [token]
    return token


def _form_page(form, status=200, earlier=None, kept=None):
    return render_view(
        "intake/new.html",
        "intake/_form.html",
        status,
        form=form,
        earlier=earlier,
        kept=kept,
    )


def _register(form, values, prepared):
    station = Station.get_by_id(form.station.data)
    with photo_store.StoredFiles() as files, database.atomic():
        case = cases.create(station, values, prepared, files, acting_user())
        audit(
            "case_created",
            case,
            case_number=case.case_number,
            photos=len(prepared),
            confirmed_new=bool(form.confirm_new.data),
        )
    return case
