"""Uploading photos, their results, a person's history. Open to everyone: an anonymous visitor's
uploads belong to their session, a logged-in user's to their account, and strangers get a 404."""
import secrets

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from emotions import charts
from emotions.uploads import about_model as about
from emotions.uploads import services
from emotions.uploads.forms import UploadForm
from emotions.uploads.models import Upload


def session_owner(request, create: bool = False) -> str | None:
    """The random token that marks this browser session's uploads; made on its first upload."""
    token = request.session.get(services.SESSION_OWNER)
    if token is None and create:
        token = request.session[services.SESSION_OWNER] = secrets.token_urlsafe(32)
    return token


def _get_upload_for_user(request, pk) -> Upload:
    upload = get_object_or_404(Upload, pk=pk)
    if not upload.is_visible_to(request.user, session_owner(request)):
        raise Http404("No such upload.")
    return upload


def _model_problem() -> str:
    try:
        services.model_in_use()
    except services.NoModelAvailable as error:
        return str(error)
    return ""


def upload_page(request):
    status = 200
    problem = ""
    posted = request.method == "POST"
    form = UploadForm(request.POST if posted else None, request.FILES if posted else None)
    if posted and form.is_valid():
        problem, status = _model_problem(), 503
        if not problem:
            try:
                checked = services.check_files(form.cleaned_data["images"])
            except services.UploadRefused as error:
                problem, status = str(error), error.status
            else:
                created = services.create_uploads(
                    checked, user=request.user, session_owner=session_owner(request, create=True),
                    whole_image=form.cleaned_data["whole_image"],
                    learn_from_corrections=form.cleaned_data["learn_from_corrections"],
                )
                if len(created) == 1:
                    return redirect("emotions:upload_detail", pk=created[0].pk)
                messages.success(request, f"{len(created)} photos uploaded.")
                return redirect("emotions:history")
    return render(request, "emotions/upload.html", {
        "form": form, "problem": problem, "model_problem": _model_problem(),
        "max_files": settings.UPLOAD_MAX_FILES, "retention_days": f"{settings.UPLOAD_RETENTION_DAYS:g}",
    }, status=status)


def upload_detail(request, pk):
    upload = services.settle(_get_upload_for_user(request, pk))
    faces = [
        {**face, "index": index, "chart_id": f"face-{index + 1}", "chart_label": f"Probabilities of face {index + 1}",
         "chart": charts.embed(charts.emotion_probabilities(face["probabilities"]))}
        for index, face in enumerate(upload.faces)
    ]
    return render(request, "emotions/upload_detail.html", {"upload": upload, "faces": faces,
                                                           "reader": about.reader_of(upload.model)})


def about_model(request):
    """The model that reads uploads now, its figures and its limits: open to everyone, as uploading is."""
    try:
        model, problem = about.about_serving_model(), ""
    except services.NoModelAvailable as error:
        model, problem = None, str(error)
    f1_chart = None
    if model is not None and model.test_sets:
        f1_chart = charts.embed(charts.f1_per_emotion(
            [(f"{s.name}, {s.description}" if not s.is_photos else f"{s.name} photos", s.f1) for s in model.test_sets],
            model.class_names))
    return render(request, "emotions/about_model.html", {"model": model, "problem": problem, "f1_chart": f1_chart})


@never_cache
def upload_status(request, pk):
    upload = services.settle(_get_upload_for_user(request, pk))
    return JsonResponse(upload.to_dict())


def upload_image(request, pk):
    upload = _get_upload_for_user(request, pk)
    return FileResponse(upload.image.open("rb"), content_type=upload.content_type)


def upload_annotated(request, pk):
    upload = _get_upload_for_user(request, pk)
    if not upload.annotated:
        raise Http404("Not predicted yet.")
    return FileResponse(upload.annotated.open("rb"), content_type="image/jpeg")


def upload_face(request, pk, index: int):
    upload = _get_upload_for_user(request, pk)
    path = upload.face_crop_path(index)
    if index >= len(upload.faces) or not path.is_file():
        raise Http404("No such face.")
    return FileResponse(path.open("rb"), content_type="image/png")


@require_POST
def upload_whole_image(request, pk):
    upload = _get_upload_for_user(request, pk)
    if not services.classify_whole_image(upload):
        messages.error(request, "This photo is still being predicted; try again when it is done.")
    return redirect("emotions:upload_detail", pk=upload.pk)


@require_POST
def upload_delete(request, pk):
    upload = _get_upload_for_user(request, pk)
    services.delete_upload(upload)
    messages.success(request, f"Deleted {upload.original_name or 'the upload'}.")
    return redirect("emotions:history")


def history(request):
    mine = Upload.objects.owned_by(request.user, session_owner(request))
    rows = [services.settle(upload) for upload in mine]
    return render(request, "emotions/history.html", {
        "uploads": rows, "pending": any(not upload.is_finished for upload in rows),
        "status_url": reverse("emotions:history"),
    })
