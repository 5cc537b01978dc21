"""Thank-you banners and letters: list, record, yearly summary, print."""

from flask import Blueprint, abort, request, send_file, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import (
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import ValidationError

from access import (
    can_view_station,
    case_work_required,
    roles_required,
    visible_station_ids,
)
from blueprints.common import acting_user, audit, redirect_to, render_view
from blueprints.document_forms import date_field
from blueprints.forms import (
    EARLIEST_YEAR,
    MultipleChoiceField,
    photos_field,
    text_checks,
    uploaded_files,
)
from db.accounts import User
from db.cases import Case
from db.documents import Commendation, CommendationPhoto
from services import commendations
from services.photos import PhotoError
from services.timezone import local_today

bp = Blueprint("commendations", __name__, url_prefix="/commendations")


class CommendationForm(FlaskForm):
    kind = SelectField(_l("类型"), choices=list(Commendation.KINDS.items()))
    giver = StringField(
        _l("赠送人"),
        validators=text_checks(100, _l("请填写赠送人。")),
    )
    giver_relation = StringField(_l("身份或与受助人关系"), validators=text_checks(50))
    place = StringField(_l("赠送地点"), validators=text_checks(200))
    received_on = date_field(_l("收到日期"), _l("请填写收到日期。"))
    banner_text = StringField(_l("锦旗文字"), validators=text_checks(200))
    letter_text = TextAreaField(_l("感谢信内容"), validators=text_checks(5000))
    case_number = StringField(_l("相关个案编号"), validators=text_checks(40))
    staff = MultipleChoiceField(_l("受表扬的工作人员"), coerce=int)
    note = TextAreaField(_l("备注"), validators=text_checks(1000))
    photos = photos_field(_l("照片（可不传）"), required=False)

    def validate_received_on(self, field):
        if field.data and field.data > local_today():
            raise ValidationError(_l("收到日期不能晚于今天。"))
        if field.data and field.data.year < EARLIEST_YEAR:
            raise ValidationError(_l("日期不能早于 %(year)s 年。", year=EARLIEST_YEAR))

    def validate_case_number(self, field):
        self.case = None
        number = (field.data or "").strip()
        if not number:
            return
        self.case = Case.get_or_none(
            (Case.case_number == number) & (Case.station == acting_user().station)
        )
        if self.case is None:
            raise ValidationError(
                _l("本站没有编号为“%(number)s”的个案。", number=number)
            )

    def validate_photos(self, field):
        if len(uploaded_files(field)) > commendations.MAX_PHOTOS:
            raise ValidationError(
                _l("照片最多 %(count)d 张。", count=commendations.MAX_PHOTOS)
            )


def _year():
    year = request.args.get("year", type=int) or local_today().year
    return min(max(year, 2000), 2100)


def _visible():
    query = Commendation.select()
    ids = visible_station_ids(current_user)
    return query if ids is None else query.where(Commendation.station.in_(ids))


def _load(commendation_id):
    item = Commendation.get_or_404(Commendation.id == commendation_id)
    if not can_view_station(current_user, item.station_id):
        abort(404)
    return item


@bp.route("/")
@case_work_required
def index():
    year = _year()
    items = list(
        commendations.in_year(_visible(), year).order_by(
            Commendation.received_on.desc(), Commendation.id.desc()
        )
    )
    return render_view(
        "commendations/index.html",
        None,
        items=items,
        year=year,
        summary=commendations.summary(items),
    )


def _staff_choices():
    station = acting_user().station
    return [
        (u.id, u.full_name)
        for u in User.select()
        .where((User.station == station) & User.is_active_account)
        .order_by(User.full_name)
    ]


@bp.route("/new", methods=["GET", "POST"])
@roles_required(User.STAFF, User.SUPERVISOR)
def new():
    form = CommendationForm()
    form.staff.choices = _staff_choices()
    if request.method == "GET":
        form.received_on.data = local_today()
        if request.args.get("case_number"):
            form.case_number.data = request.args["case_number"]
    elif form.validate_on_submit():
        try:
            normalised = commendations.normalise_photos(uploaded_files(form.photos))
        except PhotoError as error:
            form.photos.errors = [*form.photos.errors, error.message]
        else:
            staff = list(
                User.select()
                .where(User.id.in_(form.staff.data or []))
                .order_by(User.id)
            )
            item = commendations.create(
                {
                    "station": acting_user().station,
                    "case": form.case,
                    "kind": form.kind.data,
                    "giver": form.giver.data.strip(),
                    "giver_relation": (form.giver_relation.data or "").strip(),
                    "place": (form.place.data or "").strip(),
                    "received_on": form.received_on.data,
                    "banner_text": (form.banner_text.data or "").strip(),
                    "letter_text": (form.letter_text.data or "").strip(),
                    "note": (form.note.data or "").strip(),
                },
                staff,
                normalised,
                acting_user(),
            )
            audit("commendation.create", item, giver=item.giver)
            return redirect_to(
                url_for("commendations.detail", commendation_id=item.id),
                _l("表扬记录已保存。"),
            )
    return render_view(
        "commendations/new.html",
        None,
        422 if request.method == "POST" else 200,
        form=form,
    )


@bp.route("/<int:commendation_id>")
@case_work_required
def detail(commendation_id):
    item = _load(commendation_id)
    return render_view(
        "commendations/detail.html",
        None,
        item=item,
        staff=item.staff_members(),
        documents=list(item.documents),
    )


@bp.route("/<int:commendation_id>/photos/<int:photo_id>")
@case_work_required
def photo(commendation_id, photo_id):
    item = _load(commendation_id)
    picture = CommendationPhoto.get_or_404(
        (CommendationPhoto.id == photo_id) & (CommendationPhoto.commendation == item)
    )
    return send_file(commendations.photo_path(picture), mimetype="image/jpeg")


@bp.route("/summary")
@case_work_required
def summary():
    year = _year()
    items = list(commendations.in_year(_visible(), year))
    return render_view(
        "commendations/summary.html",
        None,
        year=year,
        summary=commendations.summary(items),
    )
