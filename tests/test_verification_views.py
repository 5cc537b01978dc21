"""Verification request pages: the flow through the web UI, station checks
and the figures."""

import io
import re

import pytest

from db.accounts import Station, User
from db.base import database
from db.cases import Case
from db.verification import VerificationRequest
from services.timezone import local_today
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
        R.update(due_date=local_today().replace(year=2020)).where(
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
    assert cells["越秀区救助管理分站"][2] == "0"  # answered, as the answering side
    assert cells["越秀区救助管理分站"][5] == "1"  # its sent requests answered
    assert cells["越秀区救助管理分站"][6] == "1"  # of them on time
    assert cells["越秀区救助管理分站"][7] == "1"  # confirmed
    assert cells["海珠区救助管理分站"][1] == "1"  # received
    assert cells["海珠区救助管理分站"][2] == "1"  # answered
    assert cells["海珠区救助管理分站"][3] == "1"  # on time
    assert cells["海珠区救助管理分站"][5] == "0"  # nothing sent, nothing answered
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


def test_step_error_shown_without_form(login_as, case_id, stations):
    staff, other = login_as("staff"), login_as("other_staff")
    request_id = request_id_from(send_request(staff, case_id, stations["haizhu"].id))
    assert other.post(f"/verification/{request_id}/receive").status_code == 303
    again = other.post(f"/verification/{request_id}/receive")
    page = again.get_data(as_text=True)
    assert again.status_code == 422
    assert 'id="page-error"' in page
    assert "请求当前为“已接收”，不能执行该操作" in page


def test_signoff_error_shown_without_form(login_as, case_id, stations):
    staff, other = login_as("staff"), login_as("other_staff")
    request_id = request_id_from(send_request(staff, case_id, stations["haizhu"].id))
    other.post(
        f"/verification/{request_id}/answer",
        data={"outcome": "confirmed", "answer_text": "已核实。", "answer_name": "黄"},
    )
    staff.post(f"/verification/{request_id}/close")
    coordinator = login_as("coordinator")
    signoff = {"decision": "approve", "password": PASSWORD}
    url = f"/verification/{request_id}/signoff"
    assert coordinator.post(url, data=signoff).status_code == 303
    again = coordinator.post(url, data=signoff)
    page = again.get_data(as_text=True)
    assert again.status_code == 422
    assert 'id="signoff"' not in page
    assert "该核实结果不在待签批状态" in page


def test_answer_form_only_where_answerable(app, login_as, case_id, stations):
    staff = login_as("staff")
    online = request_id_from(send_request(staff, case_id, stations["haizhu"].id))
    page = staff.get(f"/verification/{online}").get_data(as_text=True)
    assert 'id="answer-form"' not in page
    assert "登记对方答复" not in page

    with app.app_context():
        external = Station.create(
            name="城固县救助管理站",
            short_name="城固",
            kind=Station.OTHER,
            directory_group=Station.OTHER_STATION,
            division_code="610722",
        )
        database.close()
    offline = request_id_from(send_request(staff, case_id, external.id))
    page = staff.get(f"/verification/{offline}").get_data(as_text=True)
    assert 'id="answer-form"' in page
    assert "登记对方答复（电话或信函）" in page


def test_note_length_checked(app, login_as, case_id, stations):
    staff = login_as("staff")
    request_id = request_id_from(send_request(staff, case_id, stations["haizhu"].id))
    response = staff.post(
        f"/verification/{request_id}/close", data={"text": "撤" * 10_001}
    )
    assert response.status_code == 422
    assert "不能超过 10000 个字" in response.get_data(as_text=True)
    with app.app_context():
        assert R.get_by_id(request_id).status == R.SENT


def test_accept_answer_placeholder(login_as, case_id, stations):
    staff, other = login_as("staff"), login_as("other_staff")
    request_id = request_id_from(send_request(staff, case_id, stations["haizhu"].id))
    other.post(
        f"/verification/{request_id}/answer",
        data={"outcome": "not_found", "answer_text": "查无此人。"},
    )
    page = staff.get(f"/verification/{request_id}").get_data(as_text=True)
    assert "采纳答复并结束" in page
    assert "撤回时须填写原因" not in page


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("question", "请核实\x00户籍", "“请对方核实的内容”中含有不可见的控制字符"),
        ("contact_name", "周\x1b敏", "“本站联系人”中含有不可见的控制字符"),
        ("photos", "999", "所选照片不属于本个案或已删除（编号 999）"),
        ("photos", "x", "所选项无效，请刷新页面后重新选择"),
        ("asks", "bogus", "所选项“bogus”已不可选"),
        ("to_station", "", "请选择站点。"),
        ("to_station", "99999", "请从列表中选择站点。"),
    ],
)
def test_request_form_messages(login_as, case_id, stations, field, value, expected):
    data = {
        "to_station": str(stations["haizhu"].id),
        "asks": ["confirm_identity"],
        "question": "请核实户籍。",
        "contact_name": "周敏",
        "contact_phone": "02081234567",
        field: value,
    }
    response = login_as("staff").post(f"/verification/new/{case_id}", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert expected in page
    assert "not a valid choice" not in page
    assert "无法转化" not in page


def test_answer_with_nul_rejected(app, login_as, case_id, stations):
    staff, other = login_as("staff"), login_as("other_staff")
    request_id = request_id_from(send_request(staff, case_id, stations["haizhu"].id))
    response = other.post(
        f"/verification/{request_id}/answer",
        data={"outcome": "not_found", "answer_text": "查无\x00此人。"},
    )
    assert response.status_code == 422
    assert "控制字符" in response.get_data(as_text=True)
    with app.app_context():
        assert R.get_by_id(request_id).status == R.SENT


def test_signoff_warns_when_case_identified(app, login_as, case_id, stations):
    staff, other = login_as("staff"), login_as("other_staff")
    coordinator = login_as("coordinator")
    request_ids = []
    for name in ("黄建国", "黄建军"):
        request_id = request_id_from(
            send_request(staff, case_id, stations["haizhu"].id)
        )
        other.post(
            f"/verification/{request_id}/answer",
            data={
                "outcome": "confirmed",
                "answer_text": "已核实。",
                "answer_name": name,
            },
        )
        staff.post(f"/verification/{request_id}/close")
        request_ids.append(request_id)
    first, second = request_ids
    coordinator.post(
        f"/verification/{first}/signoff",
        data={"decision": "approve", "password": PASSWORD},
    )
    page = coordinator.get(f"/verification/{second}").get_data(as_text=True)
    assert 'id="already-identified"' in page
    assert "核实为“黄建国”并签批" in page
    assert "个案当前状态为“身份已确认”" in page

    refused = coordinator.post(
        f"/verification/{second}/signoff",
        data={"decision": "approve", "password": PASSWORD},
    )
    assert refused.status_code == 422
    assert "如仍要批准，请在意见说明中写明理由" in refused.get_data(as_text=True)


def test_shared_list_exported_as_spreadsheet(app, users, login_as, case_id):
    from openpyxl import load_workbook

    from db.audit import AuditLog

    with app.app_context():
        other = User.get_by_id(users["other_staff"].id)
        make_case(other.station, other, name="海珠的人")
        make_case(
            User.get_by_id(users["staff"].id).station,
            User.get_by_id(users["staff"].id),
            name='=HYPERLINK("x")',
        )
        database.close()
    response = login_as("staff").get("/verification/shared-lists/export")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("站点", "个案编号", "姓名")
    names = [row[2] for row in rows[1:]]
    assert "老黄" in names
    assert "海珠的人" not in names
    # A name that looks like a formula stays text.
    assert '=HYPERLINK("x")' in names
    cell = next(c for c in sheet["C"] if c.value == '=HYPERLINK("x")')
    assert cell.data_type == "s"
    with app.app_context():
        assert (
            AuditLog.select().where(AuditLog.action == "shared_list_exported").exists()
        )
