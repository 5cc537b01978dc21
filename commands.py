"""Command-line tools: `flask db`, `flask demo`, `flask faces`, `flask users`."""

import re
import sys
from pathlib import Path

import click
import peewee
from flask import current_app
from flask.cli import AppGroup
from peewee_migrate import Router

from db.base import database

MIGRATIONS = Path(__file__).resolve().parent / "db" / "migrations"
USERNAME = re.compile(r"^[A-Za-z0-9._-]{3,50}$")
MIN_PASSWORD_LENGTH = 10

db_cli = AppGroup("db", help="数据库结构迁移。")
demo_cli = AppGroup("demo", help="演示数据。")
faces_cli = AppGroup("faces", help="人脸比对工具。")
users_cli = AppGroup("users", help="账号管理。")
audit_cli = AppGroup("audit", help="审计日志。")
tasks_cli = AppGroup("tasks", help="期限任务。")
imports_cli = AppGroup("imports", help="批量导入。")
search_cli = AppGroup("search", help="搜索索引。")


def migration_router():
    database.connect(reuse_if_open=True)
    return Router(database, migrate_dir=MIGRATIONS, ignore=["basemodel"])


def run_migrations():
    """Apply the missing migrations; return their names.

    SQLite rebuilds a table to change a column, which a foreign key to that
    table would block, so foreign keys are off while migrations run (the
    pragma has no effect inside a transaction) and checked afterwards.
    """
    router = migration_router()
    todo = router.diff
    sqlite = isinstance(database.obj, peewee.SqliteDatabase)
    if sqlite:
        database.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        router.run()
    finally:
        if sqlite:
            database.execute_sql("PRAGMA foreign_keys = ON")
    if sqlite and database.execute_sql("PRAGMA foreign_key_check").fetchall():
        raise click.ClickException("迁移后外键检查失败，请从备份恢复数据库。")
    return todo


@db_cli.command("upgrade")
def db_upgrade():
    """Apply every migration that has not run yet."""
    todo = run_migrations()
    click.echo(f"数据库已是最新结构（本次执行 {len(todo)} 个迁移）。")


@db_cli.command("migration")
@click.argument("name")
def db_migration(name):
    """Write a new migration NAME from the difference between models and schema."""
    import db as models

    router = migration_router()
    router.create(name, auto=models.MODELS)


@demo_cli.command("load")
def demo_load():
    """Create demo stations, users, reports and cases if the database is empty."""
    from services import demo

    logins = demo.load(current_app)
    demo.print_logins(logins)


@demo_cli.command("logins")
def demo_logins():
    """Print the demo accounts and their passwords."""
    from services import demo

    demo.print_logins(demo.saved_logins(current_app))


@faces_cli.command("install-weights")
def faces_install_weights():
    """Link the model files of face_recognition_models to where deepface looks."""
    from services import faces

    folder = faces.ensure_weights(Path(current_app.config["FACES_HOME"]))
    click.echo(f"人脸模型文件已就绪：{len(list(folder.iterdir()))} 个。")


@faces_cli.command("reembed")
@click.option("--background", is_flag=True, help="交给后台任务队列执行。")
def faces_reembed(background):
    """Embed every stored photo with the current face model."""
    if background:
        import tasks

        tasks.reembed_gallery()
        click.echo("已加入后台任务队列。")
        return
    from services import reembed

    embedded, failed = reembed.reembed_all()
    click.echo(f"已重新提取 {embedded} 张照片的人脸特征，失败 {failed} 张。")


@faces_cli.command("evaluate")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--no-reference",
    is_flag=True,
    help="不测量 deepface 原始流程（省去加载 TensorFlow 的时间）。",
)
def faces_evaluate(folder, no_reference):
    """Measure face search on FOLDER (photos and labels.csv); print JSON."""
    import json

    from services import face_eval

    try:
        figures = face_eval.evaluate(Path(folder), reference=not no_reference)
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(f"无法评估：{error}") from error
    click.echo(json.dumps(figures, ensure_ascii=False, indent=2))


@faces_cli.command("search")
@click.argument("photo", type=click.Path(exists=True, dir_okay=False))
@click.option("--limit", default=10, show_default=True, help="列出的候选人数。")
def faces_search(photo, limit):
    """Search the report gallery with the face in PHOTO."""
    from db.reports import MissingReport
    from services import faces, gallery, photos
    from services.errors import InputError

    try:
        normalised = photos.normalise(Path(photo).read_bytes())
        face = faces.embed(normalised.image)
    except InputError as error:
        click.echo(f"无法比对：{error}", err=True)
        sys.exit(2)
    hits, size = gallery.search(face.vector, limit)
    click.echo(f"比对库共 {size} 个人脸特征，候选如下：")
    names = {
        r.id: r.sought_name
        for r in MissingReport.select().where(
            MissingReport.id.in_([h.report_id for h in hits])
        )
    }
    for rank, hit in enumerate(hits, start=1):
        label = faces.BAND_LABELS[hit.band]
        click.echo(
            f"{rank:>3}. 寻亲登记 #{hit.report_id} {names.get(hit.report_id, '')}"
            f"  相似度 {hit.similarity:.3f}  {label}"
        )


@users_cli.command("create")
@click.argument("username")
@click.option("--name", "full_name", required=True, help="姓名。")
@click.option(
    "--role",
    type=click.Choice(["staff", "supervisor", "coordinator", "volunteer", "admin"]),
    required=True,
)
@click.option("--station", "station_name", required=True, help="所属站点全称。")
@click.password_option(help="登录密码。")
def users_create(username, full_name, role, station_name, password):
    """Create an account."""
    from db.accounts import Station, User

    if not USERNAME.match(username):
        raise click.BadParameter("用户名须为 3 到 50 位字母、数字、“.”、“_”或“-”。")
    if not full_name.strip():
        raise click.BadParameter("请填写姓名。")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.BadParameter(f"密码至少 {MIN_PASSWORD_LENGTH} 位。")
    station = Station.get_or_none(Station.name == station_name)
    if station is None:
        raise click.BadParameter(f"站点“{station_name}”不存在。")
    if User.select().where(User.username == username).exists():
        raise click.ClickException(f"用户名 {username} 已存在。")
    user = User(
        username=username, full_name=full_name.strip(), role=role, station=station
    )
    user.set_password(password)
    user.save()
    click.echo(f"已创建账号 {username}。")


@audit_cli.command("verify")
def audit_verify():
    """Check the hash chain of the audit log."""
    from db.audit import AuditLog

    broken = AuditLog.verify_chain()
    if broken is None:
        click.echo("审计日志完整，未发现篡改。")
        return
    click.echo(f"审计日志在第 {broken} 条记录处被改动或删除。", err=True)
    sys.exit(1)


@tasks_cli.command("escalate")
def tasks_escalate():
    """Flag overdue tasks for supervisors; run it from cron, e.g. every hour."""
    from db.base import utcnow
    from services import rules

    overdue = rules.escalate_overdue(utcnow())
    click.echo(f"新上报逾期任务 {len(overdue)} 项。")


@search_cli.command("rebuild")
def search_rebuild():
    """Rebuild the search tokens of every case and report."""
    from services import search

    search.rebuild_index()
    click.echo("搜索索引已重建。")


@imports_cli.command("resume")
@click.option(
    "--stale-seconds",
    type=int,
    default=None,
    help="心跳超过此秒数的任务视为已中断，默认 IMPORT_STALE_SECONDS。",
)
def imports_resume(stale_seconds):
    """Queue again the import jobs that a stopped worker left unfinished."""
    import tasks

    job_ids = tasks.resume_unfinished(stale_seconds)
    click.echo(f"已重新排队 {len(job_ids)} 个导入任务。")


def register(app):
    groups = (
        db_cli,
        demo_cli,
        faces_cli,
        users_cli,
        audit_cli,
        tasks_cli,
        imports_cli,
        search_cli,
    )
    for group in groups:
        app.cli.add_command(group)
