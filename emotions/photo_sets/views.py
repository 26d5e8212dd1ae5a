"""Correcting a face on an upload's result page: one click on one of the seven emotions. The upload's owner
only (the same rule as seeing it: strangers get a 404)."""
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from emotions.photo_sets import corrections
from emotions.uploads.views import _get_upload_for_user


@require_POST
def correct_face(request, pk, index: int):
    upload = _get_upload_for_user(request, pk)
    try:
        kept = corrections.correct_face(upload, index, request.POST.get("label", ""))
    except corrections.CorrectionRefused as error:
        messages.error(request, str(error))
        return redirect("emotions:upload_detail", pk=upload.pk)
    label = upload.faces[index][corrections.TRUE_LABEL]
    note = " and kept to help the model learn" if kept else ""
    messages.success(request, f"Face {index + 1} marked {label}{note}. Thank you.")
    return redirect(reverse("emotions:upload_detail", args=[upload.pk]) + f"#face-card-{index + 1}")
