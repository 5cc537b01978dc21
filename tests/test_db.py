import threading

import peewee
import pytest

from commands import migration_router
from db.accounts import Station
from db.audit import AuditLog
from db.base import database
from db.cases import Case, CaseNumberCounter
from db.photos import GalleryRevision, Photo

RARE_NAMES = ["堃", "喆", "𠮷", "𪚥", "陈𬌗", "王𠀀𪜀"]


def test_migrations_are_applied_once(app):
    with app.app_context():
        router = migration_router()
        assert router.diff == []
        assert "001_initial" in router.done


@pytest.mark.parametrize("name", RARE_NAMES)
def test_rare_characters_round_trip(app, users, name):
    with app.app_context():
        case = Case.create(
            case_number=f"越秀-2026-{len(name):04d}",
            station=users["staff"].station_id,
            name=name,
            created_by=users["staff"].id,
        )
        database.close()
        database.connect()
        assert Case.get_by_id(case.id).name == name
        assert Case.get(Case.name == name).id == case.id


def test_case_number_never_reused(app, stations):
    with app.app_context():
        station = stations["yuexiu"]
        with database.atomic():
            first = CaseNumberCounter.next_number(station, 2026)
        with pytest.raises(RuntimeError), database.atomic():
            CaseNumberCounter.next_number(station, 2026)
            raise RuntimeError("intake failed after taking a number")
        with database.atomic():
            third = CaseNumberCounter.next_number(station, 2026)
        next_year = CaseNumberCounter.next_number(station, 2027)
    assert first == "越秀-2026-0001"
    assert third in ("越秀-2026-0002", "越秀-2026-0003")
    assert next_year == "越秀-2027-0001"


def test_case_numbers_unique_under_concurrency(app, stations):
    numbers, errors = [], []

    def take():
        with app.app_context():
            try:
                for _ in range(5):
                    with database.atomic():
                        numbers.append(
                            CaseNumberCounter.next_number(stations["haizhu"], 2026)
                        )
            except peewee.OperationalError as error:
                errors.append(error)
            finally:
                database.close()

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(numbers) == 20
    assert len(set(numbers)) == 20


def test_photo_must_belong_to_case_or_report(app, users):
    with app.app_context(), pytest.raises(peewee.IntegrityError):
        Photo.create(
            stored_name="x.jpg",
            sha256="0" * 64,
            width=1,
            height=1,
            uploaded_by=users["staff"].id,
        )


def test_gallery_revision_changes_on_bump(app):
    with app.app_context():
        assert GalleryRevision.current() == ""
        GalleryRevision.bump()
        first = GalleryRevision.current()
        GalleryRevision.bump()
        assert GalleryRevision.current() not in ("", first)


def test_station_descendants(app, stations):
    with app.app_context():
        ids = Station.get_by_id(stations["city"].id).descendant_ids()
    assert sorted(ids) == sorted(s.id for s in stations.values())


def test_audit_chain_detects_edit_and_delete(app, users):
    with app.app_context():
        for action in ("login", "case_created", "face_search"):
            AuditLog.append(action, user=users["staff"], detail={"n": action})
        assert AuditLog.verify_chain() is None
        middle = AuditLog.select().order_by(AuditLog.id)[1]
        with pytest.raises(PermissionError):
            middle.save()
        with pytest.raises(PermissionError):
            middle.delete_instance()
        AuditLog.update(detail='{"n": "forged"}').where(
            AuditLog.id == middle.id
        ).execute()
        assert AuditLog.verify_chain() == middle.id


def test_audit_chain_detects_removed_row(app, users):
    with app.app_context():
        for action in ("a", "b", "c"):
            AuditLog.append(action, user=users["staff"])
        second = AuditLog.select().order_by(AuditLog.id)[1]
        AuditLog.delete().where(AuditLog.id == second.id).execute()
        assert AuditLog.verify_chain() == second.id + 1


def test_concurrent_audit_appends_keep_chain(app, users):
    errors = []

    def append_many():
        with app.app_context():
            try:
                for n in range(10):
                    AuditLog.append("concurrent", user=users["staff"], detail={"n": n})
            except peewee.OperationalError as error:
                errors.append(error)
            finally:
                database.close()

    threads = [threading.Thread(target=append_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        assert errors == []
        assert AuditLog.select().count() == 40
        assert AuditLog.verify_chain() is None
