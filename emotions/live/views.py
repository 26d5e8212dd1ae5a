"""The live camera page (/live/), open to everyone as the upload page is. Each frame the page posts comes
back predicted and is forgotten; "save this moment" posts the frame as an ordinary upload, its saver's
(account or browser session) like any other."""
import logging

from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from emotions import charts
from emotions.live import services
from emotions.uploads import services as uploads
from emotions.uploads.views import session_owner
from ml.classes import FER_CLASSES

logger = logging.getLogger(__name__)

FRAME_WIDTH = 480  # the frames the page sends: 480x360 from a 4:3 camera, about 30 kB as a JPEG
FRAME_INTERVAL_MS = 250  # at most 4 frames a second, and never a second one before the first is answered


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _model_and_classes() -> tuple[str, list[str]]:
    """(what keeps the model from serving, or ""; its class names). Loading it here also warms this
    process's predictor for the first frame."""
    try:
        return "", list(uploads.predictor_for(uploads.model_in_use().path).class_names)
    except uploads.NoModelAvailable as error:
        return str(error), list(FER_CLASSES)
    except Exception as error:  # a broken checkpoint: say so on the page rather than fail it
        logger.exception("the model in use could not be loaded")
        return f"The model could not be loaded: {error}", list(FER_CLASSES)


def live_page(request):
    model_problem, class_names = _model_and_classes()
    return render(request, "emotions/live.html", {
        "model_problem": model_problem, "chart": charts.embed(charts.live_timeline(class_names)),
        "frame_width": FRAME_WIDTH, "frame_interval_ms": FRAME_INTERVAL_MS,
    })


@never_cache
@require_POST
def live_frame(request):
    """One frame (multipart field `frame`) predicted now: 200 with the faces, 400/413 for a bad or too
    large frame, 503 without a model or while this process is busy predicting (the page sends the next)."""
    try:
        return JsonResponse(services.predict_frame(request.FILES.get("frame")))
    except services.FrameRefused as error:
        return _error(str(error), error.status)
    except uploads.NoModelAvailable as error:
        return _error(str(error), 503)
    except uploads.WebProcessBusy as error:
        response = _error(str(error), 503)
        response["Retry-After"] = "1"
        return response
    except Exception as error:  # as an upload's failure reads (emotions.uploads.services.predict)
        logger.exception("a live frame's prediction failed")
        return _error(f"The prediction failed: {error}", 500)


@require_POST
def live_save(request):
    """The frame on screen (multipart field `image`) saved as an ordinary upload: 201 with its page."""
    files = request.FILES.getlist("image")
    if len(files) != 1:
        return _error("Send the moment as one image in a multipart field named 'image'.", 400)
    try:
        uploads.model_in_use()
        checked = uploads.check_files(files)
    except uploads.NoModelAvailable as error:
        return _error(str(error), 503)
    except uploads.UploadRefused as error:
        return _error(str(error), error.status)
    (upload,) = uploads.create_uploads(checked, user=request.user, session_owner=session_owner(request, create=True))
    return JsonResponse({"id": str(upload.pk), "status": upload.status,
                         "url": reverse("emotions:upload_detail", args=[upload.pk])}, status=201)
