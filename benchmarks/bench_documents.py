"""Time printed letters against WeasyPrint rendering the same letter plainly.

    .venv/bin/python benchmarks/bench_documents.py              # batch of 100
    .venv/bin/python benchmarks/bench_documents.py --batch 20 --repeat 5

Ours: a one-page 协查函 (assist letter) made by services.documents.issue,
which numbers, renders, archives and hashes it. It is timed as the median
of --repeat runs after one warm-up. Then a batch of --batch letters, one per
case, runs as the batch task in immediate mode, timed from the batch's
creation to its ZIP. The references render the same HTML from the same
template with WeasyPrint 70's defaults and the fonts named plainly, without
per-document font subsets. They run once with WeasyPrint's own subsetting
and once with full_fonts=True, which embeds the whole CJK font. The script
prints one line per figure in the form
"bench: NAME VALUE UNIT reference: REFNAME VALUE UNIT".
"""

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PASSWORD = secrets.token_urlsafe(16)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100, help="letters per batch")
    parser.add_argument("--repeat", type=int, default=9, help="single-letter runs")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        app, station, user, cases = make_app(Path(folder), arguments.batch)
        with app.test_request_context("/", base_url="http://127.0.0.1:5000"):
            single, size = time_single(station, user, cases[0], arguments.repeat)
            plain, plain_size = time_reference(cases[0], arguments.repeat, False)
            full, full_size = time_reference(cases[0], 1, True)
            batch = time_batch(station, user, cases)
            plain_batch = time_reference(cases[0], arguments.batch, False)[0]

    print(
        f"bench: letter_render {single:.3f} s "
        f"reference: weasyprint_full_cjk_font {full:.3f} s"
    )
    print(
        f"bench: letter_render {single:.3f} s "
        f"reference: weasyprint_default {plain:.3f} s"
    )
    print(
        f"bench: letter_size {size / 1024:.0f} KB "
        f"reference: weasyprint_full_cjk_font {full_size / 1024:.0f} KB"
    )
    print(
        f"bench: letter_size {size / 1024:.0f} KB "
        f"reference: weasyprint_default {plain_size / 1024:.0f} KB"
    )
    print(
        f"bench: batch_{arguments.batch}_letters {batch:.1f} s "
        f"reference: weasyprint_default_{arguments.batch}_letters "
        f"{plain_batch * arguments.batch:.1f} s"
    )


def make_app(instance, count):
    from app import create_app
    from commands import run_migrations
    from config import TestConfig
    from db.accounts import Station, User
    from db.base import database
    from db.cases import Case

    class BenchConfig(TestConfig):
        UPLOAD_FOLDER = str(instance / "uploads")
        FACES_HOME = str(instance / "deepface")
        DATABASE_URL = None
        HUEY_IMMEDIATE = True

    instance.mkdir(parents=True, exist_ok=True)
    app = create_app(BenchConfig, instance_path=str(instance))
    with app.app_context():
        run_migrations()
        station = Station.create(
            name="广州市越秀区救助管理分站", short_name="越秀", kind="district"
        )
        user = User(username="bench", full_name="李娜", station=station)
        user.set_password(PASSWORD)
        user.save()
        cases = [
            Case.create(
                case_number=f"越秀-2026-{number:04d}",
                station=station,
                name="吉𠮷堃" if number == 1 else f"无名氏{number}",
                sex="male",
                age_min=55,
                age_max=60,
                dialect="河南口音",
                found_place="广州火车站西广场",
                created_by=user,
            )
            for number in range(1, count + 1)
        ]
        database.close()
    return app, station, user, cases


def letter_content():
    return {
        "recipient": "河南省周口市救助管理站",
        "asks": ["confirm_identity", "find_family"],
        "due_on": (date.today() + timedelta(days=10)).isoformat(),
        "details": "",
        "contact_name": "李娜",
        "contact_phone": "020-81234567",
    }


def time_single(station, user, case, repeat):
    from services import documents

    seconds = []
    document = None
    for run in range(repeat + 1):
        started = time.perf_counter()
        document = documents.issue(
            "assist_letter",
            station=station,
            user=user,
            content=letter_content(),
            case=case,
        )
        if run:
            seconds.append(time.perf_counter() - started)
    assert document.pages == 1, f"the letter has {document.pages} pages"
    return statistics.median(seconds), document.size


def reference_html(case):
    """Return the letter's HTML with the fonts named plainly."""
    from flask import render_template

    from db.base import utcnow
    from services import document_kinds, documents, pdf
    from services.timezone import utc_to_local

    header = documents.Issue(
        kind="assist_letter",
        serial="越秀救协〔2026〕1号",
        version=1,
        station=case.station,
        verify_url="http://127.0.0.1:5000/documents/verify/reference",
        qr=pdf.qr_data_uri("http://127.0.0.1:5000/documents/verify/reference"),
        issued_at=utc_to_local(utcnow()),
    )
    families = documents.font_families()
    fonts = {
        role: ", ".join(
            f'"{name}"' for name in [families[role], *pdf.FALLBACK_FAMILIES]
        )
        for role in pdf.FONT_ROLES
    }
    content = letter_content()
    context = document_kinds.SPECS["assist_letter"].build(content, case=case)
    return render_template(
        "documents/pdf/assist_letter.html",
        doc=header,
        fonts=fonts,
        case=case,
        content=content,
        **context,
    )


def time_reference(case, repeat, full_fonts):
    from weasyprint import HTML

    html = reference_html(case)
    HTML(string=html).write_pdf()
    seconds = []
    data = b""
    for _ in range(repeat):
        started = time.perf_counter()
        data = HTML(string=html).write_pdf(full_fonts=full_fonts)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), len(data)


def time_batch(station, user, cases):
    from db.documents import DocumentBatch
    from services import document_batches, documents

    started = time.perf_counter()
    batch = document_batches.start(
        station,
        user,
        "assist_letter",
        [case.id for case in cases],
        letter_content(),
        documents.link_base(),
    )
    seconds = time.perf_counter() - started
    batch = DocumentBatch.get_by_id(batch.id)
    assert batch.status == DocumentBatch.DONE, batch.status
    assert batch.failed == 0, batch.problems
    biggest = max(document.size for document in batch.documents)
    assert biggest < 200 * 1024, f"a letter of {biggest} bytes"
    return seconds


if __name__ == "__main__":
    main()
