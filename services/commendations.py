"""Thank-you banners (锦旗) and letters: recording them and the yearly summary."""

import uuid
from collections import Counter
from datetime import date

from flask import current_app

from db.base import database
from db.documents import Commendation, CommendationPhoto, CommendationStaff
from services import photo_store, photos
from services.photo_store import write_atomically

MAX_PHOTOS = 6


def folder():
    return photo_store.upload_folder() / "commendations"


def photo_path(photo):
    return folder() / photo.stored_name


def normalise_photos(uploads):
    """Check every upload; return [(name, NormalisedPhoto)] or raise PhotoError
    for the first bad one, before anything is stored."""
    max_bytes = current_app.config["PHOTO_MAX_BYTES"]
    return [
        (
            upload.filename,
            photos.normalise(upload.stream.read(max_bytes + 1), max_bytes),
        )
        for upload in uploads
    ]


def create(values, staff, normalised, user):
    """Save a commendation with its staff and photos; return it."""
    stored = []
    folder().mkdir(parents=True, exist_ok=True)
    for name, photo in normalised:
        stored_name = uuid.uuid4().hex + ".jpg"
        write_atomically(folder() / stored_name, photo.jpeg)
        stored.append((stored_name, name))
    with database.atomic():
        commendation = Commendation.create(created_by=user, **values)
        for member in staff:
            CommendationStaff.create(commendation=commendation, user=member)
        for stored_name, name in stored:
            CommendationPhoto.create(
                commendation=commendation,
                stored_name=stored_name,
                original_name=(name or "")[:255],
            )
    return commendation


def in_year(query, year):
    return query.where(
        (Commendation.received_on >= date(year, 1, 1))
        & (Commendation.received_on < date(year + 1, 1, 1))
    )


def summary(commendations):
    """Return counts for a year's commendations: by kind, month, staff and
    station."""
    by_kind = Counter()
    by_month = Counter()
    by_staff = Counter()
    by_station = Counter()
    for item in commendations:
        by_station[item.station.name] += 1
        by_kind[item.kind] += 1
        by_month[item.received_on.month] += 1
        for link in item.staff_links:
            by_staff[link.user.full_name] += 1
    return {
        "total": len(commendations),
        "by_kind": [(Commendation.KINDS[k], by_kind[k]) for k in Commendation.KINDS],
        "by_month": [(month, by_month[month]) for month in range(1, 13)],
        "by_staff": by_staff.most_common(),
        "by_station": sorted(by_station.items()),
        "with_case": sum(1 for item in commendations if item.case_id),
    }
