"""Printed documents: making them from a case, downloading, correcting,
verifying by QR code, the register of letters, batches and font settings."""

import io
import json
from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    request,
    send_file,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from access import (
    CASE_ROLES,
    can_view_case,
    can_view_station,
    case_work_required,
    require_case,
    roles_required,
    visible_station_ids,
)
from blueprints.common import acting_user, audit, page_number, redirect_to, render_view
from blueprints.document_forms import (
    FORMS,
    PREFIX_PATTERN,
    AssistLetterForm,
    BatchForm,
    IncomingLetterForm,
    VerifyUploadForm,
)
from db.accounts import Station, User
from db.base import utcnow
from db.cases import Case
from db.documents import (
    KINDS,
    LETTER_KINDS,
    Commendation,
    Document,
    DocumentBatch,
    IncomingLetter,
)
from db.matching import MatchDecision
from db.verification import VerificationRequest
from services import document_batches, documents, letters, pdf, verification
from services.errors import InputError
from services.timezone import local_today, utc_to_local
from services.workdays import add_workdays

bp = Blueprint("documents", __name__, url_prefix="/documents")

PAGE_SIZE = 50


def _visible(query, station_field):
    ids = visible_station_ids(current_user)
    return query if ids is None else query.where(station_field.in_(ids))


def _require_document(document):
    """Abort with 404 unless the current user may see `document`."""
    if document.case is not None:
        require_case(document.case)
    elif not (
        current_user.role in CASE_ROLES
        and can_view_station(current_user, document.station_id)
    ):
        abort(404)
    return document


def _subject(kind):
    """Return (case, decision, commendation, station) named by the query
    string for a new document of `kind`, checking that the user may see it."""
    case = decision = commendation = None
    if kind == "signoff_sheet":
        decision = MatchDecision.get_or_404(
            MatchDecision.id == request.args.get("decision_id", type=int)
        )
        case = require_case(decision.case)
        # The sheet records a sign-off, so it exists only after one.
        if decision.status != MatchDecision.SAME or not decision.confirmed:
            abort(404)
        return case, decision, None, case.station
    if kind == "commendation":
        commendation = Commendation.get_or_404(
            Commendation.id == request.args.get("commendation_id", type=int)
        )
        if not can_view_station(current_user, commendation.station_id):
            abort(404)
        return commendation.case, None, commendation, commendation.station
    case_id = request.args.get("case_id", type=int)
    if kind == "official_letter" and case_id is None:
        if current_user.role not in (User.STAFF, User.SUPERVISOR):
            abort(403)
        return None, None, None, acting_user().station
    case = require_case(Case.get_or_404(Case.id == case_id))
    return case, None, None, case.station


def _defaults(form, kind, case, station):
    """Fill a new form with what the station usually writes."""
    user = acting_user()
    if "contact_name" in form:
        form.contact_name.data = user.full_name
        form.contact_phone.data = station.phone
    if kind == "assist_letter":
        form.due_on.data = add_workdays(local_today(), 10)
    if kind == "escort_letter":
        form.depart_on.data = local_today() + timedelta(days=1)
        form.escorts.data = user.full_name
    if kind == "handover":
        form.handover_place.data = station.address
        form.handover_at.data = utc_to_local(utcnow()).replace(second=0, microsecond=0)
        form.items_text.data = case.belongings if case else ""
    if kind == "discharge":
        form.discharge_on.data = local_today()


def _set_choices(form, case):
    if hasattr(form, "set_photo_choices"):
        form.set_photo_choices(list(case.photos) if case else [])


def _issue_from_form(
    form, kind, case, decision, commendation, station, previous, extra=None
):
    try:
        document = documents.issue(
            kind,
            station=station,
            user=acting_user(),
            content={**form.content(), **(extra or {})},
            case=case,
            decision=decision,
            commendation=commendation,
            previous=previous,
            reason=(form.reason.data or "").strip(),
        )
    except pdf.RenderError:
        form.form_errors.append(_l("文书生成失败，请稍后重试或联系管理员。"))
        return None
    except documents.StaleCorrection as error:
        form.form_errors.append(error.message)
        return None
    return document


def _issued(document):
    return redirect_to(
        url_for("documents.detail", document_id=document.id),
        _l(
            "已生成%(kind)s %(serial)s。",
            kind=document.kind_label,
            serial=document.serial,
        ),
    )


def _form_page(form, kind, case, decision=None, commendation=None, **context):
    return render_view(
        "documents/new.html",
        None,
        422 if request.method == "POST" else 200,
        form=form,
        kind=kind,
        kind_label=KINDS[kind][0],
        case=case,
        decision=decision,
        commendation=commendation,
        stations=_station_names(),
        **context,
    )


@bp.route("/new/<kind>", methods=["GET", "POST"])
@case_work_required
def new(kind):
    if kind not in FORMS:
        abort(404)
    case, decision, commendation, station = _subject(kind)
    form = FORMS[kind]()
    _set_choices(form, case)
    if request.method == "GET":
        _defaults(form, kind, case, station)
    elif form.validate_on_submit():
        document = _issue_from_form(
            form, kind, case, decision, commendation, station, None
        )
        if document is not None:
            return _issued(document)
    return _form_page(
        form, kind, case, decision, commendation, action=request.full_path
    )


# Verification request items, mapped to the assist letter's items.
REQUEST_ASKS = {
    "confirm_identity": "confirm_identity",
    "find_family": "find_family",
    "household_check": "household",
    "arrange_reception": "reception",
}


@bp.route("/assist-letter/<int:request_id>", methods=["GET", "POST"])
@case_work_required
def assist_letter(request_id):
    """Make the printed 协查函 of a verification request, for a station
    outside this installation."""
    item = VerificationRequest.get_or_404(VerificationRequest.id == request_id)
    if verification.FROM_SIDE not in verification.sides(current_user, item):
        abort(404)
    case = require_case(item.case)
    form = AssistLetterForm()
    if request.method == "GET":
        _defaults(form, "assist_letter", case, item.from_station)
        letter = verification.letter_content(item)
        form.recipient.data = letter["recipient"]["name"]
        form.asks.data = [
            REQUEST_ASKS[code] for code in item.ask_list if code in REQUEST_ASKS
        ]
        if letter["due_date"] and letter["due_date"] >= local_today():
            form.due_on.data = letter["due_date"]
        form.details.data = letter["question"]
        form.contact_name.data = letter["contact_name"] or form.contact_name.data
        form.contact_phone.data = letter["contact_phone"] or form.contact_phone.data
    elif form.validate_on_submit():
        document = _issue_from_form(
            form,
            "assist_letter",
            case,
            None,
            None,
            item.from_station,
            None,
            extra={"request_id": item.public_id},
        )
        if document is not None:
            return _issued(document)
    return _form_page(
        form,
        "assist_letter",
        case,
        action=url_for("documents.assist_letter", request_id=item.id),
        verification_request=item,
    )


def _station_names():
    return [s.name for s in Station.select(Station.name).order_by(Station.name)]


@bp.route("/<int:document_id>")
@case_work_required
def detail(document_id):
    document = _require_document(Document.get_or_404(Document.id == document_id))
    return render_view(
        "documents/detail.html",
        None,
        document=document,
        versions=documents.versions(document),
        integrity=documents.check_integrity(document),
        content=documents.content_of(document),
    )


def _send_checked(document):
    """Send the archived file, refusing one whose bytes changed."""
    if documents.check_integrity(document) != documents.GENUINE:
        current_app.logger.warning(
            "document %s v%d failed its integrity check",
            document.serial,
            document.version,
        )
        return redirect_to(
            url_for("documents.detail", document_id=document.id),
            _l("存档文件与登记的校验值不一致，已停止下载。请联系管理员。"),
            "error",
        )
    audit("document.download", document, serial=document.serial)
    return send_file(
        documents.path_of(document),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=document.download_name,
    )


@bp.route("/<int:document_id>/file")
@case_work_required
def download(document_id):
    return _send_checked(
        _require_document(Document.get_or_404(Document.id == document_id))
    )


@bp.route("/<int:document_id>/image")
@case_work_required
def image(document_id):
    """Send the first page as a JPEG, for posting a search notice online."""
    document = _require_document(Document.get_or_404(Document.id == document_id))
    if document.kind != "search_notice":
        abort(404)
    if documents.check_integrity(document) != documents.GENUINE:
        abort(409)
    data = pdf.page_image(documents.path_of(document).read_bytes())
    return send_file(
        io.BytesIO(data),
        mimetype="image/jpeg",
        as_attachment=True,
        download_name=f"{document.kind_label}-{document.serial}.jpg",
    )


@bp.route("/<int:document_id>/correct", methods=["GET", "POST"])
@case_work_required
def correct(document_id):
    previous = _require_document(Document.get_or_404(Document.id == document_id))
    latest = documents.latest_version(previous)
    if latest.id != previous.id:
        return redirect_to(
            url_for("documents.correct", document_id=latest.id),
            _l("该文书已有更新的版本，请在最新版本上更正。"),
            "info",
        )
    form = FORMS[previous.kind]()
    _set_choices(form, previous.case)
    if request.method == "GET":
        form.load(documents.content_of(previous))
    elif form.validate_on_submit() and form.require_reason():
        document = _issue_from_form(
            form,
            previous.kind,
            previous.case,
            previous.decision,
            previous.commendation,
            previous.station,
            previous,
            extra=_kept_content(previous),
        )
        if document is not None:
            return redirect_to(
                url_for("documents.detail", document_id=document.id),
                _l("已生成第 %(version)d 版。", version=document.version),
            )
    return _form_page(
        form,
        previous.kind,
        previous.case,
        previous.decision,
        previous.commendation,
        previous=previous,
        action=url_for("documents.correct", document_id=previous.id),
    )


def _kept_content(previous):
    """Content that has no form field but belongs to every version, such as
    the verification request a letter was printed for."""
    content = documents.content_of(previous)
    return {key: content[key] for key in ("request_id",) if key in content}


@bp.route("/verify/<code>", methods=["GET", "POST"])
@login_required
def verify(code):
    """Show whether the document a QR code names is genuine, unchanged and
    current, and compare an uploaded copy with the archive."""
    document = Document.get_or_none(Document.verify_code == code)
    form = VerifyUploadForm()
    upload_result = None
    if document is not None and form.validate_on_submit() and form.file.data:
        data = form.file.data.stream.read(current_app.config["MAX_CONTENT_LENGTH"])
        upload_result = documents.matches_upload(document, data)
    if document is not None:
        audit("document.verify", document, serial=document.serial)
    return render_view(
        "documents/verify.html",
        None,
        200 if document is not None else 404,
        document=document,
        integrity=documents.check_integrity(document) if document else None,
        latest=documents.latest_version(document) if document else None,
        can_open=document is not None and _may_open(document),
        form=form,
        upload_result=upload_result,
    )


def _may_open(document):
    if document.case is not None:
        return can_view_case(current_user, document.case)
    return current_user.role in CASE_ROLES and can_view_station(
        current_user, document.station_id
    )


@bp.route("/")
@case_work_required
def index():
    kind = request.args.get("kind", "")
    query = _visible(Document.select(), Document.station)
    if kind in KINDS:
        query = query.where(Document.kind == kind)
    page = page_number()
    rows = list(
        query.order_by(Document.created_at.desc(), Document.id.desc()).paginate(
            page, PAGE_SIZE + 1
        )
    )
    return render_view(
        "documents/index.html",
        "documents/_list.html",
        documents=rows[:PAGE_SIZE],
        has_next=len(rows) > PAGE_SIZE,
        page=page,
        kind=kind,
        kinds=KINDS,
    )


@bp.route("/register")
@case_work_required
def register():
    year = request.args.get("year", type=int) or local_today().year
    year = min(max(year, 2000), 2100)
    sent = _visible(
        Document.select().where(
            Document.kind.in_(LETTER_KINDS) & (Document.version == 1)
        ),
        Document.station,
    )
    received = _visible(IncomingLetter.select(), IncomingLetter.station)
    form = IncomingLetterForm()
    form.received_on.data = local_today()
    return render_view(
        "documents/register.html",
        None,
        sent=letters.sent_in_year(sent, year),
        received=letters.received_in_year(received, year),
        year=year,
        form=form,
    )


@bp.route("/register/incoming", methods=["POST"])
@roles_required(User.STAFF, User.SUPERVISOR)
def record_incoming():
    form = IncomingLetterForm()
    if form.validate_on_submit():
        try:
            letter = letters.record_incoming(form, acting_user())
        except InputError as error:
            form.form_errors.append(error.message)
        else:
            audit("incoming_letter.record", letter, serial=letter.serial)
            return redirect_to(
                url_for("documents.register", year=letter.received_on.year),
                _l("已登记来文 %(serial)s。", serial=letter.serial),
            )
    year = local_today().year
    return render_view(
        "documents/register.html",
        None,
        422,
        sent=[],
        received=[],
        year=year,
        form=form,
    )


@bp.route("/register/incoming/<int:letter_id>/scan")
@case_work_required
def incoming_scan(letter_id):
    letter = IncomingLetter.get_or_404(IncomingLetter.id == letter_id)
    if not can_view_station(current_user, letter.station_id) or not letter.stored_name:
        abort(404)
    return send_file(
        letters.scan_path(letter),
        mimetype=letter.mime_type,
        as_attachment=True,
        download_name=f"{letter.serial}{letters.extension(letter.mime_type)}",
    )


@bp.route("/settings", methods=["GET", "POST"])
@roles_required(User.ADMIN)
def settings():
    stations = list(
        Station.select().where(Station.kind != Station.OTHER).order_by(Station.id)
    )
    families = documents.font_families()
    prefixes = {s.id: documents.prefixes(s) for s in stations}
    errors = {}
    if request.method == "POST":
        families, prefixes, errors = _read_settings(stations)
        if not errors:
            documents.save_font_families(families)
            for station in stations:
                documents.save_prefixes(station, prefixes[station.id])
            audit("document.settings", None, fonts=families)
            return redirect_to(url_for("documents.settings"), _l("文书设置已保存。"))
    return render_view(
        "documents/settings.html",
        None,
        422 if errors else 200,
        roles=pdf.FONT_ROLES,
        families=families,
        installed=sorted(pdf.installed_families()),
        stations=stations,
        prefixes=prefixes,
        kinds=KINDS,
        errors=errors,
    )


def _posted_prefixes(stations):
    return {
        s.id: {kind: request.form.get(f"prefix-{s.id}-{kind}", "") for kind in KINDS}
        for s in stations
    }


def _read_settings(stations):
    errors = {}
    families = {}
    installed = pdf.installed_families()
    for role in pdf.FONT_ROLES:
        name = request.form.get(role, "").strip()
        if not pdf.is_valid_family(name):
            errors[role] = _l("字体名称只能包含文字、数字、空格和 . - + ( )。")
        elif installed and name not in installed:
            errors[role] = _l(
                "本机未安装字体“%(name)s”。请先安装字体，再填写其名称。", name=name
            )
        families[role] = name
    prefixes = _posted_prefixes(stations)
    errors.update(_prefix_errors(stations, prefixes))
    return families, prefixes, errors


def _prefix_errors(stations, prefixes):
    """Check that each prefix is a word, and that no two stations or kinds
    share one, now or in the serials already issued."""
    errors = {}
    seen = {}
    for station in stations:
        for kind, prefix in prefixes[station.id].items():
            key = f"prefix-{station.id}-{kind}"
            prefix = prefix.strip()
            prefixes[station.id][kind] = prefix
            if not PREFIX_PATTERN.match(prefix):
                errors[key] = _l("文号前缀须为 1 到 20 个汉字、字母或数字。")
            elif prefix in seen:
                errors[key] = _l("与“%(other)s”的前缀重复。", other=seen[prefix])
            elif documents.prefix_used_elsewhere(prefix, station, kind):
                errors[key] = _l("此前缀已用于其他站点或文书种类的文号。")
            seen[prefix] = f"{station.name} {KINDS[kind][0]}"
    return errors


@bp.route("/batches/new", methods=["GET", "POST"])
@roles_required(User.STAFF, User.SUPERVISOR)
def new_batch():
    station = acting_user().station
    candidates = document_batches.notice_candidates(station)
    form = BatchForm()
    form.case_ids.choices = [(c.id, c.case_number) for c in candidates]
    if request.method == "GET":
        form.contact_name.data = acting_user().full_name
        form.contact_phone.data = station.phone
        form.case_ids.data = [c.id for c in candidates]
    elif form.validate_on_submit():
        if not form.case_ids.data:
            form.case_ids.errors = [_l("请至少选择一个个案。")]
        else:
            batch = document_batches.start(
                station,
                acting_user(),
                "search_notice",
                form.case_ids.data,
                {
                    "contact_name": form.contact_name.data.strip(),
                    "contact_phone": form.contact_phone.data.strip(),
                },
                documents.link_base(),
            )
            return redirect_to(
                url_for("documents.batch", batch_id=batch.id),
                _l("已开始批量生成 %(count)d 份寻亲公告。", count=batch.total),
            )
    return render_view(
        "documents/batch_new.html",
        None,
        422 if request.method == "POST" else 200,
        form=form,
        candidates=candidates,
    )


def _load_batch(batch_id):
    batch = DocumentBatch.get_or_404(DocumentBatch.id == batch_id)
    if current_user.role not in CASE_ROLES or not can_view_station(
        current_user, batch.station_id
    ):
        abort(404)
    return batch


@bp.route("/batches/<int:batch_id>")
@case_work_required
def batch(batch_id):
    batch = _load_batch(batch_id)
    return render_view(
        "documents/batch.html",
        "documents/_batch_progress.html",
        batch=batch,
        problems=json.loads(batch.problems),
        polling=batch.status in (DocumentBatch.QUEUED, DocumentBatch.RUNNING),
    )


@bp.route("/batches/<int:batch_id>/file")
@case_work_required
def batch_file(batch_id):
    batch = _load_batch(batch_id)
    if batch.status != DocumentBatch.DONE or not batch.zip_name:
        abort(404)
    return send_file(
        document_batches.zip_path(batch),
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"{batch.kind_label}-{batch.id}.zip",
    )
