from django import forms


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented recipe); checking them is emotions.uploads.services' job."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp,image/bmp,image/gif"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        # Empty and broken files pass through: emotions.uploads.services.check_files says what is wrong with them.
        return list(data) if isinstance(data, (list, tuple)) else [data] if data else []


class UploadForm(forms.Form):
    images = MultipleFileField(required=False, label="Photos")
    whole_image = forms.BooleanField(required=False, label="This is already a face: classify the whole image")
    learn_from_corrections = forms.BooleanField(
        required=False, label="Let this site learn from my corrections",
        help_text="Where you correct a face's emotion on the result, that face (the small gray crop, never the photo) "
                  "is kept with its label to train better models, after the photo itself is deleted.",
    )
