"""POST /api/predictions/<id>/faces/<n>/label with {"label": "Happy"} (JSON, or a form field): the true emotion
of face n (from 0) of one's own prediction, as on its page. Authenticated as the rest of the API: a bearer
token, or the session (whose requests carry the CSRF token, as the page's forms do). Answers 200 with the
prediction, its face now with `true_label`; 400 for an unknown emotion or face, 404 for an upload that is not
the caller's, 405 for another method."""
import json

from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from emotions.photo_sets import corrections
from emotions.uploads.api import _bearer_secret, _error, token_auth
from emotions.uploads.models import Upload
from emotions.uploads.views import session_owner


def _label_from(request) -> str | None:
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return None
        return body.get("label") if isinstance(body, dict) else None
    return request.POST.get("label")


def _csrf_refused(request) -> bool:
    """A session's request without its CSRF token: what a page on another site could make a browser send."""
    return CsrfViewMiddleware(lambda request: None).process_view(request, None, (), {}) is not None


@csrf_exempt  # a bearer token needs none; a session's request is checked below
@never_cache
@token_auth
def face_label(request, pk, index: int):
    if request.method != "POST":
        return _error('Use POST with {"label": "<emotion>"}.', 405)
    if _bearer_secret(request) is None and _csrf_refused(request):
        return _error("CSRF token missing or incorrect: send the X-CSRFToken header, or use an API token.", 403)
    upload = Upload.objects.filter(pk=pk).first()
    if upload is None or not upload.is_visible_to(request.user, session_owner(request)):
        return _error("No such prediction.", 404)
    label = _label_from(request)
    if label is None:
        return _error('Send the emotion as JSON: {"label": "Happy"}.', 400)
    try:
        kept = corrections.correct_face(upload, index, label)
    except corrections.CorrectionRefused as error:
        return _error(str(error), 400)
    upload.refresh_from_db()
    return JsonResponse({**upload.to_dict(), "corrected_face": index, "kept_to_learn_from": kept is not None})
