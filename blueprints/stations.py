"""The station directory: stations of this city and elsewhere, their contacts
and the agreements signed with them."""

from flask import Blueprint, abort, current_app, request, send_file, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, SelectField, StringField
from wtforms.validators import DataRequired, Regexp, StopValidation

from access import roles_required
from blueprints.common import acting_user, audit, redirect_to, render_view
from blueprints.forms import (
    has_control_characters,
    long_text,
    text_field,
)
from db.accounts import Station, User
from db.base import database
from db.stations_directory import DIRECTORY_GROUPS, Agreement, StationContact
from services import attachments, photo_store
from services import stations_directory as directory
from services.errors import InputError

bp = Blueprint("stations", __name__, url_prefix="/stations")

VIEW_ROLES = (User.STAFF, User.SUPERVISOR, User.COORDINATOR, User.ADMIN)
EDIT_ROLES = (User.COORDINATOR, User.ADMIN)


def date_check(missing_message=None):
    """Validate a DateField: a typed but impossible date gets its own message.

    Without `missing_message` the date is optional. Replaces DataRequired
    and Optional, which would report an impossible date such as 2026-13-01
    as missing or in English.
    """

    def check(form, field):
        if field.data is not None:
            return
        typed = bool(field.raw_data and field.raw_data[0].strip())
        field.errors[:] = []
        if typed:
            raise StopValidation(
                _l(
                    "“%(label)s”不是有效的日期，请按 年-月-日 填写，如 2024-03-01。",
                    label=field.label.text,
                )
            )
        raise StopValidation(missing_message)

    return check


class StationForm(FlaskForm):
    name = text_field(_l("站点名称"), 100, _l("请填写站点名称。"))
    short_name = text_field(_l("简称"), 20, _l("请填写简称。"))
    directory_group = SelectField(
        _l("类别"),
        choices=list(DIRECTORY_GROUPS.items()),
        invalid_choice_message=_l("请选择类别。"),
    )
    division_code = StringField(
        _l("行政区划代码"),
        description=_l("6 位数字，如 411625"),
        validators=[
            DataRequired(_l("请填写行政区划代码。")),
            Regexp(r"^[0-9]{6}$", message=_l("行政区划代码应为 6 位数字。")),
        ],
    )
    address = text_field(_l("地址"), 200)
    phone = text_field(_l("值班电话"), 40)
    channels = long_text(
        _l("其他联系渠道"), 2000, description=_l("传真、邮箱、政务内网等")
    )
    uses_platform = BooleanField(_l("该站使用本平台（请求直接进入其收件箱）"))


class ContactForm(FlaskForm):
    name = text_field(_l("联系人"), 50, _l("请填写联系人。"))
    title = text_field(_l("职务"), 50)
    phone = text_field(_l("电话"), 40)
    channel = text_field(_l("其他渠道"), 200)


class AgreementForm(FlaskForm):
    kind = SelectField(
        _l("协议类型"),
        choices=list(Agreement.KINDS.items()),
        invalid_choice_message=_l("请选择协议类型。"),
    )
    title = text_field(_l("协议名称"), 200, _l("请填写协议名称。"))
    signed_on = DateField(_l("签订日期"), validators=[date_check()])
    valid_from = DateField(
        _l("生效日期"), validators=[date_check(_l("请填写生效日期。"))]
    )
    valid_until = DateField(
        _l("截止日期"), description=_l("长期有效可留空"), validators=[date_check()]
    )
    scope = long_text(_l("合作范围"), 4000)
    document = FileField(_l("协议文本"), description=_l("PDF 或扫描图片，不超过 20 MB"))


def _can_edit():
    return current_user.role in EDIT_ROLES


@bp.route("/")
@roles_required(*VIEW_ROLES)
def index():
    stations = Station.select().order_by(Station.kind, Station.division_code)
    groups = {"": []}
    groups.update({key: [] for key in DIRECTORY_GROUPS})
    for station in stations:
        groups.setdefault(station.directory_group, []).append(station)
    return render_view(
        "stations/index.html",
        None,
        groups=groups,
        labels=DIRECTORY_GROUPS,
        form=StationForm(formdata=None),
        can_edit=_can_edit(),
    )


@bp.route("/new", methods=["POST"])
@roles_required(*EDIT_ROLES)
def new():
    form = StationForm()
    if form.validate_on_submit():
        existing = Station.select().where(
            (Station.name == form.name.data.strip())
            | (Station.short_name == form.short_name.data.strip())
        )
        if not existing.exists():
            station = Station.create(kind=Station.OTHER, **_station_values(form))
            audit("station_added", station)
            return redirect_to(
                url_for("stations.detail", station_id=station.id), _l("站点已添加。")
            )
        form.name.errors = [_l("已有同名或同简称的站点。")]
    return render_view(
        "stations/index.html",
        None,
        422,
        groups={},
        labels=DIRECTORY_GROUPS,
        form=form,
        can_edit=True,
    )


def _station_values(form):
    return {
        "name": form.name.data.strip(),
        "short_name": form.short_name.data.strip(),
        "directory_group": form.directory_group.data,
        "division_code": form.division_code.data.strip(),
        "address": form.address.data.strip(),
        "phone": form.phone.data.strip(),
        "channels": form.channels.data.strip(),
        "uses_platform": form.uses_platform.data,
    }


def _detail_context(station, **forms):
    context = {
        "station": station,
        "contacts": list(station.contacts),
        "agreements": list(station.agreements.order_by(Agreement.valid_from.desc())),
        "contact_form": ContactForm(formdata=None),
        "agreement_form": AgreementForm(formdata=None),
        "can_edit": _can_edit(),
    }
    context.update(forms)
    return context


@bp.route("/<int:station_id>")
@roles_required(*VIEW_ROLES)
def detail(station_id):
    station = Station.get_or_404(Station.id == station_id)
    return render_view("stations/detail.html", None, **_detail_context(station))


@bp.route("/<int:station_id>/contacts", methods=["POST"])
@roles_required(*EDIT_ROLES)
def add_contact(station_id):
    station = Station.get_or_404(Station.id == station_id)
    form = ContactForm()
    if not form.validate_on_submit():
        return render_view(
            "stations/detail.html",
            None,
            422,
            **_detail_context(station, contact_form=form),
        )
    StationContact.create(
        station=station,
        name=form.name.data.strip(),
        title=form.title.data.strip(),
        phone=form.phone.data.strip(),
        channel=form.channel.data.strip(),
    )
    audit("station_contact_added", station)
    return redirect_to(
        url_for("stations.detail", station_id=station.id), _l("联系人已添加。")
    )


@bp.route("/<int:station_id>/agreements", methods=["POST"])
@roles_required(*EDIT_ROLES)
def add_agreement(station_id):
    station = Station.get_or_404(Station.id == station_id)
    form = AgreementForm()
    if form.validate_on_submit() and _dates_in_order(form):
        try:
            return _save_agreement(station, form)
        except InputError as error:
            form.document.errors = [str(error)]
    return render_view(
        "stations/detail.html",
        None,
        422,
        **_detail_context(station, agreement_form=form),
    )


def _dates_in_order(form):
    if form.valid_until.data and form.valid_until.data < form.valid_from.data:
        form.valid_until.errors = [_l("截止日期不能早于生效日期。")]
        return False
    return True


def _save_agreement(station, form):
    upload = form.document.data
    checked = None
    if upload and upload.filename:
        checked = attachments.check(upload, current_app.config["PHOTO_MAX_BYTES"])
    with photo_store.StoredFiles() as stored, database.atomic():
        agreement = Agreement.create(
            station=station,
            kind=form.kind.data,
            title=form.title.data.strip(),
            signed_on=form.signed_on.data,
            valid_from=form.valid_from.data,
            valid_until=form.valid_until.data,
            scope=form.scope.data.strip(),
            created_by=acting_user(),
        )
        if checked:
            directory.store_document(agreement, upload.filename, *checked, stored)
        audit("agreement_added", agreement, station=station.id, kind=agreement.kind)
    return redirect_to(
        url_for("stations.detail", station_id=station.id), _l("协议已保存。")
    )


@bp.route("/<int:station_id>/agreements/<int:agreement_id>/document")
@roles_required(*VIEW_ROLES)
def agreement_document(station_id, agreement_id):
    agreement = Agreement.get_or_404(
        (Agreement.id == agreement_id) & (Agreement.station == station_id)
    )
    if not agreement.stored_name:
        abort(404)
    path = directory.document_path(agreement)
    if not path.exists():
        abort(404)
    return send_file(
        path,
        mimetype=agreement.mime_type,
        as_attachment=agreement.mime_type == "application/pdf",
        download_name=agreement.original_name or path.name,
    )


@bp.route("/<int:station_id>/edit", methods=["POST"])
@roles_required(*EDIT_ROLES)
def edit(station_id):
    station = Station.get_or_404(Station.id == station_id)
    if station.kind != Station.OTHER:
        abort(404)
    fields = {
        "address": request.form.get("address", "").strip()[:200],
        "phone": request.form.get("phone", "").strip()[:40],
        "channels": request.form.get("channels", "").strip()[:2000],
        "uses_platform": request.form.get("uses_platform") == "y",
    }
    texts = (fields["address"], fields["phone"], fields["channels"])
    if any(has_control_characters(text) for text in texts):
        return redirect_to(
            url_for("stations.detail", station_id=station.id),
            _l("站点信息中含有不可见的控制字符，未保存，请删除后重新提交。"),
            "error",
        )
    Station.update(**fields).where(Station.id == station.id).execute()
    audit("station_updated", station, fields=sorted(fields))
    return redirect_to(
        url_for("stations.detail", station_id=station.id), _l("站点信息已保存。")
    )
