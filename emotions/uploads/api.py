"""The JSON API: POST /api/predictions/ (multipart field `image`, `?wait=1` to wait for the result,
`?whole_image=1` to classify the photo as one face, `?learn_from_corrections=1` to let the site keep the faces
you correct) and GET /api/predictions/<id>/; POST /api/predictions/<id>/faces/<n>/label with {"label": "Happy"}
corrects face n (emotions.photo_sets.api). A POST answers 201
with the result, or 202 while it is still pending or processing (then GET its Location). Errors are
JSON too: {"error": "..."} with 400, 401, 404, 405, 413 or 503.

A program sends `Authorization: Bearer <token>` (a token its user made on /tokens/) and acts as that
user: its uploads are the user's, private like a logged-in browser's. A wrong or revoked token is a 401.
Without a token nothing changes: an upload made from a logged-in or session-holding browser stays theirs,
and one made with neither owns nothing but its id, a random UUID: whoever holds it may fetch it.
"""
from functools import wraps

from django.http import JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from emotions.accounts.models import ApiToken
from emotions.uploads import services
from emotions.uploads.models import Upload
from emotions.uploads.views import session_owner

TRUE = ("1", "true", "yes", "on")


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _result(upload: Upload, status: int = 200) -> JsonResponse:
    return JsonResponse(upload.to_dict(), status=status)


def _bearer_secret(request) -> str | None:
    """The token in `Authorization: Bearer <token>`; None without the header, "" when it is malformed."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None
    scheme, _, secret = header.partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else ""


def token_auth(view):
    """A request with a bearer token acts as the token's user (for this request; no session is made)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        secret = _bearer_secret(request)
        if secret is not None:
            token = ApiToken.objects.authenticate(secret) if secret else None
            if token is None:
                response = _error("Invalid or revoked API token.", 401)
                response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
                return response
            request.user = token.user
        return view(request, *args, **kwargs)

    return wrapper


# csrf_exempt: programs post here without a CSRF cookie. A browser session cannot be ridden to do harm:
# the API only creates uploads (owned by that session, as the page would) and reads ones it may see.
@csrf_exempt
@never_cache
@token_auth
def predictions(request):
    if request.method != "POST":
        return _error("Use POST with a multipart field named 'image'.", 405)
    files = request.FILES.getlist("image")
    if not files:
        return _error("Send the photo as a multipart field named 'image'.", 400)
    if len(files) > 1:
        return _error(f"{len(files)} images sent; send one image per request.", 400)
    try:
        services.model_in_use()
        checked = services.check_files(files)
    except services.NoModelAvailable as error:
        return _error(str(error), 503)
    except services.UploadRefused as error:
        return _error(str(error), error.status)
    whole_image = request.GET.get("whole_image", request.POST.get("whole_image", "")).lower() in TRUE
    learn = request.GET.get("learn_from_corrections", request.POST.get("learn_from_corrections", "")).lower() in TRUE
    created = services.create_uploads(checked, user=request.user, session_owner=session_owner(request) or "",
                                     whole_image=whole_image, learn_from_corrections=learn)
    upload = created[0]  # one: checked above
    if request.GET.get("wait", "").lower() in TRUE:
        upload = services.wait_for_result(upload)
    response = _result(upload, status=201 if upload.is_finished else 202)  # 202: poll the Location
    response["Location"] = reverse("emotions:api_prediction", args=[upload.pk])
    return response


@never_cache
@token_auth
def prediction(request, pk):
    if request.method != "GET":
        return _error("Use GET.", 405)
    upload = Upload.objects.filter(pk=pk).first()
    if upload is None or not upload.is_visible_to(request.user, session_owner(request)):
        return _error("No such prediction.", 404)
    return _result(services.settle(upload))
