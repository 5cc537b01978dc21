"""The station directory, agreements and the suggested station for a case."""

import io
from datetime import date

import pytest

from db.accounts import Station, User
from db.audit import AuditLog
from db.base import database
from db.interviews import Clue
from db.stations_directory import Agreement
from services import stations_directory
from tests.test_verification import make_case

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
NEW_STATION = {
    "name": "城固县救助管理站",
    "short_name": "城固",
    "directory_group": Station.OTHER_STATION,
    "division_code": "610722",
    "address": "陕西省汉中市城固县",
    "phone": "0916-7000000",
    "channels": "传真 0916-7000001",
}


def directory_station(name, short, code, group=Station.PILOT_CENTRE):
    return Station.create(
        name=name,
        short_name=short,
        kind=Station.OTHER,
        directory_group=group,
        division_code=code,
    )


def test_coordinator_adds_station(app, login_as):
    client = login_as("coordinator")
    response = client.post("/stations/new", data=NEW_STATION)
    assert response.status_code == 303, response.get_data(as_text=True)
    with app.app_context():
        station = Station.get(Station.name == "城固县救助管理站")
        assert station.kind == Station.OTHER
        assert not station.receives_online
        assert AuditLog.get(AuditLog.action == "station_added").object_id == str(
            station.id
        )
    page = client.get("/stations/").get_data(as_text=True)
    assert "全国其他救助管理站" in page
    assert "城固县救助管理站" in page


@pytest.mark.parametrize("role", ["staff", "supervisor"])
def test_only_coordinator_or_admin_edits(login_as, role):
    client = login_as(role)
    assert client.get("/stations/").status_code == 200
    assert client.post("/stations/new", data=NEW_STATION).status_code == 403


def test_station_form_checks(login_as):
    client = login_as("admin")
    bad = dict(NEW_STATION, division_code="61072")
    response = client.post("/stations/new", data=bad)
    assert response.status_code == 422
    assert "行政区划代码应为 6 位数字" in response.get_data(as_text=True)
    taken = dict(NEW_STATION, name="越秀区救助管理分站")
    response = client.post("/stations/new", data=taken)
    assert response.status_code == 422
    assert "已有同名或同简称的站点" in response.get_data(as_text=True)


def test_agreement_with_document(app, login_as):
    with app.app_context():
        station = directory_station("汉中市救助管理站", "汉中", "610700")
        database.close()
    client = login_as("coordinator")
    form = {
        "kind": "source_governance",
        "title": "源头共治协议",
        "valid_from": "2024-03-01",
        "scope": "城固县、洋县",
    }
    bad = client.post(
        f"/stations/{station.id}/agreements",
        data=dict(form, document=(io.BytesIO(b"plain text"), "协议.pdf")),
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422
    assert "不是 PDF、JPEG、PNG 或 WebP 文件" in bad.get_data(as_text=True)
    with app.app_context():
        assert Agreement.select().count() == 0

    reversed_dates = client.post(
        f"/stations/{station.id}/agreements",
        data=dict(form, valid_until="2023-01-01"),
    )
    assert reversed_dates.status_code == 422
    assert "截止日期不能早于生效日期" in reversed_dates.get_data(as_text=True)

    good = client.post(
        f"/stations/{station.id}/agreements",
        data=dict(form, document=(io.BytesIO(PDF), "协议.pdf")),
        content_type="multipart/form-data",
    )
    assert good.status_code == 303, good.get_data(as_text=True)
    with app.app_context():
        agreement = Agreement.get()
        assert agreement.in_force(date(2025, 1, 1))
        assert not agreement.in_force(date(2024, 2, 1))
    document = login_as("staff").get(
        f"/stations/{station.id}/agreements/{agreement.id}/document"
    )
    assert document.status_code == 200
    assert document.data == PDF


def test_suggestion_sources(app, users):
    with app.test_request_context():
        staff = User.get_by_id(users["staff"].id)
        hanzhong = directory_station("汉中市救助管理站", "汉中", "610700")
        zhoukou = directory_station("周口市救助管理站", "周口", "411600")
        nanchong = directory_station("南充市救助管理站", "南充", "511300")

        by_id = make_case(staff.station, staff, id_region_code="610722")
        assert stations_directory.suggest(by_id)[0].station.id == hanzhong.id
        assert "身份证号户籍地" in stations_directory.suggest(by_id)[0].reasons

        by_clue = make_case(staff.station, staff)
        Clue.create(
            case=by_clue,
            kind="place",
            text="郸城",
            division_code="411625",
            created_by=staff,
        )
        first = stations_directory.suggest(by_clue)[0]
        assert first.station.id == zhoukou.id
        assert "本人提到的地点“郸城”" in first.reasons

        by_accent = make_case(staff.station, staff, dialect="四川口音")
        assert stations_directory.suggest(by_accent)[0].station.id == nanchong.id

        nothing = make_case(staff.station, staff)
        assert stations_directory.suggest(nothing) == []
        database.close()


def test_case_page_shows_suggestion(app, users, staff_client):
    with app.test_request_context():
        staff = User.get_by_id(users["staff"].id)
        directory_station("汉中市救助管理站", "汉中", "610700")
        case = make_case(staff.station, staff, id_region_code="610722")
        database.close()
    page = staff_client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "建议发往" in page
    assert "汉中市救助管理站" in page


def test_impossible_agreement_date(app, login_as):
    with app.app_context():
        station = directory_station("汉中市救助管理站", "汉中", "610700")
        database.close()
    client = login_as("coordinator")
    form = {"kind": "source_governance", "title": "源头共治协议"}
    for field, label in (("valid_from", "生效日期"), ("valid_until", "截止日期")):
        values = dict(form, valid_from="2024-03-01")
        values[field] = "2026-13-01"
        response = client.post(f"/stations/{station.id}/agreements", data=values)
        page = response.get_data(as_text=True)
        assert response.status_code == 422
        assert f"“{label}”不是有效的日期" in page
        assert "请填写生效日期" not in page
        assert "Not a valid date" not in page
    missing = client.post(f"/stations/{station.id}/agreements", data=form)
    assert "请填写生效日期。" in missing.get_data(as_text=True)
    with app.app_context():
        assert Agreement.select().count() == 0


def test_control_characters_rejected(app, login_as):
    client = login_as("coordinator")
    response = client.post("/stations/new", data=dict(NEW_STATION, name="城固\x00站"))
    assert response.status_code == 422
    assert "“站点名称”中含有不可见的控制字符" in response.get_data(as_text=True)
    with app.app_context():
        assert not Station.select().where(Station.short_name == "城固").exists()
        station = directory_station("汉中市救助管理站", "汉中", "610700")
        database.close()
    edited = client.post(
        f"/stations/{station.id}/edit",
        data={"address": "汉中\x00市", "phone": "0916"},
        follow_redirects=True,
    )
    assert "控制字符" in edited.get_data(as_text=True)
    with app.app_context():
        assert Station.get_by_id(station.id).address == ""
