"""One case: its record, timeline, edits, status, placements and merging."""

import io

from flask import (
    Blueprint,
    abort,
    current_app,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from PIL import Image
from wtforms import StringField
from wtforms.validators import Length

from access import case_work_required, require_case, roles_required
from blueprints.case_forms import (
    AliasForm,
    DnaForm,
    EditCaseForm,
    MergeForm,
    PlacementForm,
    StatusForm,
)
from blueprints.common import acting_user, audit, redirect_to, render_view
from blueprints.forms import photos_field, uploaded_files
from db.accounts import User
from db.attachments import Attachment
from db.base import database, utcnow
from db.cases import Case, CaseAlias, Placement
from db.documents import CASE_DOCUMENT_KINDS, KINDS, Document
from db.interviews import Clue, Interview
from db.settings import Setting
from db.tasks import Task
from services import (
    attachments,
    cases,
    clues,
    faces,
    idnumbers,
    photo_store,
    photos,
    search,
    timeline,
)
from services.errors import InputError
from services.masking import mask_id_number
from services.timezone import utc_to_local

bp = Blueprint("cases", __name__, url_prefix="/cases")


class AddPhotosForm(FlaskForm):
    photos = photos_field(_l("添加照片"), required=True)


class AttachmentForm(FlaskForm):
    file = FileField(
        _l("附件"),
        description=_l("PDF、JPEG、PNG 或 WebP，不超过 20 MB"),
        validators=[FileRequired(_l("请选择要上传的文件。"))],
    )
    description = StringField(_l("说明"), default="", validators=[Length(max=200)])


def _load(case_id):
    """Return the case for a change, or abort 404 (also for merged records)."""
    case = require_case(Case.get_or_404(Case.id == case_id))
    if case.merged_into_id:
        require_case(case.merged_into)
        raise _Moved(case.merged_into)
    return case


class _Moved(Exception):
    def __init__(self, target):
        self.target = target


@bp.errorhandler(_Moved)
def _moved(error):
    return redirect_to(
        url_for("cases.detail", case_id=error.target.id),
        _l("该个案已并入 %(number)s。", number=error.target.case_number),
        "info",
    )


def _status_form(case, form=None):
    form = form or StatusForm()
    form.target.choices = [
        (target, Case.STATUSES[target])
        for target in cases.allowed_targets(case, current_user)
    ]
    return form


def _context(case, **forms):
    context = {
        "case": case,
        "photos": list(case.photos),
        "aliases": list(case.aliases),
        "placements": list(case.placements.order_by(Placement.start_date.desc())),
        "clues": list(case.clues.order_by(Clue.created_at.desc())),
        "tasks": list(case.tasks.order_by(Task.due_at)),
        "interviews": list(case.interviews),
        "suggestions": _suggestions(case),
        "attachments": list(case.attachments),
        "case_documents": list(case.documents.order_by(Document.created_at.desc())),
        "document_kinds": [(kind, KINDS[kind][0]) for kind in CASE_DOCUMENT_KINDS],
        "events": timeline.build(case),
        "masked_id": mask_id_number(case.id_number) if case.id_number else "",
        "id_info": idnumbers.parse(case.id_number) if case.id_number else None,
        "now": utcnow(),
        "status_form": _status_form(case),
        "placement_form": PlacementForm(formdata=None),
        "alias_form": AliasForm(formdata=None),
        "dna_form": DnaForm(formdata=None, obj=case),
        "merge_form": MergeForm(formdata=None),
        "photos_form": AddPhotosForm(formdata=None),
        "attachment_form": AttachmentForm(formdata=None),
        "group_form": GroupPhotoForm(formdata=None),
        "can_merge": current_user.role in cases.SUPERVISOR_ROLES,
        "long_stay": cases.is_long_stay(
            case, Setting.get_value("long_stay_days"), utcnow()
        ),
    }
    context.update(_interview_forms(case))
    context.update(forms)
    return context


def _suggestions(case):
    latest = case.interviews.order_by(Interview.id.desc()).first()
    if latest is None:
        return []
    known = {clue.text for clue in case.clues}
    return clues.suggest(latest.content, known)


def _interview_forms(case):
    from blueprints import interviews

    interview_form = interviews.InterviewForm(formdata=None)
    interview_form.held_at.data = utc_to_local(utcnow()).replace(
        second=0, microsecond=0
    )
    return {
        "interview_form": interview_form,
        "clue_form": interviews.ClueForm(formdata=None),
        "clue_status_form": interviews.ClueStatusForm(formdata=None),
        "task_form": interviews.task_form(case, formdata=None),
        "done_form": interviews.TaskDoneForm(formdata=None),
    }


def _show(case, status=200, **forms):
    return render_view("cases/detail.html", None, status, **_context(case, **forms))


@bp.route("/<int:case_id>")
@case_work_required
def detail(case_id):
    return _show(_load(case_id))


@bp.route("/<int:case_id>/id-number", methods=["POST"])
@case_work_required
def reveal_id(case_id):
    case = _load(case_id)
    audit("case_id_viewed", case)
    return render_view("cases/_id_number.html", None, number=case.id_number or "")


@bp.route("/<int:case_id>/edit", methods=["GET", "POST"])
@case_work_required
def edit(case_id):
    case = _load(case_id)
    form = EditCaseForm(obj=case)
    if request.method == "GET":
        form.found_at.data = utc_to_local(case.found_at)
        form.id_number.data = case.id_number or ""
        form.version.data = case.version
        return render_view("cases/edit.html", None, form=form, case=case)
    if not form.validate_on_submit():
        return render_view("cases/edit.html", None, 422, form=form, case=case)

    try:
        expected = int(form.version.data or 0)
        changed = cases.save_edit(case, expected, form.record_values(), acting_user())
    except cases.EditConflict as conflict:
        # Resubmitting after reading the conflict saves over the newer version.
        form.version.data = conflict.current.version
        return render_view(
            "cases/edit.html",
            None,
            409,
            form=form,
            case=conflict.current,
            conflict=conflict,
            labels=cases.FIELD_LABELS,
        )
    message = _l("已保存。") if changed else _l("没有修改任何内容。")
    return redirect_to(url_for("cases.detail", case_id=case.id), message)


@bp.route("/<int:case_id>/status", methods=["POST"])
@case_work_required
def change_status(case_id):
    case = _load(case_id)
    form = _status_form(case, StatusForm())
    if not form.validate_on_submit():
        return _show(case, 422, status_form=form)
    try:
        cases.change_status(case, form.target.data, form.reason.data, acting_user())
    except InputError as error:
        form.reason.errors = [str(error)]
        return _show(case, 422, status_form=form)
    return redirect_to(url_for("cases.detail", case_id=case.id), _l("状态已更新。"))


@bp.route("/<int:case_id>/placements", methods=["POST"])
@case_work_required
def add_placement(case_id):
    case = _load(case_id)
    form = PlacementForm()
    if form.validate_on_submit():
        try:
            cases.record_placement(
                case,
                form.kind.data,
                form.institution.data.strip(),
                form.start_date.data,
                form.notes.data.strip(),
                acting_user(),
            )
        except InputError as error:
            form.start_date.errors = [str(error)]
        else:
            return redirect_to(
                url_for("cases.detail", case_id=case.id), _l("安置记录已保存。")
            )
    return _show(case, 422, placement_form=form)


@bp.route("/<int:case_id>/aliases", methods=["POST"])
@case_work_required
def add_alias(case_id):
    case = _load(case_id)
    form = AliasForm()
    if not form.validate_on_submit():
        return _show(case, 422, alias_form=form)
    with database.atomic():
        CaseAlias.create(case=case, name=form.alias.data.strip(), kind=form.kind.data)
        search.reindex_case(case)
        audit("case_alias_added", case, kind=form.kind.data)
    return redirect_to(url_for("cases.detail", case_id=case.id), _l("已添加名字。"))


@bp.route("/<int:case_id>/aliases/<int:alias_id>/delete", methods=["POST"])
@case_work_required
def delete_alias(case_id, alias_id):
    case = _load(case_id)
    alias = CaseAlias.get_or_404((CaseAlias.id == alias_id) & (CaseAlias.case == case))
    with database.atomic():
        alias.delete_instance()
        search.reindex_case(case)
        audit("case_alias_removed", case)
    return redirect_to(url_for("cases.detail", case_id=case.id), _l("已删除名字。"))


@bp.route("/<int:case_id>/dna", methods=["POST"])
@case_work_required
def update_dna(case_id):
    case = _load(case_id)
    form = DnaForm()
    if not form.validate_on_submit():
        return _show(case, 422, dna_form=form)
    cases.set_dna_status(
        case, form.dna_status.data, form.dna_note.data.strip(), acting_user()
    )
    return redirect_to(url_for("cases.detail", case_id=case.id), _l("DNA 状态已更新。"))


@bp.route("/<int:case_id>/merge", methods=["POST"])
@roles_required(User.SUPERVISOR, User.COORDINATOR)
def merge(case_id):
    case = _load(case_id)
    form = MergeForm()
    if not form.validate_on_submit():
        return _show(case, 422, merge_form=form)
    other = Case.get_or_none(Case.case_number == form.other_number.data.strip())
    if other is None or not _visible(other):
        form.other_number.errors = [_l("未找到该个案编号，或您无权查看该个案。")]
        return _show(case, 422, merge_form=form)
    try:
        cases.merge(case, other, acting_user())
    except InputError as error:
        form.other_number.errors = [str(error)]
        return _show(case, 422, merge_form=form)
    audit("case_merge_reason", case, reason=form.reason.data.strip()[:500])
    return redirect_to(
        url_for("cases.detail", case_id=case.id),
        _l("已将 %(number)s 并入本个案。", number=other.case_number),
    )


def _visible(case):
    from access import can_view_case

    return can_view_case(current_user, case)


@bp.route("/<int:case_id>/photos", methods=["POST"])
@case_work_required
def add_photos(case_id):
    case = _load(case_id)
    form = AddPhotosForm()
    errors = form.photos.errors if not form.validate_on_submit() else []
    prepared = []
    if not errors:
        prepared, errors = photo_store.prepare(uploaded_files(form.photos))
    if errors:
        form.photos.errors = list(errors)
        return _show(case, 422, photos_form=form)

    with photo_store.StoredFiles() as files, database.atomic():
        photo_store.store(prepared, files, user=current_user.id, case=case)
        Case.update(updated_at=utcnow()).where(Case.id == case.id).execute()
        audit("case_photos_added", case, photos=len(prepared))
    return redirect_to(url_for("cases.detail", case_id=case.id), _l("照片已添加。"))


@bp.route("/<int:case_id>/attachments", methods=["POST"])
@case_work_required
def add_attachment(case_id):
    case = _load(case_id)
    form = AttachmentForm()
    if not form.validate_on_submit():
        return _show(case, 422, attachment_form=form)
    try:
        data, mime_type = attachments.check(
            form.file.data, current_app.config["PHOTO_MAX_BYTES"]
        )
    except InputError as error:
        form.file.errors = [str(error)]
        return _show(case, 422, attachment_form=form)
    with photo_store.StoredFiles() as files, database.atomic():
        attachment = attachments.store(
            case,
            form.file.data,
            data,
            mime_type,
            form.description.data.strip(),
            current_user.id,
            files,
        )
        audit("attachment_added", case, attachment_id=attachment.id)
    return redirect_to(url_for("cases.detail", case_id=case.id), _l("附件已上传。"))


@bp.route("/<int:case_id>/attachments/<int:attachment_id>")
@case_work_required
def attachment(case_id, attachment_id):
    case = _load(case_id)
    item = Attachment.get_or_404(
        (Attachment.id == attachment_id) & (Attachment.case == case)
    )
    path = attachments.path_of(item)
    if not path.exists():
        abort(404)
    return send_file(
        path,
        mimetype=item.mime_type,
        as_attachment=item.mime_type == "application/pdf",
        download_name=item.original_name or path.name,
    )


class GroupPhotoForm(FlaskForm):
    photo = FileField(
        _l("合影或多人照片"),
        description=_l("上传后点击照片中要寻亲的那个人"),
        validators=[FileRequired(_l("请选择照片。"))],
    )


def _own_pending(token):
    return token in session.get("pending_photos", [])


@bp.route("/<int:case_id>/group-photo", methods=["POST"])
@case_work_required
def group_photo(case_id):
    case = _load(case_id)
    form = GroupPhotoForm()
    if not form.validate_on_submit():
        return _show(case, 422, group_form=form)
    try:
        data = photo_store.read_upload(
            form.photo.data, current_app.config["PHOTO_MAX_BYTES"]
        )
        normalised = photos.normalise(data)
    except InputError as error:
        form.photo.errors = [str(error)]
        return _show(case, 422, group_form=form)
    found = faces.faces_for_picking(normalised.image)
    if not found:
        form.photo.errors = [_l("这张照片中未检测到人脸，请换一张正面照片。")]
        return _show(case, 422, group_form=form)
    token = photo_store.stash_group(normalised, found)
    session["pending_photos"] = session.get("pending_photos", [])[-4:] + [token]
    session["group_names"] = {token: (form.photo.data.filename or "")[:255]}
    return redirect_to(url_for("cases.pick_face", case_id=case.id, token=token))


@bp.route("/<int:case_id>/group-photo/<token>", methods=["GET", "POST"])
@case_work_required
def pick_face(case_id, token):
    case = _load(case_id)
    kept = photo_store.load_group(token) if _own_pending(token) else None
    if kept is None:
        abort(404)
    jpeg, found = kept
    if request.method == "GET":
        with Image.open(io.BytesIO(jpeg)) as image:
            size = image.size
        return render_view(
            "cases/pick_face.html",
            None,
            case=case,
            token=token,
            faces=found,
            width=size[0],
            height=size[1],
        )
    index = request.form.get("face", type=int)
    if index is None or not 0 <= index < len(found):
        abort(400)
    name = session.get("group_names", {}).get(token, "")
    try:
        prepared = photo_store.prepare_one(name, jpeg, face=found[index])
    except InputError as error:
        return redirect_to(
            url_for("cases.pick_face", case_id=case.id, token=token), error, "error"
        )
    with photo_store.StoredFiles() as files, database.atomic():
        photo_store.store([prepared], files, user=current_user.id, case=case)
        audit("case_photos_added", case, photos=1, picked_face=index)
    photo_store.discard(token)
    return redirect_to(
        url_for("cases.detail", case_id=case.id), _l("已添加所选人脸的照片。")
    )


@bp.route("/<int:case_id>/group-photo/<token>/image")
@case_work_required
def group_image(case_id, token):
    _load(case_id)
    kept = photo_store.load_group(token) if _own_pending(token) else None
    if kept is None:
        abort(404)
    return send_file(io.BytesIO(kept[0]), mimetype="image/jpeg")
