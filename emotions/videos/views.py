"""Uploading videos, their progress and results, a person's videos. Private as photos are: an anonymous
visitor's videos belong to their session, a logged-in user's to their account, and strangers get a 404."""
from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from emotions import charts
from emotions.uploads.services import NoModelAvailable, UploadRefused, model_in_use
from emotions.uploads.views import session_owner
from emotions.videos import services
from emotions.videos.forms import VideoForm, video_limits
from emotions.videos.models import Video


def _get_video_for_user(request, pk) -> Video:
    video = get_object_or_404(Video, pk=pk)
    if not video.is_visible_to(request.user, session_owner(request)):
        raise Http404("No such video.")
    return video


def video_list(request):
    """GET: the upload form and this person's videos; POST: a video, checked, saved and queued."""
    status, problem = 200, ""
    posted = request.method == "POST"
    form = VideoForm(request.POST if posted else None, request.FILES if posted else None)
    if posted and form.is_valid():
        try:
            model_in_use()
            fps = services.parse_fps(form.cleaned_data["fps"])
            with services.checked_video(form.cleaned_data["video"], fps) as checked:
                video = services.create_video(checked, user=request.user,
                                              session_owner=session_owner(request, create=True))
        except NoModelAvailable as error:
            problem, status = str(error), 503
        except UploadRefused as error:
            problem, status = str(error), error.status
        else:
            return redirect("emotions:video_detail", pk=video.pk)
    mine = list(Video.objects.owned_by(request.user, session_owner(request)))
    return render(request, "emotions/video_list.html", {
        "form": form, "problem": problem, "videos": mine, "pending": any(not video.is_finished for video in mine),
        "retention_days": f"{settings.UPLOAD_RETENTION_DAYS:g}", **video_limits(),
    }, status=status)


def video_detail(request, pk):
    video = _get_video_for_user(request, pk)
    faces = []
    if video.status == Video.Status.DONE:
        shares = video.emotion_shares()
        for face in video.faces:
            track = face["track"]
            top = max(shares[track], key=shares[track].get)
            faces.append({
                "track": track, "frames": len(face["frames"]), "first": face["frames"][0]["t"],
                "last": face["frames"][-1]["t"], "shares": shares[track], "top": top,
                "chart_id": f"timeline-{track}", "chart_label": f"Emotions of face {track} over time",
                "chart": charts.embed(charts.emotion_timeline(face["frames"], video.class_names, f"Face {track}",
                                                              duration=video.duration)),
            })
    shares_chart = charts.embed(charts.emotion_shares(video.emotion_shares(), video.class_names)) if faces else None
    return render(request, "emotions/video_detail.html", {
        "video": video, "faces": faces, "shares_chart": shares_chart,
        "frame_times": [round(t, 3) for t in video.frame_times],
    })


@never_cache
def video_status(request, pk):
    return JsonResponse(_get_video_for_user(request, pk).to_dict())


def video_frame(request, pk, index: int):
    video = _get_video_for_user(request, pk)
    path = video.frame_path(index)
    if index >= len(video.frame_times) or not path.is_file():
        raise Http404("No such frame.")
    return FileResponse(path.open("rb"), content_type="image/jpeg")


def video_original(request, pk):
    video = _get_video_for_user(request, pk)
    return FileResponse(video.file.open("rb"), content_type=video.content_type, as_attachment=True,
                        filename=video.original_name or "video")


def _download_name(video: Video, suffix: str) -> str:
    stem = (video.original_name.rsplit(".", 1)[0] if video.original_name else "") or "video"
    return f"{stem}-emotions.{suffix}"


def video_csv(request, pk):
    video = _get_video_for_user(request, pk)
    if video.status != Video.Status.DONE or not video.csv_path.is_file():
        raise Http404("Not analysed yet.")
    return FileResponse(video.csv_path.open("rb"), content_type="text/csv", as_attachment=True,
                        filename=_download_name(video, "csv"))


def video_json(request, pk):
    video = _get_video_for_user(request, pk)
    if video.status != Video.Status.DONE:
        raise Http404("Not analysed yet.")
    response = JsonResponse(video.to_dict(), json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="{_download_name(video, "json")}"'
    return response


@require_POST
def video_cancel(request, pk):
    video = _get_video_for_user(request, pk)
    if services.cancel_video(video):
        messages.success(request, "Cancelled.")
    else:
        messages.error(request, f"This video is already {video.status}.")
    return redirect("emotions:video_detail", pk=video.pk)


@require_POST
def video_delete(request, pk):
    video = _get_video_for_user(request, pk)
    services.delete_video(video)
    messages.success(request, f"Deleted {video.original_name or 'the video'}.")
    return redirect("emotions:videos")
