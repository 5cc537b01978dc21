"""Printed documents: each kind from real case data, numbering, archive,
verification, corrections, the register of letters, batches and settings."""

import io
import json
import re
import zipfile
from datetime import date, datetime, timedelta

import numpy as np
import pytest
from pypdf import PdfReader, PdfWriter

from db.accounts import Station
from db.base import database
from db.cases import Case, CaseAlias
from db.documents import Document, DocumentBatch, IncomingLetter
from db.matching import MatchDecision
from db.photos import Photo
from db.reports import MissingReport
from db.tasks import Task
from db.verification import VerificationRequest
from services import documents, pdf, photo_store, photos, rules
from tests.conftest import face_bytes, image_bytes

RARE_NAME = "吉𠮷堃"
YEAR = datetime.now().year


def blank_pdf():
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def pdf_text(data):
    reader = PdfReader(io.BytesIO(data))
    return [page.extract_text() for page in reader.pages]


def flat(text):
    """Text without the spaces and line breaks that extraction puts in."""
    return re.sub(r"\s+", "", text)


def pdf_fonts(data):
    """Return {font name without subset tag: CID font subtype}."""
    reader = PdfReader(io.BytesIO(data))
    fonts = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            name = str(font["/BaseFont"]).split("+", 1)[-1]
            descendant = font["/DescendantFonts"][0].get_object()
            fonts[name] = str(descendant["/Subtype"])
    return fonts


def add_photo(case, user, data):
    normalised = photos.normalise(data)
    photo = Photo.create(
        case=case,
        stored_name=f"{case.id:04d}{normalised.sha256[:12]}.jpg",
        sha256=normalised.sha256,
        width=normalised.width,
        height=normalised.height,
        uploaded_by=user,
    )
    path = photo_store.photo_path(photo)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(normalised.jpeg)
    return photo


@pytest.fixture
def case(app, stations, users):
    with app.app_context():
        record = Case.create(
            case_number=f"越秀-{YEAR}-0007",
            station=stations["yuexiu"],
            name=RARE_NAME,
            sex="male",
            age_min=60,
            age_max=65,
            dialect="河南口音",
            height_cm=168,
            marks="右耳后有痣",
            found_at=datetime(2026, 11, 20, 1, 30),
            found_place="广州火车站西广场",
            belongings="身份证 1 张\n旧手机 1 部 无法开机",
            created_by=users["staff"],
        )
        CaseAlias.create(case=record, name="王喆")
        # U+2A6A5 is in the Hanazono fonts, in none of the CJK fonts before.
        CaseAlias.create(case=record, name="龙𪚥")
        add_photo(record, users["staff"], face_bytes("biden_1.jpg"))
        database.close()
    return record


def handover_form(**changes):
    values = {
        "receiver_kind": "family",
        "receiver_name": "吉𠮷明",
        "receiver_relation": "儿子",
        "receiver_id_number": "11010519491231002X",
        "receiver_phone": "13800138000",
        "receiver_address": "河南省周口市郸城县某某村",
        "handover_place": "越秀区救助管理分站接待室",
        "handover_at": "2026-12-03T10:30",
        "items_text": "身份证 1 张 已核对\n旧手机 1 部",
        "photo_id": "0",
        "note": "",
    }
    values.update(changes)
    return values


def issue_via_form(client, kind, query, form):
    response = client.post(f"/documents/new/{kind}?{query}", data=form)
    assert response.status_code == 303, response.get_data(as_text=True)
    document_id = int(response.headers["Location"].rsplit("/", 1)[1])
    return Document.get_by_id(document_id)


def download(client, document):
    response = client.get(f"/documents/{document.id}/file")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    return response.data


def test_handover_shows_case_and_receiver(app, case, staff_client):
    document = issue_via_form(
        staff_client, "handover", f"case_id={case.id}", handover_form()
    )
    data = download(staff_client, document)
    text = flat("".join(pdf_text(data)))
    assert RARE_NAME in text
    assert "王喆" in text
    assert "吉𠮷明" in text
    assert "11010519491231002X" in text
    assert "旧手机" in text
    assert f"越秀救交〔{YEAR}〕1号" in text
    assert "第1页/共1页" in text
    assert document.title.startswith("交接单")
    assert len(data) < 200 * 1024


def test_extension_b_name_uses_fallback_font(app, case, staff_client):
    document = issue_via_form(
        staff_client, "handover", f"case_id={case.id}", handover_form()
    )
    data = download(staff_client, document)
    fonts = pdf_fonts(data)
    # U+20BB7 (𠮷) is not in AR PL UKai but in Noto Serif CJK SC, the first
    # fallback; U+2A6A5 (𪚥) only in the Hanazono fonts further down.
    assert "ty-fallback-0" in fonts, fonts
    hanazono = pdf.FALLBACK_FAMILIES.index("HanaMinA")
    assert {f"ty-fallback-{hanazono}", f"ty-fallback-{hanazono + 1}"} & set(fonts)
    text = flat("".join(pdf_text(data)))
    assert "吉𠮷堃" in text
    assert "龙𪚥" in text
    # The body font, AR PL UKai, is a TrueType font.
    assert fonts["ty-body"] == "/CIDFontType2"


def test_handover_photo_is_embedded(app, case, staff_client):
    document = issue_via_form(
        staff_client, "handover", f"case_id={case.id}", handover_form()
    )
    reader = PdfReader(io.BytesIO(download(staff_client, document)))
    images = [image for page in reader.pages for image in page.images]
    assert len(images) == 1
    width, height = images[0].image.size
    # 30 x 40 mm at 300 dpi; the demo photo is smaller, so it keeps its size.
    assert width <= 355
    assert height <= 473


def test_long_item_list_repeats_table_header(app, case, staff_client):
    items = "\n".join(f"物品{n} 1 件 备注{n}" for n in range(1, 121))
    document = issue_via_form(
        staff_client,
        "handover",
        f"case_id={case.id}",
        handover_form(items_text=items),
    )
    pages = pdf_text(download(staff_client, document))
    assert len(pages) >= 3
    assert document.pages == len(pages)
    for number, page in enumerate(pages, start=1):
        assert f"第{number}页/共{len(pages)}页" in flat(page)
    for page in pages[1:-1]:
        assert "物品名称" in page
    assert "物品120" in flat(pages[-1]) or "物品120" in flat(pages[-2])


def test_handover_rejects_bad_receiver_id(app, case, staff_client):
    response = staff_client.post(
        f"/documents/new/handover?case_id={case.id}",
        data=handover_form(receiver_id_number="110105194912310021"),
    )
    assert response.status_code == 422
    assert "校验" in response.get_data(as_text=True)
    assert Document.select().count() == 0


def test_search_notice_and_image(app, case, staff_client):
    document = issue_via_form(
        staff_client,
        "search_notice",
        f"case_id={case.id}",
        {"photo_id": "0", "contact_name": "李娜", "contact_phone": "020-81234567"},
    )
    text = flat(pdf_text(download(staff_client, document))[0])
    assert "寻亲公告" in text
    assert RARE_NAME in text
    assert "约60–65岁" in text
    assert "广州火车站西广场" in text
    assert "020-81234567" in text
    response = staff_client.get(f"/documents/{document.id}/image")
    assert response.mimetype == "image/jpeg"
    assert response.data[:3] == b"\xff\xd8\xff"


def test_search_notice_completes_rule_task(app, case, users, staff_client):
    with app.app_context():
        rules.schedule(case, users["staff"])
        database.close()
    issue_via_form(
        staff_client,
        "search_notice",
        f"case_id={case.id}",
        {"photo_id": "0", "contact_name": "李娜", "contact_phone": "020-81234567"},
    )
    task = Task.get((Task.case == case.id) & (Task.rule == "search_notice"))
    assert task.status == Task.DONE
    assert f"越秀救告〔{YEAR}〕1号" in task.outcome
    other = Task.get((Task.case == case.id) & (Task.rule == "dna_request"))
    assert other.status == Task.OPEN


def assist_form(**changes):
    values = {
        "recipient": "河南省周口市救助管理站",
        "asks": ["confirm_identity", "find_family"],
        "due_on": (date.today() + timedelta(days=10)).isoformat(),
        "details": "",
        "contact_name": "李娜",
        "contact_phone": "020-81234567",
    }
    values.update(changes)
    return values


def test_assist_letter_follows_official_layout(app, case, staff_client):
    document = issue_via_form(
        staff_client, "assist_letter", f"case_id={case.id}", assist_form()
    )
    data = download(staff_client, document)
    text = flat("".join(pdf_text(data)))
    assert "越秀区救助管理分站" in text
    assert f"越秀救协〔{YEAR}〕1号" in text
    assert "关于协助核实受助人员身份的函" in text
    assert "河南省周口市救助管理站：" in text
    assert "核实其身份信息" in text
    assert "协助查找其亲属" in text
    assert RARE_NAME in text
    assert document.recipient == "河南省周口市救助管理站"
    page = PdfReader(io.BytesIO(data)).pages[0]
    width_mm = float(page.mediabox.width) / 72 * 25.4
    height_mm = float(page.mediabox.height) / 72 * 25.4
    assert round(width_mm) == 210
    assert round(height_mm) == 297


def test_letter_pages_numbered_with_dashes(app, case, staff_client):
    long_text = "请贵站协助走访其自述的村庄并核对户籍信息。" * 40
    document = issue_via_form(
        staff_client,
        "assist_letter",
        f"case_id={case.id}",
        assist_form(details=long_text),
    )
    pages = pdf_text(download(staff_client, document))
    assert len(pages) >= 2
    # No number on the first page of a letter, "— 2 —" on the second.
    assert "—1—" not in flat(pages[0])
    assert "—2—" in flat(pages[1])


def test_assist_letter_requires_asks_and_due_date(app, case, staff_client):
    response = staff_client.post(
        f"/documents/new/assist_letter?case_id={case.id}",
        data=assist_form(asks=[], due_on=""),
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "请至少选择一项协助事项" in page
    assert "请填写函复期限" in page


def test_escort_letter_lists_legs(app, case, staff_client):
    document = issue_via_form(
        staff_client,
        "escort_letter",
        f"case_id={case.id}",
        {
            "recipient": "河南省周口市救助管理站",
            "destination": "河南省周口市郸城县",
            "escorts": "张伟、李娜",
            "depart_on": (date.today() + timedelta(days=1)).isoformat(),
            "legs_text": "K1234 广州 郑州 12月5日08:30 至 12月6日06:10\n"
            "K8001 郑州 周口 12月6日09:00 12月6日11:40",
            "details": "",
            "contact_name": "李娜",
            "contact_phone": "020-81234567",
        },
    )
    text = flat("".join(pdf_text(download(staff_client, document))))
    assert f"越秀救送〔{YEAR}〕1号" in text
    assert "K1234" in text
    assert "K8001" in text
    assert "张伟、李娜" in text
    assert "河南省周口市郸城县" in text


def test_escort_letter_rejects_bad_leg(app, case, staff_client):
    response = staff_client.post(
        f"/documents/new/escort_letter?case_id={case.id}",
        data={
            "recipient": "某站",
            "destination": "某地",
            "escorts": "张伟",
            "depart_on": date.today().isoformat(),
            "legs_text": "K1234 广州",
            "contact_name": "李娜",
            "contact_phone": "020",
        },
    )
    assert response.status_code == 422
    assert "第 1 行格式不对" in response.get_data(as_text=True)


def test_discharge_form_shows_checks(app, case, staff_client):
    document = issue_via_form(
        staff_client,
        "discharge",
        f"case_id={case.id}",
        {
            "reason_kind": "escort",
            "discharge_on": date.today().isoformat(),
            "destination": "河南省周口市郸城县",
            "checks": ["belongings", "ticket"],
            "note": "",
        },
    )
    text = flat("".join(pdf_text(download(staff_client, document))))
    assert "受助人员离站手续单" in text
    assert "护送返乡" in text
    assert "☑已完成" in text
    assert "☐未完成" in text
    assert RARE_NAME in text


@pytest.fixture
def confirmed_decision(app, case, users):
    with app.app_context():
        report = MissingReport.create(
            sought_name=RARE_NAME,
            sex="male",
            age_at_missing=58,
            last_seen_place="河南省周口市",
            reporter_name="吉𠮷明",
            reporter_relation="儿子",
            reporter_phone="13800138000",
            station=case.station_id,
            created_by=users["staff"],
        )
        decision = MatchDecision.create(
            case=case,
            report=report,
            status=MatchDecision.SAME,
            face_score=0.91,
            combined_score=95.0,
            band="high",
            reason="面部特征与痣的位置一致",
            reviewer=users["staff"],
            reviewed_at=datetime(2026, 12, 2, 3, 0),
            signed_off_by=users["supervisor"],
            signed_off_at=datetime(2026, 12, 2, 6, 0),
        )
        database.close()
    return decision


def test_signoff_sheet_from_decision(app, confirmed_decision, staff_client):
    document = issue_via_form(
        staff_client,
        "signoff_sheet",
        f"decision_id={confirmed_decision.id}",
        {"note": "家属已电话确认"},
    )
    text = flat("".join(pdf_text(download(staff_client, document))))
    assert "受助人员身份确认签批单" in text
    assert "91.0%" in text
    assert "测试supervisor" in text
    assert "138****8000" in text
    assert "13800138000" not in text
    assert document.decision_id == confirmed_decision.id


def test_signoff_sheet_needs_signed_decision(app, confirmed_decision, staff_client):
    with app.app_context():
        MatchDecision.update(signed_off_by=None, signed_off_at=None).execute()
        database.close()
    response = staff_client.get(
        f"/documents/new/signoff_sheet?decision_id={confirmed_decision.id}"
    )
    assert response.status_code == 404


def test_signoff_sheet_needs_same_person_decision(
    app, confirmed_decision, staff_client
):
    with app.app_context():
        MatchDecision.update(status=MatchDecision.UNSURE).execute()
        database.close()
    response = staff_client.get(
        f"/documents/new/signoff_sheet?decision_id={confirmed_decision.id}"
    )
    assert response.status_code == 404


def test_serials_count_per_kind_and_station(app, case, staff_client):
    first = issue_via_form(
        staff_client, "assist_letter", f"case_id={case.id}", assist_form()
    )
    second = issue_via_form(
        staff_client, "assist_letter", f"case_id={case.id}", assist_form()
    )
    handover = issue_via_form(
        staff_client, "handover", f"case_id={case.id}", handover_form()
    )
    assert first.serial == f"越秀救协〔{YEAR}〕1号"
    assert second.serial == f"越秀救协〔{YEAR}〕2号"
    assert handover.serial == f"越秀救交〔{YEAR}〕1号"


def test_verify_page_for_genuine_document(app, case, staff_client, login_as):
    document = issue_via_form(
        staff_client, "handover", f"case_id={case.id}", handover_form()
    )
    # Any signed-in user can verify, also from another station.
    other = login_as("other_staff")
    page = other.get(f"/documents/verify/{document.verify_code}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "真实有效" in text
    assert document.serial in text
    assert RARE_NAME not in text
    assert "打开文书" not in text


def test_verify_requires_login(app, case, staff_client):
    document = issue_via_form(
        staff_client, "handover", f"case_id={case.id}", handover_form()
    )
    response = app.test_client().get(f"/documents/verify/{document.verify_code}")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_tampered_file_is_detected(app, case, staff_client):
    document = issue_via_form(
        staff_client, "handover", f"case_id={case.id}", handover_form()
    )
    with app.app_context():
        path = documents.path_of(document)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    page = staff_client.get(f"/documents/verify/{document.verify_code}")
    assert "存档文件已被改动" in page.get_data(as_text=True)
    refused = staff_client.get(f"/documents/{document.id}/file")
    assert refused.status_code == 303
    assert refused.mimetype != "application/pdf"


def test_missing_file_is_reported(app, case, staff_client):
    document = issue_via_form(
        staff_client, "handover", f"case_id={case.id}", handover_form()
    )
    with app.app_context():
        documents.path_of(document).unlink()
    page = staff_client.get(f"/documents/verify/{document.verify_code}")
    assert "存档文件缺失" in page.get_data(as_text=True)


def test_unknown_verify_code_is_not_found(app, staff_client):
    page = staff_client.get("/documents/verify/not-a-code")
    assert page.status_code == 404
    assert "未找到该文书" in page.get_data(as_text=True)


def test_uploaded_copy_compared_with_archive(app, case, staff_client):
    document = issue_via_form(
        staff_client, "handover", f"case_id={case.id}", handover_form()
    )
    data = download(staff_client, document)
    url = f"/documents/verify/{document.verify_code}"
    same = staff_client.post(url, data={"file": (io.BytesIO(data), "a.pdf")})
    assert "一致：上传的文件与存档完全相同" in same.get_data(as_text=True)
    changed = data + b"\n% appended\n"
    other = staff_client.post(url, data={"file": (io.BytesIO(changed), "a.pdf")})
    assert "不一致" in other.get_data(as_text=True)


def read_qr(jpeg):
    import cv2

    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    text, _points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    return text


def test_qr_code_links_to_verify_page(app, case, staff_client):
    document = issue_via_form(
        staff_client, "handover", f"case_id={case.id}", handover_form()
    )
    with app.app_context():
        jpeg = pdf.page_image(download(staff_client, document), dpi=200)
    link = read_qr(jpeg)
    assert link == f"http://localhost/documents/verify/{document.verify_code}"


def test_correction_is_new_version(app, case, staff_client):
    first = issue_via_form(
        staff_client, "handover", f"case_id={case.id}", handover_form()
    )
    form = staff_client.get(f"/documents/{first.id}/correct").get_data(as_text=True)
    assert "越秀区救助管理分站接待室" in form
    missing_reason = staff_client.post(
        f"/documents/{first.id}/correct",
        data=handover_form(receiver_relation="女儿"),
    )
    assert missing_reason.status_code == 422
    assert "更正文书须写明更正原因" in missing_reason.get_data(as_text=True)

    response = staff_client.post(
        f"/documents/{first.id}/correct",
        data=handover_form(receiver_relation="女儿", reason="关系写错"),
    )
    assert response.status_code == 303
    second = Document.get((Document.serial == first.serial) & (Document.version == 2))
    assert second.previous_id == first.id
    assert second.correction_reason == "关系写错"
    assert Document.get_by_id(first.id).superseded_at is not None
    assert "女儿" in flat("".join(pdf_text(download(staff_client, second))))
    # The first version is still archived and verifies, marked superseded.
    old = staff_client.get(f"/documents/verify/{first.verify_code}")
    old_text = old.get_data(as_text=True)
    assert "真实有效" in old_text
    assert "已被第 2 版更正" in old_text


def test_other_station_cannot_see_documents(app, case, staff_client, login_as):
    document = issue_via_form(
        staff_client, "handover", f"case_id={case.id}", handover_form()
    )
    other = login_as("other_staff")
    assert other.get(f"/documents/{document.id}").status_code == 404
    assert other.get(f"/documents/{document.id}/file").status_code == 404
    assert other.get(f"/documents/new/handover?case_id={case.id}").status_code == 404
    assert login_as("volunteer").get(f"/documents/{document.id}").status_code == 403
    assert login_as("supervisor").get(f"/documents/{document.id}").status_code == 200


def test_case_page_lists_documents(app, case, staff_client):
    document = issue_via_form(
        staff_client, "handover", f"case_id={case.id}", handover_form()
    )
    page = staff_client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert document.serial in page
    assert "生成协查函" in page
    timeline = page.split("时间线")[1]
    assert "生成交接单" in timeline
    assert document.serial in timeline


def test_register_lists_letters_sent_and_received(app, case, staff_client):
    letter = issue_via_form(
        staff_client, "assist_letter", f"case_id={case.id}", assist_form()
    )
    issue_via_form(staff_client, "handover", f"case_id={case.id}", handover_form())
    response = staff_client.post(
        "/documents/register/incoming",
        data={
            "serial": "豫周救函〔2026〕8号",
            "sender": "河南省周口市救助管理站",
            "subject": "关于吉𠮷堃身份核实情况的复函",
            "received_on": date.today().isoformat(),
            "case_number": case.case_number,
            "note": "",
            "scan": (io.BytesIO(blank_pdf()), "scan.pdf"),
        },
    )
    assert response.status_code == 303
    page = staff_client.get(f"/documents/register?year={date.today().year}")
    text = page.get_data(as_text=True)
    sent = text.split('id="sent-letters"')[1].split("</table>")[0]
    received = text.split('id="received-letters"')[1].split("</table>")[0]
    assert letter.serial in sent
    assert "越秀救交" not in sent
    assert "豫周救函〔2026〕8号" in received
    incoming = IncomingLetter.get()
    assert incoming.case_id == case.id
    scan = staff_client.get(f"/documents/register/incoming/{incoming.id}/scan")
    assert scan.data.startswith(b"%PDF")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scan": (io.BytesIO(b"MZ\x90\x00not a pdf"), "x.pdf")}, "须为 PDF"),
        ({"scan": (io.BytesIO(b"%PDF-1.4\n<html>x</html>"), "x.pdf")}, "已损坏"),
        ({"scan": (io.BytesIO(image_bytes()[:300]), "x.jpg")}, "损坏"),
        ({"received_on": "2026-13-45"}, "日期无效"),
        ({"case_number": "越秀-1999-9999"}, "本站没有编号"),
        ({"received_on": (date.today() + timedelta(days=3)).isoformat()}, "不能晚于"),
    ],
)
def test_register_rejects_bad_incoming(app, case, staff_client, changes, message):
    data = {
        "serial": "豫周救函〔2026〕9号",
        "sender": "河南省周口市救助管理站",
        "subject": "复函",
        "received_on": date.today().isoformat(),
        "case_number": "",
        "note": "",
    }
    data.update(changes)
    response = staff_client.post("/documents/register/incoming", data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert IncomingLetter.select().count() == 0


def test_register_rejects_duplicate_incoming(app, staff_client):
    data = {
        "serial": "豫周救函〔2026〕9号",
        "sender": "河南省周口市救助管理站",
        "subject": "复函",
        "received_on": date.today().isoformat(),
    }
    assert (
        staff_client.post("/documents/register/incoming", data=data).status_code == 303
    )
    again = staff_client.post("/documents/register/incoming", data=data)
    assert again.status_code == 422
    assert "已登记过" in again.get_data(as_text=True)
    assert IncomingLetter.select().count() == 1


def settings_form(stations, **changes):
    from db.documents import KINDS

    values = {
        "font_body": "AR PL UKai CN",
        "font_title": "Noto Serif CJK SC",
        "font_heading": "Noto Sans CJK SC",
        "font_kai": "AR PL UKai CN",
    }
    for station in stations.values():
        for kind in KINDS:
            values[f"prefix-{station.id}-{kind}"] = documents.default_prefix(
                station, kind
            )
    values.update(changes)
    return values


def test_settings_change_prefix_and_font(app, case, stations, login_as, staff_client):
    admin = login_as("admin")
    yuexiu = stations["yuexiu"].id
    response = admin.post(
        "/documents/settings",
        data=settings_form(
            stations,
            font_body="Noto Serif CJK SC",
            **{f"prefix-{yuexiu}-assist_letter": "穗越救协"},
        ),
    )
    assert response.status_code == 303
    document = issue_via_form(
        staff_client, "assist_letter", f"case_id={case.id}", assist_form()
    )
    assert document.serial == f"穗越救协〔{YEAR}〕1号"
    fonts = pdf_fonts(download(staff_client, document))
    # Noto Serif CJK is a CFF font, unlike the default AR PL UKai.
    assert fonts["ty-body"] == "/CIDFontType0"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"font_body": "仿宋_GB2312 Missing"}, "本机未安装字体"),
        ({"font_body": "x; } body { color: red"}, "字体名称只能包含"),
    ],
)
def test_settings_reject_bad_font(app, stations, login_as, changes, message):
    admin = login_as("admin")
    response = admin.post(
        "/documents/settings", data=settings_form(stations, **changes)
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert documents.font_families()["font_body"] == "AR PL UKai CN"


def test_settings_reject_duplicate_prefix(app, stations, login_as):
    admin = login_as("admin")
    data = settings_form(
        stations,
        **{
            f"prefix-{stations['yuexiu'].id}-handover": "同前缀",
            f"prefix-{stations['haizhu'].id}-handover": "同前缀",
        },
    )
    response = admin.post("/documents/settings", data=data)
    assert response.status_code == 422
    assert "前缀重复" in response.get_data(as_text=True)


def test_settings_for_admins_only(app, stations, staff_client):
    assert staff_client.get("/documents/settings").status_code == 403


def test_batch_of_search_notices(app, case, stations, users, staff_client):
    with app.app_context():
        second = Case.create(
            case_number=f"越秀-{YEAR}-0008",
            station=stations["yuexiu"],
            name="无名氏",
            created_by=users["staff"],
        )
        Case.create(
            case_number=f"海珠-{YEAR}-0001",
            station=stations["haizhu"],
            created_by=users["staff"],
        )
        database.close()

    page = staff_client.get("/documents/batches/new").get_data(as_text=True)
    assert case.case_number in page
    assert "海珠" not in page

    response = staff_client.post(
        "/documents/batches/new",
        data={
            "case_ids": [str(case.id), str(second.id)],
            "contact_name": "李娜",
            "contact_phone": "020-81234567",
        },
    )
    assert response.status_code == 303
    batch = DocumentBatch.get()
    assert batch.status == DocumentBatch.DONE
    assert batch.done == 2
    assert batch.failed == 0

    progress = staff_client.get(f"/documents/batches/{batch.id}")
    assert "2 / 2" in progress.get_data(as_text=True)

    archive = zipfile.ZipFile(
        io.BytesIO(staff_client.get(f"/documents/batches/{batch.id}/file").data)
    )
    names = archive.namelist()
    assert len(names) == 3
    merged = next(name for name in names if "打印" in name)
    assert len(PdfReader(io.BytesIO(archive.read(merged))).pages) == 2
    assert Document.select().where(Document.batch == batch).count() == 2

    # Cases with a notice are no longer offered.
    again = staff_client.get("/documents/batches/new").get_data(as_text=True)
    assert case.case_number not in again


def test_batch_skips_other_station_case(app, case, stations, users, staff_client):
    with app.app_context():
        other = Case.create(
            case_number=f"海珠-{YEAR}-0001",
            station=stations["haizhu"],
            created_by=users["staff"],
        )
        database.close()
    # A forged form naming another station's case: the choice check rejects it.
    response = staff_client.post(
        "/documents/batches/new",
        data={
            "case_ids": [str(other.id)],
            "contact_name": "李娜",
            "contact_phone": "020",
        },
    )
    assert response.status_code == 422
    assert DocumentBatch.select().count() == 0


def test_unknown_kind_is_not_found(app, case, staff_client):
    assert (
        staff_client.get(f"/documents/new/nothing?case_id={case.id}").status_code == 404
    )


def test_documents_index_lists_visible(app, case, staff_client, login_as):
    document = issue_via_form(
        staff_client, "handover", f"case_id={case.id}", handover_form()
    )
    assert document.serial in staff_client.get("/documents/").get_data(as_text=True)
    other = login_as("other_staff").get("/documents/").get_data(as_text=True)
    assert document.serial not in other


def test_render_error_saves_nothing(app, case, staff_client, monkeypatch):
    def fail(*args, **kwargs):
        raise pdf.RenderError("boom")

    monkeypatch.setattr(pdf, "render_pdf", fail)
    response = staff_client.post(
        f"/documents/new/handover?case_id={case.id}", data=handover_form()
    )
    assert response.status_code == 422
    assert "文书生成失败" in response.get_data(as_text=True)
    assert Document.select().count() == 0


def test_picture_scaled_to_print_size(app, tmp_path):
    path = tmp_path / "big.jpg"
    path.write_bytes(image_bytes((4000, 3000)))
    uri = pdf.picture_data_uri(path, 30, 40)
    import base64

    from PIL import Image

    data = base64.b64decode(uri.split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as image:
        assert image.size[0] <= round(30 / 25.4 * 300)
    assert len(data) < 60 * 1024


def test_assist_letter_from_verification_request(app, stations, users, login_as):
    from tests.test_verification_views import request_id_from, send_request

    with app.app_context():
        outside = Station.create(
            name="河南省周口市救助管理站",
            short_name="周口",
            kind=Station.OTHER,
            uses_platform=False,
        )
        record = Case.create(
            case_number=f"越秀-{YEAR}-0101",
            station=stations["yuexiu"],
            name="黄某",
            created_by=users["staff"],
        )
        database.close()
    staff = login_as("staff")
    request_id = request_id_from(send_request(staff, record.id, outside.id))

    detail = staff.get(f"/verification/{request_id}").get_data(as_text=True)
    assert "打印协查函" in detail
    form = staff.get(f"/documents/assist-letter/{request_id}").get_data(as_text=True)
    assert "河南省周口市救助管理站" in form
    assert "请核实户籍并联系家属。" in form
    assert re.search(r'<input checked[^>]*value="household"', form)
    assert not re.search(r'<input checked[^>]*value="find_family"', form)

    request = VerificationRequest.get_by_id(request_id)
    response = staff.post(
        f"/documents/assist-letter/{request_id}",
        data=assist_form(asks=["confirm_identity", "household"]),
    )
    assert response.status_code == 303
    document = Document.get()
    assert document.case_id == record.id
    text = flat("".join(pdf_text(download(staff, document))))
    assert request.public_id in text
    assert "核查户籍登记情况" in text
    # The receiving side and other stations cannot print the sender's letter.
    other = login_as("other_staff")
    assert other.get(f"/documents/assist-letter/{request_id}").status_code == 404


def test_merge_moves_documents(app, case, stations, users, staff_client):
    from services import cases

    with app.app_context():
        target = Case.create(
            case_number=f"越秀-{YEAR}-0200",
            station=stations["yuexiu"],
            created_by=users["staff"],
        )
        database.close()
    document = issue_via_form(
        staff_client, "handover", f"case_id={case.id}", handover_form()
    )
    with app.app_context():
        cases.merge(Case.get_by_id(target.id), Case.get_by_id(case.id), users["staff"])
        database.close()
    assert Document.get_by_id(document.id).case_id == target.id
    page = staff_client.get(f"/cases/{target.id}").get_data(as_text=True)
    assert document.serial in page


def test_link_base_from_config(app_factory):
    app = app_factory(DOCUMENT_LINK_BASE="http://tuanyuan.station.local/")
    with app.test_request_context("/", base_url="http://127.0.0.1:5000"):
        assert documents.link_base() == "http://tuanyuan.station.local"
    plain = app_factory()
    with plain.test_request_context("/", base_url="http://127.0.0.1:5000"):
        assert documents.link_base() == "http://127.0.0.1:5000"


def test_register_scan_picture_reencoded(app, staff_client):
    from PIL import Image

    original = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "ScannerMaker"
    Image.new("RGB", (60, 40), (200, 10, 10)).save(original, "PNG", exif=exif)
    response = staff_client.post(
        "/documents/register/incoming",
        data={
            "serial": "豫周救函〔2026〕10号",
            "sender": "河南省周口市救助管理站",
            "subject": "复函",
            "received_on": date.today().isoformat(),
            "scan": (io.BytesIO(original.getvalue()), "scan.png"),
        },
    )
    assert response.status_code == 303
    letter = IncomingLetter.get()
    assert letter.mime_type == "image/jpeg"
    scan = staff_client.get(f"/documents/register/incoming/{letter.id}/scan").data
    assert scan[:3] == b"\xff\xd8\xff"
    assert b"ScannerMaker" not in scan


def test_assist_letter_boxes_not_each_required(app, case, staff_client):
    page = staff_client.get(f"/documents/new/assist_letter?case_id={case.id}")
    boxes = re.findall(r'<input[^>]*name="asks"[^>]*>', page.get_data(as_text=True))
    assert len(boxes) == 4
    assert not any("required" in box for box in boxes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"due_on": "2026-13-45"}, "日期无效"),
        ({"due_on": "9999-12-31"}, "不能晚于一年后"),
        ({"asks": ["confirm_identity", "drop_tables"]}, "已不可选"),
    ],
)
def test_assist_letter_rejects_bad_values(app, case, staff_client, changes, message):
    response = staff_client.post(
        f"/documents/new/assist_letter?case_id={case.id}",
        data=assist_form(**changes),
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert Document.select().count() == 0


def test_handover_rejects_overlong_item_line(app, case, staff_client):
    response = staff_client.post(
        f"/documents/new/handover?case_id={case.id}",
        data=handover_form(items_text="身份证 1 张\n" + "长" * 201),
    )
    assert response.status_code == 422
    assert "第 2 行超过 200 个字" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("身份证 1 张 已核对", ("身份证", "1张", "已核对")),
        ("现金 200 元", ("现金", "200元", "")),
        ("衣物 一袋 旧", ("衣物", "一袋", "旧")),
        ("钥匙", ("钥匙", "", "")),
        ("药品 降压药 每日一次", ("药品", "", "降压药 每日一次")),
    ],
)
def test_item_line_split(line, expected):
    from blueprints.document_forms import item_row

    row = item_row(line)
    assert (row["name"], row["quantity"], row["note"]) == expected


def test_prefix_shared_by_two_kinds_rejected(app, stations, login_as):
    yuexiu = stations["yuexiu"].id
    response = login_as("admin").post(
        "/documents/settings",
        data=settings_form(stations, **{f"prefix-{yuexiu}-escort_letter": "越秀救协"}),
    )
    assert response.status_code == 422
    assert "前缀重复" in response.get_data(as_text=True)


def test_prefix_with_punctuation_rejected(app, stations, login_as):
    yuexiu = stations["yuexiu"].id
    response = login_as("admin").post(
        "/documents/settings",
        data=settings_form(stations, **{f"prefix-{yuexiu}-handover": "越秀(救).协"}),
    )
    assert response.status_code == 422
    assert "汉字、字母或数字" in response.get_data(as_text=True)


def test_prefix_used_in_old_serials_rejected(
    app, case, stations, staff_client, login_as
):
    issue_via_form(staff_client, "handover", f"case_id={case.id}", handover_form())
    # 越秀 moves to a new prefix, and 海珠 takes the one 越秀 has used.
    changes = {
        f"prefix-{stations['yuexiu'].id}-handover": "越秀交接",
        f"prefix-{stations['haizhu'].id}-handover": "越秀救交",
    }
    response = login_as("admin").post(
        "/documents/settings", data=settings_form(stations, **changes)
    )
    assert response.status_code == 422
    assert "已用于其他站点或文书种类" in response.get_data(as_text=True)


def test_batch_runs_outside_request(app, case, stations, users):
    from services import document_batches

    with app.app_context():
        batch = DocumentBatch.create(
            station=stations["yuexiu"].id,
            kind="search_notice",
            params=json.dumps(
                {
                    "case_ids": [case.id],
                    "content": {"contact_name": "李娜", "contact_phone": "020"},
                    "base_url": "http://tuanyuan.local",
                }
            ),
            total=1,
            created_by=users["staff"].id,
        )
        document_batches.run(batch.id)
        batch = DocumentBatch.get_by_id(batch.id)
        document = Document.get()
        data = documents.path_of(document).read_bytes()
        database.close()
    assert batch.status == DocumentBatch.DONE
    image = pdf.page_image(data, dpi=200)
    assert read_qr(image) == (
        f"http://tuanyuan.local/documents/verify/{document.verify_code}"
    )


def test_batch_failure_marks_batch_failed(app, case, stations, users, monkeypatch):
    from services import document_batches

    def broken(made):
        raise OSError("disk full")

    monkeypatch.setattr(document_batches, "_write_zip", broken)
    with app.app_context():
        batch = DocumentBatch.create(
            station=stations["yuexiu"].id,
            kind="search_notice",
            params=json.dumps(
                {"case_ids": [case.id], "content": {}, "base_url": "http://x"}
            ),
            total=1,
            created_by=users["staff"].id,
        )
        with pytest.raises(OSError):
            document_batches.run(batch.id)
        batch = DocumentBatch.get_by_id(batch.id)
        database.close()
    assert batch.status == DocumentBatch.FAILED
    assert "批量生成中断" in batch.problems


def test_failed_save_leaves_no_file(app, case, staff_client, monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Document, "create", refuse)
    response = staff_client.post(
        f"/documents/new/handover?case_id={case.id}", data=handover_form()
    )
    assert response.status_code == 500
    with app.app_context():
        assert not any(documents.folder().rglob("*.pdf"))


def test_second_correction_of_same_version_refused(app, case, staff_client):
    first = issue_via_form(
        staff_client, "handover", f"case_id={case.id}", handover_form()
    )
    with app.app_context():
        stale = Document.get_by_id(first.id)
        documents.issue(
            "handover",
            station=stale.station,
            user=stale.created_by,
            content=documents.content_of(stale),
            case=stale.case,
            previous=stale,
            reason="第一次更正",
            base_url="http://x",
        )
        with pytest.raises(documents.StaleCorrection):
            documents.issue(
                "handover",
                station=stale.station,
                user=stale.created_by,
                content=documents.content_of(stale),
                case=stale.case,
                previous=stale,
                reason="同时更正",
                base_url="http://x",
            )
        database.close()
    assert Document.select().count() == 2


def test_official_letter_without_case(app, stations, staff_client, login_as):
    document = issue_via_form(
        staff_client,
        "official_letter",
        "",
        {
            "recipient": "广州市民政局",
            "subject": "关于商请协助安置长期滞留人员的函",
            "body": "我站现有长期滞留人员三名。\n特此函达。",
            "contact_name": "李娜",
            "contact_phone": "020-81234567",
        },
    )
    assert document.case_id is None
    assert document.serial == f"越秀救函〔{YEAR}〕1号"
    text = flat("".join(pdf_text(download(staff_client, document))))
    assert "关于商请协助安置长期滞留人员的函" in text
    assert "广州市民政局：" in text
    assert "我站现有长期滞留人员三名。" in text
    register = staff_client.get("/documents/register").get_data(as_text=True)
    assert document.serial in register
    assert login_as("other_staff").get(f"/documents/{document.id}").status_code == 404
    assert (
        login_as("coordinator").get("/documents/new/official_letter").status_code == 403
    )


def test_default_prefixes_differ_by_kind(app, stations):
    with app.app_context():
        values = documents.prefixes(stations["yuexiu"])
    assert len(set(values.values())) == len(values)


def test_control_characters_rejected(app, case, staff_client):
    response = staff_client.post(
        f"/documents/new/handover?case_id={case.id}",
        data=handover_form(receiver_name="吉\x00明"),
    )
    assert response.status_code == 422
    assert "控制字符" in response.get_data(as_text=True)
    assert Document.select().count() == 0
