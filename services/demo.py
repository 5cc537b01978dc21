"""Demo data for `make run`: stations, one account per role, reports and cases.

The people are fictional; their photos are the labelled public face set in
demo/faces (see demo/faces/SOURCES.md), each identity given an invented name.
"""

import json
import secrets
from datetime import date, datetime, timedelta
from pathlib import Path

import click

from access import ROLE_LABELS
from db.accounts import Station, User
from db.audit import AuditLog
from db.base import database, utcnow
from db.cases import Case
from db.documents import Commendation, CommendationStaff
from db.reports import MissingReport
from services import cases, demo_verification, photo_store, search
from services.timezone import utc_to_local

FACES_DIR = Path(__file__).resolve().parent.parent / "demo" / "faces"

STATIONS = [
    ("广州市救助管理站", "穗", Station.CITY, None, "440100"),
    ("越秀区救助管理分站", "越秀", Station.DISTRICT, "穗", "440104"),
    ("海珠区救助管理分站", "海珠", Station.DISTRICT, "穗", "440105"),
    ("天河区救助管理分站", "天河", Station.DISTRICT, "穗", "440106"),
    ("白云区救助管理分站", "白云", Station.DISTRICT, "穗", "440111"),
]

ACCOUNTS = [
    ("staff", "周敏", User.STAFF, "越秀"),
    ("supervisor", "郑立群", User.SUPERVISOR, "越秀"),
    ("coordinator", "何嘉怡", User.COORDINATOR, "穗"),
    ("volunteer", "吴晓晴", User.VOLUNTEER, "穗"),
    ("admin", "冯建华", User.ADMIN, "穗"),
]

# (sought name, sex, age at missing, place, date, reporter, relation, photos)
REPORTS = [
    (
        "陈志远",
        "male",
        34,
        "湖南省衡阳市耒阳市",
        date(2019, 5, 3),
        "陈秀兰",
        "姐姐",
        ["alex_lacamoire_1.png", "alex_lacamoire_2.jpg"],
    ),
    (
        "王德顺",
        "male",
        71,
        "河南省周口市郸城县",
        date(2022, 10, 18),
        "王海涛",
        "儿子",
        ["biden_1.jpg"],
    ),
    (
        "刘晓峰",
        "male",
        29,
        "四川省南充市营山县",
        date(2021, 3, 9),
        "刘桂芳",
        "母亲",
        ["kit_harington_1.jpg", "kit_harington_2.jpg"],
    ),
    (
        "赵明轩",
        "male",
        38,
        "江西省赣州市于都县",
        date(2018, 8, 27),
        "赵玉珍",
        "妻子",
        ["lin_manuel_miranda_1.png"],
    ),
    (
        "黄建国",
        "male",
        52,
        "陕西省汉中市城固县",
        date(2020, 1, 12),
        "黄丽娟",
        "女儿",
        ["obama_1.jpg", "obama_2.jpg", "obama_3.jpg"],
    ),
    (
        "林雪梅",
        "female",
        26,
        "广西壮族自治区玉林市博白县",
        date(2023, 6, 30),
        "林志强",
        "哥哥",
        ["rose_leslie_1.jpg"],
    ),
]

# Cases use photos that are not in the gallery, so a search has a true match.
CASES = [
    (
        "",
        "male",
        50,
        60,
        "广州火车站西广场",
        3,
        "obama_4.jpg",
        "自述姓黄，口音似陕南，记不清住址。",
    ),
    (
        "阿峰",
        "male",
        25,
        35,
        "越秀公园北门",
        1,
        "kit_harington_3.jpg",
        "只说小名阿峰，提到家附近有条河。",
    ),
]


def logins_file(app):
    return Path(app.instance_path) / "demo_logins.json"


def load(app):
    """Create the demo data once; return the demo logins."""
    if Station.select().exists():
        return saved_logins(app)
    with database.atomic():
        stations = _create_stations()
        logins, users = _create_accounts(stations)
    staff = users["staff"]
    for row in REPORTS:
        _create_report(row, staff)
    demo_cases = [_create_case(row, staff) for row in CASES]
    demo_verification.load(users, demo_cases[0])
    _create_commendation(staff, demo_cases[-1])
    AuditLog.append("demo_loaded", user=users["admin"])
    path = logins_file(app)
    path.write_text(json.dumps(logins, ensure_ascii=False, indent=1))
    path.chmod(0o600)
    return logins


def saved_logins(app):
    path = logins_file(app)
    return json.loads(path.read_text()) if path.exists() else []


def print_logins(logins):
    if not logins:
        click.echo("没有演示账号（数据库不是由 flask demo load 创建的）。")
        return
    click.echo("演示账号（用户名 / 密码 / 角色 / 站点）：")
    for item in logins:
        role = ROLE_LABELS.get(item["role"], item["role"])
        click.echo(
            f"  {item['username']:<12} {item['password']:<18} {role!s:<8} "
            f"{item['station']}"
        )


def _create_stations():
    stations = {}
    for name, short, kind, parent, code in STATIONS:
        stations[short] = Station.create(
            name=name,
            short_name=short,
            kind=kind,
            parent=stations.get(parent),
            division_code=code,
        )
    return stations


def _create_accounts(stations):
    logins, users = [], {}
    for username, full_name, role, station in ACCOUNTS:
        password = secrets.token_urlsafe(9)
        user = User(
            username=username, full_name=full_name, role=role, station=stations[station]
        )
        user.set_password(password)
        user.save()
        users[username] = user
        logins.append(
            {
                "username": username,
                "password": password,
                "role": role,
                "station": stations[station].name,
            }
        )
    return logins, users


def _prepare(files):
    return [photo_store.prepare_one(f, (FACES_DIR / f).read_bytes()) for f in files]


def _create_report(row, user):
    name, sex, age, place, seen_on, reporter, relation, files = row
    prepared = _prepare(files)
    with photo_store.StoredFiles() as stored, database.atomic():
        report = MissingReport.create(
            sought_name=name,
            sex=sex,
            age_at_missing=age,
            last_seen_place=place,
            last_seen_on=seen_on,
            reporter_name=reporter,
            reporter_relation=relation,
            reporter_phone=f"139{secrets.randbelow(10**8):08d}",
            station=user.station,
            created_by=user,
        )
        photo_store.store(prepared, stored, user=user, report=report)
        search.reindex_report(report)


def _create_case(row, user):
    name, sex, age_min, age_max, place, days_ago, photo, notes = row
    prepared = _prepare([photo])
    found_at = datetime.combine(utcnow().date(), datetime.min.time()) - timedelta(
        days=days_ago, hours=-2
    )
    values = {
        "name": name,
        "sex": sex,
        "age_min": age_min,
        "age_max": age_max,
        "found_at": found_at,
        "found_place": place,
        "notes": notes,
        "arrival_way": "patrol",
    }
    with photo_store.StoredFiles() as stored, database.atomic():
        case = cases.create(user.station, values, prepared, stored, user)
        cases.change_status(case, Case.SEARCHING, "开始寻亲", user)
    return case


def _create_commendation(user, case):
    """Record a thank-you banner, so the commendation pages have an entry."""
    commendation = Commendation.create(
        station=user.station,
        case=case,
        kind="banner",
        giver="王建华",
        giver_relation="受助人家属",
        place=user.station.name,
        received_on=utc_to_local(utcnow()).date(),
        banner_text="千里寻亲路 救助暖人心",
        created_by=user,
    )
    CommendationStaff.create(commendation=commendation, user=user)
