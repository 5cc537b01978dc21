"""Time a bulk import against importing the same photos one report at a time.

    .venv/bin/python benchmarks/bench_import.py                # 120 photos
    .venv/bin/python benchmarks/bench_import.py --photos 40 --workers 1

Makes N photos from the demo faces, each re-encoded with a small random
crop, brightness and JPEG quality, so that no two are duplicates, then a ZIP
of them and a CSV with one report per photo. The bulk import runs as the
import task in immediate mode, timed from the job's creation (which checks
the ZIP and the CSV) to its end, including starting the pool of
IMPORT_WORKERS processes. The reference posts the same photos with the same
report fields to /reports/new one at a time through Flask's test client, on
a second, fresh database. Prints one line:
"bench: bulk_import X photos/s reference: one_by_one_import Y photos/s".
"""

import argparse
import csv
import io
import os
import random
import secrets
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from PIL import Image, ImageEnhance  # noqa: E402
from werkzeug.datastructures import FileStorage  # noqa: E402

FACES_DIR = ROOT / "demo" / "faces"
# A throwaway account on a temporary database.
PASSWORD = secrets.token_urlsafe(16)
HEADER = ["照片文件", "被寻人姓名", "性别", "走失时年龄", "登记人", "联系电话"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=120, help="number of photos")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="pool processes of the bulk import (IMPORT_WORKERS)",
    )
    arguments = parser.parse_args()

    faces = make_photos(arguments.photos)
    rows = [report_row(index, name) for index, name in enumerate(faces)]
    with tempfile.TemporaryDirectory() as folder:
        bulk = time_bulk_import(Path(folder) / "bulk", faces, rows, arguments.workers)
        single = time_one_by_one(Path(folder) / "single", faces, rows)
    print(
        f"bench: bulk_import {len(faces) / bulk:.1f} photos/s "
        f"reference: one_by_one_import {len(faces) / single:.1f} photos/s"
    )


def make_photos(count):
    """Return {file name: JPEG bytes} of `count` varied demo faces."""
    sources = sorted(FACES_DIR.glob("*.jpg")) + sorted(FACES_DIR.glob("*.png"))
    randomness = random.Random(20240601)
    faces = {}
    for index in range(count):
        with Image.open(sources[index % len(sources)]) as image:
            faces[f"{index:04d}.jpg"] = vary(image.convert("RGB"), randomness)
    return faces


def vary(image, randomness):
    width, height = image.size
    box = (
        round(width * randomness.uniform(0, 0.03)),
        round(height * randomness.uniform(0, 0.03)),
        round(width * randomness.uniform(0.97, 1)),
        round(height * randomness.uniform(0.97, 1)),
    )
    changed = ImageEnhance.Brightness(image.crop(box)).enhance(
        randomness.uniform(0.95, 1.05)
    )
    buffer = io.BytesIO()
    changed.save(buffer, "JPEG", quality=randomness.randint(88, 95))
    return buffer.getvalue()


def report_row(index, photo_name):
    return {
        "照片文件": photo_name,
        "被寻人姓名": f"测试{index:04d}",
        "性别": "男" if index % 2 else "女",
        "走失时年龄": str(20 + index % 60),
        "登记人": "王海涛",
        "联系电话": f"139{index:08d}",
    }


def make_app(instance, **settings):
    from app import create_app
    from commands import run_migrations
    from config import TestConfig
    from db.accounts import Station, User
    from db.base import database

    class BenchConfig(TestConfig):
        UPLOAD_FOLDER = str(instance / "uploads")
        FACES_HOME = str(instance / "deepface")
        DATABASE_URL = None
        MAX_CONTENT_LENGTH = 1024 * 1024 * 1024

    for key, value in settings.items():
        setattr(BenchConfig, key, value)
    instance.mkdir(parents=True)
    app = create_app(BenchConfig, instance_path=str(instance))
    with app.app_context():
        run_migrations()
        station = Station.create(name="基准测试站", short_name="基准", kind="city")
        user = User(username="bench", full_name="基准", station=station)
        user.set_password(PASSWORD)
        user.save()
        database.close()
    return app, user


def time_bulk_import(instance, faces, rows, workers):
    import tasks
    from db.base import database
    from db.jobs import ImportJob
    from services import bulk_import

    app, user = make_app(instance, HUEY_IMMEDIATE=True, IMPORT_WORKERS=workers)
    tasks.init_app(app)
    archive, sheet = zip_of(faces), csv_of(rows)
    with app.app_context():
        database.connect(reuse_if_open=True)
        start = time.perf_counter()
        job = bulk_import.create_job(
            user,
            FileStorage(io.BytesIO(sheet), filename="bench.csv"),
            archive=FileStorage(io.BytesIO(archive), filename="bench.zip"),
        )
        tasks.run_import(job.id)
        elapsed = time.perf_counter() - start
        job = ImportJob.get_by_id(job.id)
        database.close()
    if job.imported != len(faces):
        sys.exit(
            f"bulk import imported {job.imported} of {len(faces)} photos "
            f"({job.status}, {job.skipped} skipped, {job.failed} failed)"
        )
    return elapsed


def time_one_by_one(instance, faces, rows):
    app, user = make_app(instance)
    client = app.test_client()
    client.post("/login", data={"username": user.username, "password": PASSWORD})
    start = time.perf_counter()
    for row in rows:
        photo = row["照片文件"]
        response = client.post(
            "/reports/new",
            data={
                "sought_name": row["被寻人姓名"],
                "sex": "male" if row["性别"] == "男" else "female",
                "age_at_missing": row["走失时年龄"],
                "reporter_name": row["登记人"],
                "reporter_phone": row["联系电话"],
                "photos": [(io.BytesIO(faces[photo]), photo)],
            },
            content_type="multipart/form-data",
        )
        if response.status_code != 303:
            sys.exit(f"the report form rejected {photo}: {response.status_code}")
    return time.perf_counter() - start


def zip_of(faces):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in faces.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def csv_of(rows):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HEADER)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


if __name__ == "__main__":
    main()
