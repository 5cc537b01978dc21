"""Bulk import of missing-person reports (批量导入): upload, job list, progress."""

from datetime import timedelta

from flask import Blueprint, Response, abort, current_app, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField

import tasks
from access import can_view_station, case_work_required, visible_station_ids
from blueprints.common import (
    acting_user,
    audit,
    notify,
    page_number,
    redirect_to,
    render_view,
    wants_fragment,
)
from db.base import utcnow
from db.jobs import ImportItem, ImportJob
from services import bulk_import

bp = Blueprint("imports", __name__, url_prefix="/imports")

# Problem rows shown on the job page; the CSV export has all of them.
PROBLEMS_SHOWN = 200
# A job queued this long without a worker gets a hint that none is running.
QUEUE_HINT_SECONDS = 30


class ImportForm(FlaskForm):
    archive = FileField(
        _l("照片压缩包"),
        description=_l("ZIP 格式，内含表格中“照片文件”列写到的照片。"),
    )
    # Choices are the sub-folders of IMPORT_FOLDER_ROOT, set per request.
    # The service checks the chosen name, with a message in Chinese rather
    # than WTForms' English one.
    folder = SelectField(
        _l("或：服务器上的照片文件夹"),
        validate_choice=False,
        description=_l("照片较多时，可请管理员把照片文件夹放到服务器上再选择。"),
    )
    sheet = FileField(
        _l("登记表"),
        validators=[FileRequired(_l("请选择登记表文件。"))],
        description=_l(
            "CSV（UTF-8 或 GB18030 编码）或 Excel .xlsx 文件，格式见下方说明。"
        ),
    )

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        has_archive = bool(self.archive.data and self.archive.data.filename)
        if has_archive and self.folder.data:
            self.archive.errors.append(
                _l("请只选择一种照片来源：压缩包或服务器文件夹。")
            )
            return False
        if not has_archive and not self.folder.data:
            self.archive.errors.append(
                _l("请上传照片压缩包，或选择服务器上的照片文件夹。")
            )
            return False
        return valid


def _import_form():
    form = ImportForm()
    names = bulk_import.folder_choices()
    form.folder.choices = [("", _l("（不使用）"))] + [(name, name) for name in names]
    return form


def _jobs_context():
    page = page_number()
    size = current_app.config["PAGE_SIZE"]
    query = ImportJob.visible_to(visible_station_ids(current_user)).order_by(
        ImportJob.id.desc()
    )
    return {
        "jobs": query.paginate(page, size),
        "page": page,
        "has_next": query.count() > page * size,
        "max_upload_mb": current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024),
        "folder_root": bulk_import.folder_root(),
        "columns": bulk_import.COLUMNS,
        "required_columns": bulk_import.REQUIRED_COLUMNS,
    }


def _job_or_404(job_id):
    """Return the job, or abort with 404 when it belongs to a station the
    user may not see, so other stations' job ids reveal nothing."""
    job = ImportJob.get_or_404(ImportJob.id == job_id)
    if not can_view_station(current_user, job.station_id):
        abort(404)
    return job


def _progress_context(job):
    now = utcnow()
    stale_seconds = bulk_import.setting("IMPORT_STALE_SECONDS")
    problems = ImportItem.problems(job)
    waiting_since = now - timedelta(seconds=QUEUE_HINT_SECONDS)
    return {
        "job": job,
        "problems": list(problems.limit(PROBLEMS_SHOWN)),
        "problem_count": problems.count(),
        "problems_shown": PROBLEMS_SHOWN,
        "resumable": job.can_resume(now, stale_seconds),
        "polling": job.is_active and not job.is_stale(now, stale_seconds),
        "waiting": job.status == ImportJob.QUEUED and job.heartbeat_at < waiting_since,
    }


@bp.route("/")
@case_work_required
def index():
    return render_view(
        "imports/index.html",
        "imports/_jobs.html",
        form=_import_form(),
        **_jobs_context(),
    )


@bp.route("/new", methods=["POST"])
@case_work_required
def new():
    form = _import_form()
    if form.validate_on_submit():
        try:
            job = bulk_import.create_job(
                acting_user(),
                form.sheet.data,
                archive=form.archive.data if not form.folder.data else None,
                folder=form.folder.data,
            )
        except bulk_import.SourceErrors as rejected:
            for name, message in rejected.errors.items():
                form[name].errors.append(message)
        else:
            return _queue_new_job(job)
    return render_view(
        "imports/index.html", "imports/_form.html", 422, form=form, **_jobs_context()
    )


def _queue_new_job(job):
    audit("import_created", job, source="folder" if job.folder_name else "archive")
    url = url_for("imports.detail", job_id=job.id)
    if not tasks.enqueue_import(job.id):
        return redirect_to(url, _l("导入任务已创建，但暂时无法加入后台队列。"), "error")
    return redirect_to(url, _l("导入任务已创建，正在后台导入。"))


@bp.route("/<int:job_id>")
@case_work_required
def detail(job_id):
    job = _job_or_404(job_id)
    return render_view(
        "imports/detail.html", "imports/_progress.html", **_progress_context(job)
    )


@bp.route("/<int:job_id>/progress")
@case_work_required
def progress(job_id):
    return detail(job_id)


@bp.route("/<int:job_id>/cancel", methods=["POST"])
@case_work_required
def cancel(job_id):
    job = _job_or_404(job_id)
    if not bulk_import.cancel(job):
        return _after_action(job_id, _l("任务已结束，无需取消。"), "info")
    audit("import_cancelled", job)
    return _after_action(job_id, _l("已取消导入。已导入的登记保留不变。"))


@bp.route("/<int:job_id>/resume", methods=["POST"])
@case_work_required
def resume(job_id):
    job = _job_or_404(job_id)
    if not bulk_import.requeue(job):
        return _after_action(job_id, _l("该任务正在导入或已完成，无需继续。"), "info")
    audit("import_resumed", job)
    if not tasks.enqueue_import(job.id):
        return _after_action(job_id, _l("暂时无法加入后台队列，请稍后再试。"), "error")
    return _after_action(job_id, _l("已继续导入，已完成的行不会重复导入。"))


def _after_action(job_id, message, level="success"):
    if not wants_fragment():
        return redirect_to(url_for("imports.detail", job_id=job_id), message, level)
    job = ImportJob.get_by_id(job_id)
    response = render_view(
        "imports/detail.html", "imports/_progress.html", **_progress_context(job)
    )
    return notify(response, message, level)


@bp.route("/<int:job_id>/problems.csv")
@case_work_required
def problems(job_id):
    job = _job_or_404(job_id)
    audit("import_problems_exported", job)
    return _csv_download(bulk_import.problems_csv(job), f"import-{job.id}-problems.csv")


@bp.route("/template.csv")
@case_work_required
def template():
    return _csv_download(bulk_import.template_csv(), "import-template.csv")


def _csv_download(text, filename):
    return Response(
        text.encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={filename}"},
    )
