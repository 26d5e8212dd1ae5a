from django import forms
from django.core.exceptions import ValidationError

from emotions.training import configs
from emotions.training.models import Dataset, Experiment, TrainingRun


def _model_names() -> str:
    from ml.models import list_models

    return ", ".join(list_models())


class ExperimentForm(forms.ModelForm):
    """An experiment's config comes from a preset (configs/*.yaml) or from the YAML typed here; either
    way it is validated by ml's TrainConfig, and an error names the offending field."""

    preset = forms.ChoiceField(required=False)
    config = forms.CharField(
        required=False,
        strip=False,  # else an untouched config reads as changed (the initial text ends in a newline)
        widget=forms.Textarea(attrs={"rows": 30, "cols": 90, "style": "font-family: monospace", "spellcheck": "false"}),
    )

    class Meta:
        model = Experiment
        fields = ["name", "description", "dataset", "dataset_weight", "start_from", "preset", "config"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset_weight"].required = False  # left empty: 1
        self.fields["start_from"].queryset = (
            TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED).exclude(checkpoint="")
            .select_related("experiment").order_by("-pk")
        )
        self.fields["start_from"].label_from_instance = lambda run: f"#{run.pk} {run.experiment.name}"
        self.fields["start_from"].help_text += (" Leave empty to start from scratch (or from the config's init_from). "
                                                "An ensemble is fine-tuned member by member.")
        self.fields["preset"].choices = [("", "(none: write the config)")] + [
            (name, name) for name in configs.preset_paths()
        ]
        self.fields["preset"].help_text = "Choosing a preset (and leaving the config as it was) loads its config."
        self.fields["config"].help_text = (
            f"YAML (or JSON). Leave empty to use the preset. Models: {_model_names()}. "
            "Keys left out take their defaults; the saved config shows them all."
        )
        self.initial["config"] = configs.to_text(self.instance.config) if self.instance.pk else ""

    def clean_dataset_weight(self):
        weight = self.cleaned_data.get("dataset_weight")
        return 1.0 if weight is None else weight

    def clean(self):
        """The config as a dict: from the text when it was edited, else from a newly chosen preset.
        Experiment.clean() then validates it with ml's TrainConfig and fills in the defaults."""
        cleaned = super().clean()
        text = (cleaned.get("config") or "").strip()
        preset = cleaned.get("preset")
        try:
            if text and ("config" in self.changed_data or "preset" not in self.changed_data or not preset):
                cleaned["config"] = configs.parse(text)
            elif preset:
                cleaned["config"] = configs.load_preset(preset)
            else:
                raise ValidationError("Choose a preset or write a config.")
        except ValidationError as error:
            self.add_error("config", error)
        return cleaned


class DatasetForm(forms.ModelForm):
    """A dataset's one editable setting: whether every run is scored on it."""

    class Meta:
        model = Dataset
        fields = ["is_evaluation_set"]

    def clean_is_evaluation_set(self):
        flag = self.cleaned_data["is_evaluation_set"]
        if flag and self.instance.kind != Dataset.Kind.PHOTOS:
            raise ValidationError("Only a photo dataset can be an evaluation set.")
        return flag
