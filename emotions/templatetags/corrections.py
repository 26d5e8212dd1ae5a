"""A face's correction buttons on an upload's result (`{% load corrections %}{% face_correction upload face %}`):
one click on one of the seven emotions marks the face's true one (emotions.photo_sets.views)."""
from django import template

from ml.classes import FER_CLASSES

register = template.Library()


@register.inclusion_tag("emotions/_face_correction.html", takes_context=True)
def face_correction(context, upload, face):
    return {"upload": upload, "face": face, "emotions": FER_CLASSES, "csrf_token": context.get("csrf_token")}
