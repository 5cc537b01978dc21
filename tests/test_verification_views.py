"""Verification request pages: the flow through the web UI, station checks
and the figures."""

import re

import pytest

from db.accounts import Station, User
from db.base import database
from db.cases import Case
from db.verification import VerificationRequest
from services import verification
from tests.conftest import PASSWORD
from tests.test_verification import make_case

R = VerificationRequest


@pytest.fixture
def case_id(app, users):
    with app.app_context():
        staff = User.get_by_id(users["staff"].id)
        case = make_case(staff.station, staff, dialect="陕西口音")
        database.close()
    return case.id


def send_request(client, case_id, to_station_id, send=True):
    data = {
        "to_station": str(to_station_id),
        "asks": ["confirm_identity", "household_check"],
        "question": "请核实户籍并联系家属。",
        "known_facts": "自述姓黄。",
        "contact_name": "周敏",
        "contact_phone": "02081234567",
    }
    if send:
        data["send"] = "1"
    return client.post(f"/verification/new/{case_id}", data=data)


def request_id_from(response):
    return int(re.search(r"/verification/(\d+)", response.headers["Location"])[1])


def test_case_page_links_to_new_request(staff_client, case_id):
    page = staff_client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "发起核实请求" in page
    form = staff_client.get(f"/verification/new/{case_id}")
    assert form.status_code == 200
    assert "老黄" in form.get_data(as_text=True)


def test_web_flow_reaches_case_timeline(app, login_as, case_id, stations):
    staff, other = login_as("staff"), login_as("other_staff")
    response = send_request(staff, case_id, stations["haizhu"].id)
    assert response.status_code == 303, response.get_data(as_text=True)
    request_id = request_id_from(response)

    inbox = other.get("/verification/").get_data(as_text=True)
    assert f"/verification/{request_id}" in inbox
    assert other.post(f"/verification/{request_id}/receive").status_code == 303
    assert other.post(f"/verification/{request_id}/start").status_code == 303
    answer = other.post(
        f"/verification/{request_id}/answer",
        data={
            "outcome": "confirmed",
            "answer_text": "村委会确认系本村村民。",
            "answer_name": "黄建国",
        },
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)

    timeline = staff.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "海珠区救助管理分站 答复身份核实" in timeline
    assert "村委会确认系本村村民" in timeline

    assert staff.post(f"/verification/{request_id}/close").status_code == 303
    supervisor = login_as("supervisor")
    signed = supervisor.post(
        f"/verification/{request_id}/signoff",
        data={"decision": "approve", "password": PASSWORD},
    )
    assert signed.status_code == 303, signed.get_data(as_text=True)
    with app.app_context():
        assert Case.get_by_id(case_id).status == Case.IDENTIFIED


def test_other_stations_get_404(app, login_as, case_id, stations):
    staff = login_as("staff")
    draft = send_request(staff, case_id, stations["haizhu"].id, send=False)
    request_id = request_id_from(draft)
    other = login_as("other_staff")
    assert other.get(f"/verification/{request_id}").status_code == 404

    assert staff.post(f"/verification/{request_id}/send").status_code == 303
    assert other.get(f"/verification/{request_id}").status_code == 200

    with app.app_context():
        tianhe = Station.create(name="天河区救助管理分站", short_name="天河")
        User.create(
            username="tianhe",
            full_name="天河职员",
            station=tianhe,
            password_hash=User.get_by_id(staff_user_id(app)).password_hash,
        )
        database.close()
    outsider = app.test_client()
    outsider.post("/login", data={"username": "tianhe", "password": PASSWORD})
    for url in (
        f"/verification/{request_id}",
        f"/verification/{request_id}/export",
    ):
        assert outsider.get(url).status_code == 404
    assert outsider.post(f"/verification/{request_id}/receive").status_code == 404
    assert f"/verification/{request_id}" not in outsider.get(
        "/verification/?view=outbox"
    ).get_data(as_text=True)


def staff_user_id(app):
    with app.app_context():
        return User.get(User.username == "staff").id


@pytest.mark.parametrize("role, status", [("volunteer", 403), ("admin", 403)])
def test_non_case_roles_forbidden(login_as, role, status):
    assert login_as(role).get("/verification/").status_code == status


def test_wrong_side_step_shows_message(login_as, case_id, stations):
    staff = login_as("staff")
    request_id = request_id_from(send_request(staff, case_id, stations["haizhu"].id))
    response = staff.post(f"/verification/{request_id}/receive")
    assert response.status_code == 422
    assert "您所在站点不能对此请求执行该操作" in response.get_data(as_text=True)


def test_answer_attachment_checked_by_content(login_as, case_id, stations):
    import io

    staff, other = login_as("staff"), login_as("other_staff")
    request_id = request_id_from(send_request(staff, case_id, stations["haizhu"].id))
    response = other.post(
        f"/verification/{request_id}/answer",
        data={
            "outcome": "not_found",
            "answer_text": "查无此人。",
            "files": [(io.BytesIO(b"MZ not a pdf"), "回函.pdf")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "不是 PDF、JPEG、PNG 或 WebP 文件" in response.get_data(as_text=True)


def test_overdue_listed_and_highlighted(app, login_as, case_id, stations):
    staff = login_as("staff")
    request_id = request_id_from(send_request(staff, case_id, stations["haizhu"].id))
    with app.app_context():
        R.update(due_date=verification.local_today().replace(year=2020)).where(
            R.id == request_id
        ).execute()
        database.close()
    page = staff.get("/verification/?view=overdue").get_data(as_text=True)
    assert f"/verification/{request_id}" in page
    assert "已逾期" in page
    assert "已逾期" in login_as("other_staff").get(
        f"/verification/{request_id}"
    ).get_data(as_text=True)


def test_stats_count_and_baseline(app, login_as, case_id, stations):
    staff, other = login_as("staff"), login_as("other_staff")
    request_id = request_id_from(send_request(staff, case_id, stations["haizhu"].id))
    other.post(
        f"/verification/{request_id}/answer",
        data={"outcome": "confirmed", "answer_text": "已核实。", "answer_name": "黄"},
    )
    staff.post(f"/verification/{request_id}/close")
    login_as("coordinator").post(
        f"/verification/{request_id}/signoff",
        data={"decision": "approve", "password": PASSWORD},
    )
    page = login_as("coordinator").get("/verification/stats").get_data(as_text=True)
    rows = re.findall(
        r"<tr><td>([^<]+)</td><td>(\d{4}-\d\d)</td>(.*?)</tr>", page, re.S
    )
    cells = {name: re.findall(r"<td>([^<]*)</td>", rest) for name, _, rest in rows}
    assert cells["越秀区救助管理分站"][0] == "1"  # sent
    assert cells["越秀区救助管理分站"][5] == "1"  # confirmed
    assert cells["海珠区救助管理分站"][1] == "1"  # received
    assert cells["海珠区救助管理分站"][2] == "1"  # answered
    assert cells["海珠区救助管理分站"][3] == "1"  # on time
    assert "基准年 2023 年：0 人" in page
    assert "增加 1 人" in page


def test_shared_lists_follow_agreement(app, users, login_as, case_id):
    from datetime import date

    from db.stations_directory import Agreement

    with app.app_context():
        foshan = Station.create(
            name="佛山市救助管理站",
            short_name="佛山",
            kind=Station.OTHER,
            directory_group=Station.NEIGHBOUR_CITY,
            division_code="440600",
            uses_platform=True,
        )
        foshan_user = User.create(
            username="foshan",
            full_name="佛山职员",
            station=foshan,
            password_hash=User.get_by_id(users["staff"].id).password_hash,
        )
        make_case(foshan, foshan_user, name="阿强")
        agreement = Agreement.create(
            station=foshan,
            kind="neighbour_city",
            title="广佛救助管理合作协议",
            valid_from=date(2024, 1, 1),
            created_by=users["admin"].id,
        )
        database.close()
    foshan_client = app.test_client()
    foshan_client.post("/login", data={"username": "foshan", "password": PASSWORD})

    page = login_as("staff").get("/verification/shared-lists").get_data(as_text=True)
    assert "阿强" in page
    assert "老黄" in page
    assert f'href="/cases/{case_id}"' in page
    partner_page = foshan_client.get("/verification/shared-lists").get_data(
        as_text=True
    )
    assert "老黄" in partner_page
    assert "越秀区救助管理分站" in partner_page
    assert f'href="/cases/{case_id}"' not in partner_page

    with app.app_context():
        Agreement.update(valid_until=date(2024, 12, 31)).where(
            Agreement.id == agreement.id
        ).execute()
        database.close()
    assert "阿强" not in login_as("staff").get("/verification/shared-lists").get_data(
        as_text=True
    )
    assert "老黄" not in foshan_client.get("/verification/shared-lists").get_data(
        as_text=True
    )
