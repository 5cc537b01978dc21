"""Re-embedding stored photos after the face model or detector changes.

Searches only compare vectors of the current model (faces.MODEL_NAME and
MODEL_VERSION), so after an upgrade the gallery is empty for the new model
until this job has embedded every stored photo again.
"""

import logging

from PIL import Image

from db.base import database
from db.photos import FaceVector, GalleryRevision, Photo
from services import faces, photo_store
from services.errors import InputError

logger = logging.getLogger("tuanyuan.reembed")


def photos_without_current_vector():
    current = FaceVector.select(FaceVector.photo).where(
        (FaceVector.model_name == faces.MODEL_NAME)
        & (FaceVector.model_version == faces.MODEL_VERSION)
    )
    return Photo.select().where(Photo.id.not_in(current)).order_by(Photo.id)


def reembed_all(batch_size=100):
    """Embed every photo that has no vector of the current model.

    Returns (embedded, failed). A photo whose face the new model cannot find
    is logged and counted, and keeps its old vectors for the record.
    """
    embedded = failed = 0
    while True:
        batch = list(photos_without_current_vector().offset(failed).limit(batch_size))
        if not batch:
            break
        for photo in batch:
            try:
                with Image.open(photo_store.photo_path(photo)) as image:
                    vector = faces.embed(image.convert("RGB"))
            except (InputError, OSError) as error:
                logger.warning("photo %s not re-embedded: %s", photo.id, error)
                failed += 1
                continue
            with database.atomic():
                photo_store.save_face(photo, vector)
            embedded += 1
    GalleryRevision.bump("report")
    GalleryRevision.bump("case")
    logger.info("re-embedded %d photo(s), %d failed", embedded, failed)
    return embedded, failed
