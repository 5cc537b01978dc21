"""Reviewing face candidates, the inbox of new matches, supervisor sign-off
and the searchable log of face searches."""

import json

from flask import Blueprint, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, RadioField, TextAreaField
from wtforms.validators import DataRequired, Length

from access import case_work_required, require_case, roles_required, visible_station_ids
from blueprints.common import acting_user, page_number, redirect_to, render_view
from db.accounts import User
from db.cases import Case
from db.matching import FaceSearch, MatchDecision
from db.photos import Photo
from db.reports import MissingReport
from extensions import limiter
from services import facts, reviews
from services.errors import InputError

bp = Blueprint("reviews", __name__)


class ReviewForm(FlaskForm):
    status = RadioField(
        _l("审查结论"),
        choices=[
            (MatchDecision.SAME, _l("是同一人（提交审核人签批）")),
            (MatchDecision.NOT_SAME, _l("不是同一人（今后不再列为候选）")),
            (MatchDecision.UNSURE, _l("无法确定（需进一步核实）")),
        ],
        validators=[DataRequired(_l("请选择审查结论。"))],
    )
    reason = TextAreaField(
        _l("理由"), validators=[DataRequired(_l("请填写审查理由。")), Length(max=2000)]
    )


class SignOffForm(FlaskForm):
    password = PasswordField(
        _l("请再次输入您的登录密码以签批"),
        validators=[DataRequired(_l("请输入密码。")), Length(max=200)],
    )


def _pair(case_id, report_id):
    case = require_case(Case.get_or_404(Case.id == case_id))
    report = MissingReport.get_or_404(MissingReport.id == report_id)
    return case, report


def _photos(owner_field, owner):
    return list(Photo.select().where(owner_field == owner).order_by(Photo.id))


def _page(decision, status=200, **forms):
    return render_view(
        "reviews/review.html",
        None,
        status,
        decision=decision,
        case=decision.case,
        report=decision.report,
        case_photos=_photos(Photo.case, decision.case),
        report_photos=_photos(Photo.report, decision.report),
        rows=json.loads(decision.facts),
        verdicts=facts.VERDICT_LABELS,
        weights=facts.weights(),
        can_reopen=reviews.new_photos_since(decision),
        form=forms.get("form") or ReviewForm(formdata=None, obj=decision),
        signoff_form=forms.get("signoff_form") or SignOffForm(formdata=None),
        can_sign=current_user.role in (User.SUPERVISOR, User.COORDINATOR),
    )


@bp.route(
    "/cases/<int:case_id>/reports/<int:report_id>/review", methods=["GET", "POST"]
)
@case_work_required
def review(case_id, report_id):
    case, report = _pair(case_id, report_id)
    decision = reviews.decision_for(case, report)
    if decision is None:
        return redirect_to(
            url_for("cases.detail", case_id=case.id),
            _l("请先用一照寻亲比对后再审查。"),
            "error",
        )
    if request.method == "GET":
        return _page(decision)
    form = ReviewForm()
    if not form.validate_on_submit():
        return _page(decision, 422, form=form)
    try:
        reviews.review(decision, form.status.data, form.reason.data, acting_user())
    except InputError as error:
        form.reason.errors = [str(error)]
        return _page(decision, 422, form=form)
    return redirect_to(
        url_for("reviews.review", case_id=case.id, report_id=report.id),
        _l("审查结论已保存。"),
    )


@bp.route("/cases/<int:case_id>/reports/<int:report_id>/reopen", methods=["POST"])
@case_work_required
def reopen(case_id, report_id):
    case, report = _pair(case_id, report_id)
    decision = MatchDecision.get_or_404(
        (MatchDecision.case == case) & (MatchDecision.report == report)
    )
    try:
        reviews.reopen(decision, acting_user())
    except InputError as error:
        return redirect_to(
            url_for("reviews.review", case_id=case.id, report_id=report.id),
            error,
            "error",
        )
    return redirect_to(
        url_for("reviews.review", case_id=case.id, report_id=report.id),
        _l("已重新打开，可再次审查。"),
    )


@bp.route("/decisions/<int:decision_id>/sign-off", methods=["POST"])
@roles_required(User.SUPERVISOR, User.COORDINATOR)
@limiter.limit("10 per minute")
def sign_off(decision_id):
    decision = MatchDecision.get_or_404(MatchDecision.id == decision_id)
    require_case(decision.case)
    form = SignOffForm()
    if not form.validate_on_submit():
        return _page(decision, 422, signoff_form=form)
    try:
        reviews.sign_off(decision, form.password.data, acting_user())
    except InputError as error:
        form.password.errors = [str(error)]
        return _page(decision, 422, signoff_form=form)
    return redirect_to(
        url_for("cases.detail", case_id=decision.case_id),
        _l("身份已确认，个案状态已改为“身份已确认”。"),
    )


@bp.route("/inbox")
@case_work_required
def inbox():
    station_ids = visible_station_ids(current_user)
    return render_view(
        "reviews/inbox.html",
        None,
        pending=list(reviews.inbox(station_ids).limit(200)),
        signoffs=list(reviews.pending_signoffs(station_ids).limit(200)),
        can_sign=current_user.role in (User.SUPERVISOR, User.COORDINATOR),
    )


@bp.route("/searches/log")
@roles_required(User.SUPERVISOR, User.COORDINATOR)
def search_log():
    query = (
        FaceSearch.select(FaceSearch, Case, User)
        .join(Case)
        .switch(FaceSearch)
        .join(User)
        .order_by(FaceSearch.created_at.desc())
    )
    station_ids = visible_station_ids(current_user)
    if station_ids is not None:
        query = query.where(Case.station.in_(station_ids))
    text = request.args.get("q", "").strip()[:50]
    if text:
        query = query.where(
            (Case.case_number.contains(text))
            | (User.username == text)
            | (User.full_name == text)
        )
    page = page_number()
    return render_view(
        "reviews/search_log.html",
        None,
        searches=list(query.paginate(page, 50)),
        page=page,
        q=text,
    )
