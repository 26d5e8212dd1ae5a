from django import forms
from django.conf import settings

ACCEPT = "video/mp4,video/webm,video/quicktime,video/x-msvideo,.mp4,.m4v,.webm,.mov,.avi,.mkv"


class RawFileField(forms.FileField):
    """The uploaded file as it came: empty and broken ones too, whose fault emotions.videos.services names."""

    def clean(self, data, initial=None):
        return data or None


class VideoForm(forms.Form):
    # Both optional and kept raw: emotions.videos.services says what is wrong with a file or an fps.
    video = RawFileField(required=False, label="Video", widget=forms.FileInput(attrs={"accept": ACCEPT}))
    fps = forms.CharField(required=False, label="Frames per second to analyse",
                          widget=forms.NumberInput(attrs={"min": "0.1", "max": "60", "step": "any", "placeholder": "4"}))


def video_limits() -> dict:
    """What the upload form tells people about the limits."""
    from emotions.videos.services import DEFAULT_FPS

    return {"max_megabytes": f"{settings.VIDEO_MAX_BYTES / 2**20:g}",
            "max_minutes": f"{settings.VIDEO_MAX_SECONDS / 60:g}", "default_fps": f"{DEFAULT_FPS:g}"}
