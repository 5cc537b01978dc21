"""Identity-verification requests: the lists, one request and its steps,
exchange files and the monthly figures."""

import io
import logging
from urllib.parse import quote

from flask import Blueprint, abort, current_app, request, send_file, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    MultipleFileField,
    PasswordField,
    SelectField,
)
from wtforms.validators import DataRequired, ValidationError

from access import (
    can_view_case,
    case_work_required,
    require_case,
    stations_for_intake,
)
from blueprints.common import acting_user, audit, redirect_to, render_view
from blueprints.forms import (
    CONTROL_CHARACTERS,
    CheckboxesField,
    long_text,
    text_field,
    uploaded_files,
)
from db.accounts import Station
from db.base import utcnow
from db.cases import Case
from db.settings import Setting
from db.verification import ASKS, VerificationFile, VerificationRequest
from services import (
    attachments,
    exchange,
    photo_store,
    verification,
    verification_stats,
)
from services import stations_directory as directory
from services.errors import InputError
from services.masking import mask_id_number, mask_phone
from services.timezone import local_today

bp = Blueprint("verification", __name__, url_prefix="/verification")
logger = logging.getLogger("tuanyuan.verification")
R = VerificationRequest


def station_field(label):
    """Return a station list whose errors read well when nothing valid was chosen."""
    return SelectField(
        label,
        coerce=int,
        invalid_value_message=_l("请选择站点。"),
        invalid_choice_message=_l("请从列表中选择站点。"),
    )


def _one_ask_checked(form, field):
    if not field.data:
        raise ValidationError(_l("请至少选择一项请求核实的事项。"))


class RequestForm(FlaskForm):
    to_station = station_field(_l("发往站点"))
    # A custom check: DataRequired would mark every checkbox `required`, and
    # the browser would then insist on all of them.
    asks = CheckboxesField(
        _l("请求事项"), choices=list(ASKS.items()), validators=[_one_ask_checked]
    )
    known_facts = long_text(_l("已知情况"), 10_000)
    question = long_text(_l("请对方核实的内容"), 10_000, _l("请写明请对方核实什么。"))
    include_id_number = BooleanField(_l("附上完整身份证号"))
    photos = CheckboxesField(
        _l("随请求发送的照片"),
        coerce=int,
        choices=[],
        invalid_choice_message=_l(
            "所选照片不属于本个案或已删除（编号 %(value)s），请刷新页面后重新选择。"
        ),
    )
    contact_name = text_field(_l("本站联系人"), 50, _l("请填写联系人。"))
    contact_phone = text_field(_l("联系电话"), 40, _l("请填写联系电话。"))


class AnswerForm(FlaskForm):
    outcome = SelectField(
        _l("核实结果"),
        choices=list(R.OUTCOMES.items()),
        invalid_choice_message=_l("请选择核实结果。"),
    )
    answer_text = long_text(_l("核实情况"), 10_000, _l("请填写核实情况。"))
    answer_name = text_field(_l("核实的姓名"), 100)
    answer_address = text_field(_l("户籍或家庭住址"), 200)
    answer_contact = text_field(_l("家属及联系方式"), 200)
    channel = SelectField(
        _l("答复方式"),
        choices=[("phone", _l("电话")), ("letter", _l("信函"))],
        default="phone",
        invalid_choice_message=_l("请选择答复方式。"),
    )
    files = MultipleFileField(
        _l("附件"), description=_l("PDF、JPEG、PNG 或 WebP，每个不超过 20 MB")
    )


class NoteForm(FlaskForm):
    text = long_text(_l("说明"), 10_000)


class SignoffForm(FlaskForm):
    decision = SelectField(
        _l("签批意见"),
        choices=[("approve", _l("批准")), ("reject", _l("退回"))],
        invalid_choice_message=_l("请选择签批意见。"),
    )
    reason = long_text(_l("意见说明"), 2000)
    password = PasswordField(
        _l("本人密码"), validators=[DataRequired(_l("请输入密码以签批。"))]
    )


class ImportForm(FlaskForm):
    file = FileField(
        _l("交换文件（zip）"),
        validators=[FileRequired(_l("请选择交换文件。"))],
    )
    station = station_field(_l("接收站点"))


class ReplyImportForm(FlaskForm):
    file = FileField(
        _l("回复文件（zip）"),
        validators=[FileRequired(_l("请选择回复文件。"))],
    )


def _load(request_id):
    """Return the request, or abort 404 unless the user works for one side."""
    item = R.get_or_404(R.id == request_id)
    if not verification.sides(current_user, item):
        abort(404)
    return item


# Lists


LIST_VIEWS = {
    "inbox": _l("收到的请求"),
    "outbox": _l("发出的请求"),
    "overdue": _l("逾期未答复"),
    "signoff": _l("待签批"),
}


@bp.route("/")
@case_work_required
def index():
    view = request.args.get("view", "inbox")
    if view not in LIST_VIEWS:
        abort(404)
    today = local_today()
    queries = {
        "inbox": lambda: verification.inbox(current_user),
        "outbox": lambda: verification.outbox(current_user),
        "overdue": lambda: verification.overdue(current_user, today),
        "signoff": lambda: verification.pending_signoffs(current_user),
    }
    rows = list(queries[view]().limit(500))
    return render_view(
        "verification/index.html",
        None,
        rows=rows,
        view=view,
        views=LIST_VIEWS,
        today=today,
        overdue_count=verification.overdue(current_user, today).count(),
    )


# Drafting from a case


def _request_form(case, formdata=None):
    form = RequestForm(formdata=formdata) if formdata is not None else RequestForm()
    stations = (
        Station.select()
        .where(Station.id != case.station_id)
        .order_by(Station.directory_group, Station.division_code, Station.name)
    )
    form.to_station.choices = [(s.id, s.name) for s in stations]
    form.photos.choices = [
        (photo.id, photo.original_name or _l("照片 %(n)s", n=n))
        for n, photo in enumerate(case.photos, start=1)
    ]
    return form


def _new_context(case, form):
    return {
        "case": case,
        "form": form,
        "suggestions": directory.suggest(case),
        "photos": list(case.photos),
    }


@bp.route("/new/<int:case_id>", methods=["GET", "POST"])
@case_work_required
def new(case_id):
    case = require_case(Case.get_or_404(Case.id == case_id))
    if request.method == "GET":
        form = _request_form(case, formdata=None)
        form.known_facts.data = verification.default_known_facts(case)
        form.contact_name.data = current_user.full_name
        form.contact_phone.data = current_user.station.phone
        form.photos.data = [photo.id for photo in case.photos]
        form.asks.data = ["confirm_identity", "find_family"]
        form.include_id_number.data = bool(case.id_number)
        suggested = directory.suggest(case)
        if suggested:
            form.to_station.data = suggested[0].station.id
        return render_view("verification/new.html", None, **_new_context(case, form))

    form = _request_form(case)
    if not form.validate_on_submit():
        return render_view(
            "verification/new.html", None, 422, **_new_context(case, form)
        )
    to_station = Station.get_or_404(Station.id == form.to_station.data)
    try:
        item = verification.create_draft(
            case, to_station, form.data, form.photos.data, acting_user()
        )
        if request.form.get("send"):
            item = verification.send(item, acting_user())
    except InputError as error:
        form.to_station.errors = [str(error)]
        return render_view(
            "verification/new.html", None, 422, **_new_context(case, form)
        )
    message = _l("核实请求已发出。") if item.status == R.SENT else _l("草稿已保存。")
    return redirect_to(url_for("verification.detail", request_id=item.id), message)


# One request


def _context(item, **forms):
    found = verification.sides(current_user, item)
    case = item.case if item.case_id else None
    answer_form = AnswerForm(formdata=None)
    context = {
        "item": item,
        "sides": found,
        "events": list(item.events.order_by(item.events.model.id)),
        "photos": [f for f in item.files if f.role == VerificationFile.PHOTO],
        "answer_files": [f for f in item.files if f.role == VerificationFile.ANSWER],
        "masked_id": mask_id_number(item.id_number) if item.id_number else "",
        "masked_phone": mask_phone(item.contact_phone),
        "today": local_today(),
        "answer_form": answer_form,
        "note_form": NoteForm(formdata=None),
        "signoff_form": SignoffForm(formdata=None),
        "has_letter": "documents.assist_letter" in current_app.view_functions,
        "answers_here": _answers_here(item, found),
        "records_for_other": not item.to_station.receives_online
        and not item.imported
        and "from" in found,
        "earlier_confirmations": verification.earlier_confirmations(item)
        if "from" in found
        else [],
        "case_identified": case is not None
        and case.status in verification.IDENTIFIED_STATUSES,
        "case_status_label": case.status_label if case else "",
        "page_error": "",
    }
    context.update(forms)
    return context


def _answers_here(item, found):
    online = item.to_station.receives_online or item.imported
    return ("to" in found and online) or ("from" in found and not online)


def _show(item, status=200, **forms):
    return render_view(
        "verification/detail.html", None, status, **_context(item, **forms)
    )


@bp.route("/<int:request_id>")
@case_work_required
def detail(request_id):
    return _show(_load(request_id))


@bp.route("/<int:request_id>/id-number", methods=["POST"])
@case_work_required
def reveal_id(request_id):
    item = _load(request_id)
    audit("verification_id_viewed", item)
    return render_view("cases/_id_number.html", None, number=item.id_number or "")


def _failed(item, message, **forms):
    """Show the request page with `message` above it, whichever forms it shows.

    A step can fail on a form that the fresh page no longer offers, such as
    a second click on 确认接收, so the message never depends on a form.
    """
    logger.info(
        "verification request %s: step rejected for user %s (%s)",
        item.id,
        current_user.id,
        getattr(message, "code", "form"),
    )
    return _show(item, 422, page_error=str(message), **forms)


def _first_error(form):
    messages = (error for errors in form.errors.values() for error in errors)
    return next(messages, _l("请检查填写的内容。"))


def _step(item, action, message, form=None):
    if form is not None and not form.validate_on_submit():
        return _failed(item, _first_error(form), note_form=form)
    try:
        action()
    except InputError as error:
        if form is None:
            return _failed(item, error)
        form.text.errors = [str(error)]
        return _failed(item, error, note_form=form)
    return redirect_to(url_for("verification.detail", request_id=item.id), message)


@bp.route("/<int:request_id>/send", methods=["POST"])
@case_work_required
def send(request_id):
    item = _load(request_id)
    return _step(
        item, lambda: verification.send(item, acting_user()), _l("核实请求已发出。")
    )


@bp.route("/<int:request_id>/receive", methods=["POST"])
@case_work_required
def receive(request_id):
    item = _load(request_id)
    return _step(
        item, lambda: verification.receive(item, acting_user()), _l("已登记接收。")
    )


@bp.route("/<int:request_id>/start", methods=["POST"])
@case_work_required
def start(request_id):
    item = _load(request_id)
    return _step(
        item, lambda: verification.start(item, acting_user()), _l("已开始办理。")
    )


@bp.route("/<int:request_id>/supplement", methods=["POST"])
@case_work_required
def supplement(request_id):
    item = _load(request_id)
    form = NoteForm()
    return _step(
        item,
        lambda: verification.supplement(item, form.text.data, acting_user()),
        _l("已补充信息并重新发出。"),
        form,
    )


@bp.route("/<int:request_id>/close", methods=["POST"])
@case_work_required
def close(request_id):
    item = _load(request_id)
    form = NoteForm()
    return _step(
        item,
        lambda: verification.close(item, form.text.data, acting_user()),
        _l("请求已结束。"),
        form,
    )


@bp.route("/<int:request_id>/answer", methods=["POST"])
@case_work_required
def answer(request_id):
    item = _load(request_id)
    form = AnswerForm()
    if not form.validate_on_submit():
        return _failed(item, _first_error(form), answer_form=form)
    files = []
    for storage in uploaded_files(form.files):
        try:
            data, mime_type = attachments.check(
                storage, current_app.config["PHOTO_MAX_BYTES"]
            )
        except InputError as error:
            form.files.errors = [str(error)]
            return _failed(item, error, answer_form=form)
        files.append((CONTROL_CHARACTERS.sub("", storage.filename), data, mime_type))
    channel = (
        form.channel.data
        if "from" in verification.sides(current_user, item)
        and not item.to_station.receives_online
        else None
    )
    try:
        with photo_store.StoredFiles() as stored:
            verification.answer(item, form.data, acting_user(), channel, files, stored)
    except InputError as error:
        field = getattr(form, error.code, None)
        if field is not None:
            field.errors = [str(error)]
        return _failed(item, error, answer_form=form)
    return redirect_to(
        url_for("verification.detail", request_id=item.id), _l("答复已保存。")
    )


@bp.route("/<int:request_id>/signoff", methods=["POST"])
@case_work_required
def signoff(request_id):
    item = _load(request_id)
    form = SignoffForm()
    if not form.validate_on_submit():
        return _failed(item, _first_error(form), signoff_form=form)
    try:
        verification.sign_off(
            item,
            form.password.data,
            form.decision.data == "approve",
            form.reason.data,
            acting_user(),
        )
    except InputError as error:
        if error.code == "password":
            form.password.errors = [str(error)]
        elif error.code in ("reason", "name_conflict"):
            form.reason.errors = [str(error)]
        return _failed(item, error, signoff_form=form)
    return redirect_to(
        url_for("verification.detail", request_id=item.id), _l("签批已完成。")
    )


@bp.route("/<int:request_id>/files/<int:file_id>")
@case_work_required
def file(request_id, file_id):
    item = _load(request_id)
    entry = VerificationFile.get_or_404(
        (VerificationFile.id == file_id) & (VerificationFile.request == item)
    )
    if entry.photo_id:
        path = photo_store.photo_path(entry.photo)
    else:
        path = exchange.file_path(entry)
    if not path.exists():
        abort(404)
    return send_file(
        path,
        mimetype=entry.mime_type,
        as_attachment=entry.mime_type == "application/pdf",
        download_name=entry.original_name or path.name,
    )


# Exchange files


@bp.route("/<int:request_id>/export")
@case_work_required
def export(request_id):
    item = _load(request_id)
    found = verification.sides(current_user, item)
    try:
        if item.imported and "to" in found:
            data, name = exchange.export_reply(item, acting_user())
        elif "from" in found:
            data, name = exchange.export_request(item, acting_user())
        else:
            abort(404)
    except InputError as error:
        return redirect_to(
            url_for("verification.detail", request_id=item.id), error, "error"
        )
    response = send_file(io.BytesIO(data), mimetype="application/zip")
    # Werkzeug's ASCII fallback drops the Chinese characters and leaves
    # "--2026-0001-….zip", so give a readable one of our own.
    response.headers.set(
        "Content-Disposition",
        "attachment",
        filename=exchange.ascii_file_name(item),
        **{"filename*": "UTF-8''" + quote(name, safe="")},
    )
    return response


def _import_form(formdata=None):
    form = ImportForm(formdata=formdata) if formdata is not None else ImportForm()
    form.station.choices = [(s.id, s.name) for s in stations_for_intake(current_user)]
    return form


def _read_upload(storage):
    limit = exchange.max_bytes()
    return storage.stream.read(limit + 1)


def _import_page(status=200, **forms):
    forms.setdefault("form", _import_form(formdata=None))
    forms.setdefault("reply_form", ReplyImportForm(formdata=None))
    return render_view("verification/import.html", None, status, **forms)


@bp.route("/import", methods=["GET", "POST"])
@case_work_required
def import_request():
    if request.method == "GET":
        form = _import_form(formdata=None)
        form.station.data = current_user.station_id
        return _import_page(form=form)
    form = _import_form()
    if not form.validate_on_submit():
        return _import_page(422, form=form)
    station = Station.get_or_404(Station.id == form.station.data)
    try:
        item = exchange.import_request(
            _read_upload(form.file.data), station, acting_user()
        )
    except InputError as error:
        logger.info(
            "rejected request file from user %s: %s", current_user.id, error.code
        )
        form.file.errors = [str(error)]
        return _import_page(422, form=form)
    return redirect_to(
        url_for("verification.detail", request_id=item.id),
        _l("已导入核实请求，请尽快办理并答复。"),
    )


@bp.route("/import-reply", methods=["POST"])
@case_work_required
def import_reply():
    form = ReplyImportForm()
    if not form.validate_on_submit():
        return _import_page(422, reply_form=form)
    try:
        item = exchange.import_reply(
            _read_upload(form.file.data),
            acting_user(),
            verification.visible_to(current_user),
        )
    except InputError as error:
        logger.info("rejected reply file from user %s: %s", current_user.id, error.code)
        form.file.errors = [str(error)]
        return _import_page(422, reply_form=form)
    return redirect_to(
        url_for("verification.detail", request_id=item.id), _l("已导入对方的答复。")
    )


# Figures


@bp.route("/stats")
@case_work_required
def stats():
    today = local_today()
    year = request.args.get("year", today.year, type=int)
    if not 2000 <= year <= today.year:
        abort(404)
    baseline_year, baseline, current, gain = verification_stats.against_baseline(
        current_user, year
    )
    return render_view(
        "verification/stats.html",
        None,
        year=year,
        rows=verification_stats.monthly(current_user, year),
        baseline_year=baseline_year,
        baseline=baseline,
        current=current,
        gain=gain,
    )


# Lists shared with neighbouring cities


@bp.route("/shared-lists")
@case_work_required
def shared_lists():
    from services import shared_lists as lists

    now = utcnow()
    return render_view(
        "verification/shared_lists.html",
        None,
        lists=lists.lists_for(current_user, local_today()),
        days_in_care=lambda case: lists.days_in_care(case, now),
        long_stay_days=Setting.get_value("long_stay_days"),
        can_view_case=lambda case: can_view_case(current_user, case),
    )


@bp.route("/shared-lists/export")
@case_work_required
def export_shared_list():
    """Send the user's own stations' list as a spreadsheet, for a
    neighbouring city that does not use this installation."""
    from services import shared_lists as lists

    today = local_today()
    own = lists.own_list_for(current_user, today)
    audit(
        "shared_list_exported",
        None,
        stations=[station.id for station in own],
        people=sum(len(cases) for cases in own.values()),
    )
    return send_file(
        io.BytesIO(lists.spreadsheet(own, utcnow())),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"共享名单-{today.isoformat()}.xlsx",
    )


# The case page's panel


@bp.app_template_global()
def verification_panel(case):
    """Requests about `case` and the suggested stations, for the case page."""
    return {
        "requests": list(case.verification_requests.order_by(R.created_at.desc())),
        "suggestions": directory.suggest(case),
        "today": local_today(),
    }
