"""The video upload form, placed on any page (the photo upload page): `{% load videos %}{% video_upload_form %}`."""
from django import template

from emotions.videos.forms import VideoForm, video_limits

register = template.Library()


@register.inclusion_tag("emotions/_video_form.html", takes_context=True)
def video_upload_form(context):
    return {"form": VideoForm(), "csrf_token": context.get("csrf_token"), **video_limits()}
