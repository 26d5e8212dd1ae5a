"""The JSON API for videos: POST /api/videos/ (multipart field `video`, optional `fps`; `?wait=1` waits up to
INFERENCE_WAIT_SECONDS for the result) and GET /api/videos/<id>/. A POST answers 202 with
{"id", "status", "progress"} (201 with the results when `?wait=1` saw it finish); GET answers the same,
and once done also "duration", "fps" and "faces". Errors are {"error": "..."} with 400, 401, 404, 405,
413 or 503. Tokens, sessions and ownership work exactly as for photos (emotions.uploads.api)."""
from django.http import JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from emotions.uploads.api import TRUE, token_auth
from emotions.uploads.services import NoModelAvailable, UploadRefused, model_in_use
from emotions.uploads.views import session_owner
from emotions.videos import services
from emotions.videos.models import Video


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@csrf_exempt  # as /api/predictions/: it only creates videos owned as the page would, and reads visible ones
@never_cache
@token_auth
def videos(request):
    if request.method != "POST":
        return _error("Use POST with a multipart field named 'video'.", 405)
    files = request.FILES.getlist("video")
    if not files:
        return _error("Send the video as a multipart field named 'video'.", 400)
    if len(files) > 1:
        return _error(f"{len(files)} videos sent; send one video per request.", 400)
    try:
        model_in_use()
        fps = services.parse_fps(request.POST.get("fps", request.GET.get("fps")))
        with services.checked_video(files[0], fps) as checked:
            video = services.create_video(checked, user=request.user, session_owner=session_owner(request) or "")
    except NoModelAvailable as error:
        return _error(str(error), 503)
    except UploadRefused as error:
        return _error(str(error), error.status)
    if request.GET.get("wait", "").lower() in TRUE:
        video = services.wait_for_result(video)
    response = JsonResponse(video.to_dict(), status=201 if video.is_finished else 202)  # 202: poll the Location
    response["Location"] = reverse("emotions:api_video", args=[video.pk])
    return response


@never_cache
@token_auth
def video(request, pk):
    if request.method != "GET":
        return _error("Use GET.", 405)
    found = Video.objects.filter(pk=pk).first()
    if found is None or not found.is_visible_to(request.user, session_owner(request)):
        return _error("No such video.", 404)
    return JsonResponse(found.to_dict())
