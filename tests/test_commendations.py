"""Thank-you banners and letters: recording, lists, summary, printed record."""

import io
import re
from datetime import date, timedelta

import pytest
from pypdf import PdfReader

from db.base import database
from db.cases import Case
from db.documents import Commendation, CommendationPhoto, Document
from tests.conftest import image_bytes


@pytest.fixture
def case(app, stations, users):
    with app.app_context():
        record = Case.create(
            case_number="越秀-2026-0031",
            station=stations["yuexiu"],
            name="吉𠮷堃",
            created_by=users["staff"],
        )
        database.close()
    return record


def form(users, **changes):
    values = {
        "kind": "banner",
        "giver": "吉𠮷明",
        "giver_relation": "受助人之子",
        "place": "越秀区救助管理分站",
        "received_on": date.today().isoformat(),
        "banner_text": "千里寻亲路 救助暖人心",
        "letter_text": "",
        "case_number": "越秀-2026-0031",
        "staff": [str(users["staff"].id), str(users["supervisor"].id)],
        "note": "",
    }
    values.update(changes)
    return values


def test_record_commendation_with_photo(app, case, users, staff_client):
    data = form(users)
    data["photos"] = [(io.BytesIO(image_bytes()), "banner.jpg")]
    response = staff_client.post("/commendations/new", data=data)
    assert response.status_code == 303
    item = Commendation.get()
    assert item.case_id == case.id
    assert item.banner_text == "千里寻亲路 救助暖人心"
    assert {link.user_id for link in item.staff_links} == {
        users["staff"].id,
        users["supervisor"].id,
    }
    photo = CommendationPhoto.get()
    page = staff_client.get(f"/commendations/{item.id}").get_data(as_text=True)
    assert "千里寻亲路" in page
    assert "测试supervisor" in page
    picture = staff_client.get(f"/commendations/{item.id}/photos/{photo.id}")
    assert picture.mimetype == "image/jpeg"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"giver": ""}, "请填写赠送人"),
        ({"case_number": "越秀-1999-0001"}, "本站没有编号"),
        (
            {"received_on": (date.today() + timedelta(days=2)).isoformat()},
            "不能晚于今天",
        ),
        ({"banner_text": "字" * 201}, "不能超过 200 个字"),
        ({"giver": "吉\x00明"}, "控制字符"),
    ],
)
def test_bad_form_saves_nothing(app, case, users, staff_client, changes, message):
    response = staff_client.post("/commendations/new", data=form(users, **changes))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert Commendation.select().count() == 0


def test_bad_photo_saves_nothing(app, case, users, staff_client):
    data = form(users)
    data["photos"] = [
        (io.BytesIO(image_bytes()), "good.jpg"),
        (io.BytesIO(b"<?php echo 1; ?>"), "banner.jpg"),
    ]
    response = staff_client.post("/commendations/new", data=data)
    assert response.status_code == 422
    assert "不是" in response.get_data(as_text=True)
    assert Commendation.select().count() == 0
    assert CommendationPhoto.select().count() == 0


def test_other_station_cannot_see(app, case, users, staff_client, login_as):
    staff_client.post("/commendations/new", data=form(users))
    item = Commendation.get()
    other = login_as("other_staff")
    assert other.get(f"/commendations/{item.id}").status_code == 404
    assert "千里寻亲路" not in other.get("/commendations/").get_data(as_text=True)
    assert login_as("volunteer").get("/commendations/").status_code == 403


def test_yearly_summary_counts(app, case, users, staff_client):
    staff_client.post("/commendations/new", data=form(users))
    staff_client.post(
        "/commendations/new",
        data=form(users, kind="letter", banner_text="", staff=[]),
    )
    last_year = date.today().replace(year=date.today().year - 1)
    staff_client.post(
        "/commendations/new",
        data=form(users, received_on=last_year.isoformat()),
    )
    page = staff_client.get(f"/commendations/summary?year={date.today().year}")
    text = page.get_data(as_text=True)
    assert re.search(r'id="summary-total">2<', text)
    months = text.split('id="summary-months"')[1].split("</table>")[0]
    cells = re.findall(r"<td>(\d+)</td>", months)
    assert cells[date.today().month - 1] == "2"
    staff = text.split('id="summary-staff"')[1].split("</table>")[0]
    assert "测试staff" in staff
    by_station = text.split('id="summary-stations"')[1].split("</table>")[0]
    assert re.search(r"越秀区救助管理分站</td><td>2<", by_station)
    listing = staff_client.get(f"/commendations/?year={last_year.year}")
    assert listing.get_data(as_text=True).count("千里寻亲路") == 1


def test_printed_commendation_record(app, case, users, staff_client):
    data = form(users)
    data["photos"] = [(io.BytesIO(image_bytes((800, 600))), "banner.jpg")]
    staff_client.post("/commendations/new", data=data)
    item = Commendation.get()
    response = staff_client.post(
        f"/documents/new/commendation?commendation_id={item.id}", data={}
    )
    assert response.status_code == 303
    document = Document.get()
    assert document.commendation_id == item.id
    assert document.serial.startswith("越秀救表〔")
    data = staff_client.get(f"/documents/{document.id}/file").data
    text = re.sub(
        r"\s+", "", "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    )
    assert "表扬记录" in text
    assert "千里寻亲路救助暖人心" in text
    assert "吉𠮷明" in text
    assert "测试staff、测试supervisor" in text
    assert len(PdfReader(io.BytesIO(data)).pages[0].images) == 1
    detail = staff_client.get(f"/commendations/{item.id}").get_data(as_text=True)
    assert document.serial in detail
