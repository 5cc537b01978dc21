"""Interviews, the clues drawn from them, and the tasks that follow clues."""

from flask import Blueprint, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields import DateTimeLocalField
from wtforms.validators import DataRequired, Length, Optional

from access import CASE_ROLES, case_work_required
from blueprints.cases import _load, _show
from blueprints.common import audit, redirect_to
from blueprints.forms import check_not_future
from db.accounts import User
from db.base import database, utcnow
from db.interviews import Clue, Interview
from db.tasks import Task
from services import clues
from services.timezone import local_to_utc, utc_to_local

bp = Blueprint("interviews", __name__, url_prefix="/cases")


class InterviewForm(FlaskForm):
    held_at = DateTimeLocalField(
        _l("问询时间"),
        format="%Y-%m-%dT%H:%M",
        validators=[DataRequired(_l("请填写问询时间。"))],
    )
    dialect_helper = StringField(
        _l("方言协助人"), default="", validators=[Length(max=100)]
    )
    content = TextAreaField(
        _l("问询内容"),
        validators=[DataRequired(_l("请填写问询内容。")), Length(max=10000)],
    )

    def validate_held_at(self, field):
        check_not_future(field, utc_to_local(utcnow()))


class ClueForm(FlaskForm):
    kind = SelectField(_l("线索类型"), choices=list(Clue.KINDS.items()))
    text = StringField(
        _l("线索内容"),
        default="",
        validators=[DataRequired(_l("请填写线索内容。")), Length(max=200)],
        description=_l("如：地名“襄樊”、亲属“二哥王大山”、口音“四川话”"),
    )


class ClueStatusForm(FlaskForm):
    status = SelectField(_l("核查结果"), choices=list(Clue.STATUSES.items()))
    note = StringField(_l("说明"), default="", validators=[Length(max=1000)])


class TaskForm(FlaskForm):
    kind = SelectField(_l("任务类型"), choices=list(Task.KINDS.items()))
    title = StringField(
        _l("任务内容"),
        default="",
        validators=[DataRequired(_l("请填写任务内容。")), Length(max=200)],
    )
    owner = SelectField(_l("负责人"), coerce=int)
    due_at = DateTimeLocalField(
        _l("截止时间"), format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )


class TaskDoneForm(FlaskForm):
    outcome = TextAreaField(
        _l("办理结果"),
        validators=[DataRequired(_l("请填写办理结果。")), Length(max=2000)],
    )


def owners_for(case):
    return (
        User.select()
        .where(
            (User.station == case.station_id)
            & User.role.in_(CASE_ROLES)
            & User.is_active_account
        )
        .order_by(User.full_name)
    )


def task_form(case, **kwargs):
    """Build the task form with the case station's staff as owners; `kwargs`
    go to the form (formdata=None for an empty form)."""
    form = TaskForm(**kwargs)
    form.owner.choices = [(u.id, u.full_name) for u in owners_for(case)]
    if form.owner.data is None and current_user.id in dict(form.owner.choices):
        form.owner.data = current_user.id
    return form


@bp.route("/<int:case_id>/interviews", methods=["POST"])
@case_work_required
def add_interview(case_id):
    case = _load(case_id)
    form = InterviewForm()
    if not form.validate_on_submit():
        return _show(case, 422, interview_form=form)
    with database.atomic():
        interview = Interview.create(
            case=case,
            held_at=local_to_utc(form.held_at.data),
            interviewer=current_user.id,
            dialect_helper=form.dialect_helper.data.strip(),
            content=form.content.data.strip(),
        )
        audit("interview_added", case, interview_id=interview.id)
    return redirect_to(
        url_for("cases.detail", case_id=case.id, _anchor="clues"),
        _l("问询记录已保存，请在下方整理线索。"),
    )


@bp.route("/<int:case_id>/clues", methods=["POST"])
@case_work_required
def add_clue(case_id):
    case = _load(case_id)
    form = ClueForm()
    if not form.validate_on_submit():
        return _show(case, 422, clue_form=form)
    interpretation = clues.interpret(form.kind.data, form.text.data.strip())
    with database.atomic():
        clue = Clue.create(
            case=case,
            interview=case.interviews.order_by(Interview.id.desc()).first(),
            kind=form.kind.data,
            text=form.text.data.strip(),
            division_code=interpretation.division_code,
            interpretation=interpretation.summary,
            created_by=current_user.id,
        )
        audit("clue_added", case, clue_id=clue.id, kind=clue.kind)
    return redirect_to(
        url_for("cases.detail", case_id=case.id, _anchor="clues"), _l("线索已添加。")
    )


@bp.route("/<int:case_id>/clues/<int:clue_id>/status", methods=["POST"])
@case_work_required
def update_clue(case_id, clue_id):
    case = _load(case_id)
    clue = Clue.get_or_404((Clue.id == clue_id) & (Clue.case == case))
    form = ClueStatusForm()
    if not form.validate_on_submit():
        return _show(case, 422)
    with database.atomic():
        clue.status = form.status.data
        clue.note = form.note.data.strip()
        clue.save()
        audit("clue_updated", case, clue_id=clue.id, status=clue.status)
    return redirect_to(
        url_for("cases.detail", case_id=case.id, _anchor="clues"), _l("线索已更新。")
    )


@bp.route("/<int:case_id>/tasks", methods=["POST"])
@bp.route("/<int:case_id>/clues/<int:clue_id>/tasks", methods=["POST"])
@case_work_required
def add_task(case_id, clue_id=None):
    case = _load(case_id)
    clue = None
    if clue_id is not None:
        clue = Clue.get_or_404((Clue.id == clue_id) & (Clue.case == case))
    form = task_form(case)
    if not form.validate_on_submit():
        return _show(case, 422, task_form=form)
    with database.atomic():
        task = Task.create(
            case=case,
            clue=clue,
            kind=form.kind.data,
            title=form.title.data.strip(),
            owner=form.owner.data,
            due_at=local_to_utc(form.due_at.data),
        )
        if clue is not None and clue.status == "open":
            clue.status = "tried"
            clue.save()
        audit("task_added", case, task_id=task.id, kind=task.kind)
    return redirect_to(
        url_for("cases.detail", case_id=case.id, _anchor="tasks"), _l("任务已创建。")
    )


@bp.route("/<int:case_id>/tasks/<int:task_id>/done", methods=["POST"])
@case_work_required
def complete_task(case_id, task_id):
    case = _load(case_id)
    task = Task.get_or_404((Task.id == task_id) & (Task.case == case))
    form = TaskDoneForm()
    if not form.validate_on_submit() or task.status != Task.OPEN:
        return _show(case, 422, done_form=form, done_task_id=task.id)
    with database.atomic():
        task.status = Task.DONE
        task.outcome = form.outcome.data.strip()
        task.completed_at = utcnow()
        task.save()
        audit("task_completed", case, task_id=task.id)
    return redirect_to(
        url_for("cases.detail", case_id=case.id, _anchor="tasks"), _l("任务已完成。")
    )
