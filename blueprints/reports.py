"""Missing-person reports (寻亲登记): the gallery that face searches rank."""

from flask import Blueprint, current_app, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.fields import DateField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from access import case_work_required
from blueprints.common import audit, page_number, redirect_to, render_view
from blueprints.forms import check_not_future, photos_field, sex_field, uploaded_files
from db.base import database, utcnow
from db.reports import REPORT_FIELDS, MissingReport
from services import matching, photo_store, search
from services.masking import mask_phone
from services.timezone import utc_to_local

bp = Blueprint("reports", __name__, url_prefix="/reports")


class ReportForm(FlaskForm):
    sought_name = StringField(
        _l("被寻人姓名"),
        validators=[DataRequired(_l("请填写被寻人姓名。")), Length(max=100)],
    )
    sex = sex_field()
    age_at_missing = IntegerField(
        _l("走失时年龄"),
        validators=[Optional(), NumberRange(0, 120, _l("年龄应在 0 到 120 岁之间。"))],
    )
    last_seen_place = StringField(
        _l("最后出现地点"), default="", validators=[Length(max=200)]
    )
    last_seen_on = DateField(_l("走失日期"), validators=[Optional()])
    reporter_name = StringField(
        _l("登记人姓名"),
        validators=[DataRequired(_l("请填写登记人姓名。")), Length(max=50)],
    )
    reporter_relation = StringField(
        _l("与被寻人关系"), default="", validators=[Length(max=20)]
    )
    reporter_phone = StringField(
        _l("联系电话"),
        validators=[
            DataRequired(_l("请填写联系电话。")),
            Regexp(
                r"^\+?[0-9][0-9\- ]{5,18}[0-9]$",
                message=_l("电话号码格式不正确，请填写数字，可含区号和“-”。"),
            ),
        ],
    )
    notes = TextAreaField(_l("补充说明"), default="", validators=[Length(max=4000)])
    photos = photos_field(_l("被寻人照片"), required=True)

    def validate_last_seen_on(self, field):
        check_not_future(field, utc_to_local(utcnow()).date())


def _clean(value):
    return value.strip() if isinstance(value, str) else value


@bp.route("/")
@case_work_required
def index():
    page = page_number()
    size = current_app.config["PAGE_SIZE"]
    query = MissingReport.select().order_by(MissingReport.created_at.desc())
    return render_view(
        "reports/index.html",
        "reports/_list.html",
        reports=query.paginate(page, size),
        page=page,
        has_next=query.count() > page * size,
        mask_phone=mask_phone,
    )


@bp.route("/new", methods=["GET", "POST"])
@case_work_required
def new():
    form = ReportForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_view("reports/new.html", "reports/_form.html", status, form=form)

    prepared, photo_errors = photo_store.prepare(uploaded_files(form.photos))
    if photo_errors:
        form.photos.errors = list(photo_errors)
        return render_view("reports/new.html", "reports/_form.html", 422, form=form)

    with photo_store.StoredFiles() as files, database.atomic():
        report = MissingReport.create(
            station=current_user.station_id,
            created_by=current_user.id,
            **{name: _clean(form[name].data) for name in REPORT_FIELDS},
        )
        photo_store.store(prepared, files, user=current_user.id, report=report)
        search.reindex_report(report)
        found = matching.search_new_report(report)
        audit("report_created", report, photos=len(prepared), possible_cases=len(found))
    return redirect_to(
        url_for("reports.detail", report_id=report.id),
        _l("寻亲登记已保存，照片已加入比对库。"),
    )


@bp.route("/<int:report_id>")
@case_work_required
def detail(report_id):
    report = MissingReport.get_or_404(MissingReport.id == report_id)
    return render_view(
        "reports/detail.html",
        report=report,
        photos=list(report.photos),
        masked_phone=mask_phone(report.reporter_phone),
    )


@bp.route("/<int:report_id>/phone", methods=["POST"])
@case_work_required
def reveal_phone(report_id):
    report = MissingReport.get_or_404(MissingReport.id == report_id)
    audit("report_phone_viewed", report)
    return render_view(
        "reports/_phone.html", "reports/_phone.html", phone=report.reporter_phone
    )
