"""Every model of the app, where Django looks for them (`<app>.models`). Each domain keeps its own models
in its package; a new domain's are imported here too."""
from emotions.accounts.models import ApiToken, LoginFailure
from emotions.photo_sets.models import Correction, PhotoImport, RunEvaluation
from emotions.training.models import Dataset, EpochMetric, Experiment, ExperimentDataset, TrainingRun
from emotions.uploads.models import Upload, upload_path  # upload_path: migration 0002 names it here
from emotions.videos.models import Video

__all__ = ["ApiToken", "Correction", "Dataset", "EpochMetric", "Experiment", "ExperimentDataset", "LoginFailure",
           "PhotoImport", "RunEvaluation", "TrainingRun", "Upload", "Video", "upload_path"]
