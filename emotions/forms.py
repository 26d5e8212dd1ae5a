from django import forms
from django.core.exceptions import ValidationError

from emotions import configs
from emotions.models import Experiment


def _model_names() -> str:
    try:
        from ml.models import list_models

        return ", ".join(list_models())
    except ImportError:
        return "(ml.models is not importable)"


class ExperimentForm(forms.ModelForm):
    """An experiment's config comes from a preset (configs/*.yaml) or from the YAML typed here; either
    way it is validated by ml's TrainConfig, and an error names the offending field."""

    preset = forms.ChoiceField(required=False)
    config_text = forms.CharField(
        label="Config",
        required=False,
        strip=False,  # else an untouched config reads as changed (the initial text ends in a newline)
        widget=forms.Textarea(attrs={"rows": 30, "cols": 90, "style": "font-family: monospace", "spellcheck": "false"}),
    )

    class Meta:
        model = Experiment
        fields = ["name", "description", "dataset", "preset", "config_text"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["preset"].choices = [("", "(none: write the config)")] + [
            (name, name) for name in configs.preset_paths()
        ]
        self.fields["preset"].help_text = "Choosing a preset (and leaving the config as it was) loads its config."
        self.fields["config_text"].help_text = (
            f"YAML (or JSON). Leave empty to use the preset. Models: {_model_names()}. "
            "Keys you leave out take their defaults; the saved config shows them all."
        )
        if self.instance.pk:
            self.initial.setdefault("config_text", configs.to_text(self.instance.config))

    def clean(self):
        cleaned = super().clean()
        text = (cleaned.get("config_text") or "").strip()
        preset = cleaned.get("preset")
        try:
            if text and ("config_text" in self.changed_data or not preset or "preset" not in self.changed_data):
                config = configs.resolve(configs.parse(text))
            elif preset:
                config = configs.load_preset(preset)
            else:
                raise ValidationError("Choose a preset or write a config.")
        except ValidationError as error:
            self.add_error("config_text", error)
            return cleaned
        self.instance.config = config
        cleaned["config_text"] = configs.to_text(config)
        return cleaned
