from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from emotions.accounts import views as tokens
from emotions.accounts.login_throttle import LoginView
from emotions.dashboards.views import datasets, downloads, experiments, runs
from emotions.live import views as live
from emotions.photo_sets import api as corrections_api
from emotions.photo_sets import views as corrections
from emotions.uploads import api
from emotions.uploads import views as uploads
from emotions.videos import api as videos_api
from emotions.videos import views as videos

app_name = "emotions"

urlpatterns = [
    path("upload/", uploads.upload_page, name="upload"),
    path("about-model/", uploads.about_model, name="about_model"),
    path("uploads/<uuid:pk>/", uploads.upload_detail, name="upload_detail"),
    path("uploads/<uuid:pk>/status.json", uploads.upload_status, name="upload_status"),
    path("uploads/<uuid:pk>/original", uploads.upload_image, name="upload_image"),
    path("uploads/<uuid:pk>/annotated.jpg", uploads.upload_annotated, name="upload_annotated"),
    path("uploads/<uuid:pk>/faces/<int:index>.png", uploads.upload_face, name="upload_face"),
    path("uploads/<uuid:pk>/whole-image/", uploads.upload_whole_image, name="upload_whole_image"),
    path("uploads/<uuid:pk>/faces/<int:index>/label/", corrections.correct_face, name="upload_face_label"),
    path("uploads/<uuid:pk>/delete/", uploads.upload_delete, name="upload_delete"),
    path("history/", uploads.history, name="history"),
    path("live/", live.live_page, name="live"),
    path("live/frame/", live.live_frame, name="live_frame"),
    path("live/save/", live.live_save, name="live_save"),
    path("videos/", videos.video_list, name="videos"),
    path("videos/<uuid:pk>/", videos.video_detail, name="video_detail"),
    path("videos/<uuid:pk>/status.json", videos.video_status, name="video_status"),
    path("videos/<uuid:pk>/frames/<int:index>.jpg", videos.video_frame, name="video_frame"),
    path("videos/<uuid:pk>/original", videos.video_original, name="video_original"),
    path("videos/<uuid:pk>/faces.csv", videos.video_csv, name="video_csv"),
    path("videos/<uuid:pk>/result.json", videos.video_json, name="video_json"),
    path("videos/<uuid:pk>/cancel/", videos.video_cancel, name="video_cancel"),
    path("videos/<uuid:pk>/delete/", videos.video_delete, name="video_delete"),
    path("api/videos/", videos_api.videos, name="api_videos"),
    path("api/videos/<uuid:pk>/", videos_api.video, name="api_video"),
    path("api/predictions/", api.predictions, name="api_predictions"),
    path("api/predictions/<uuid:pk>/", api.prediction, name="api_prediction"),
    path("api/predictions/<uuid:pk>/faces/<int:index>/label", corrections_api.face_label, name="api_face_label"),
    path("tokens/", tokens.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", tokens.token_revoke, name="token_revoke"),
    path("experiments/", experiments.leaderboard, name="experiments"),
    path("compare/", experiments.compare, name="compare"),
    path("runs/<int:pk>/", runs.run_detail, name="run"),
    path("runs/<int:pk>/status.json", runs.run_status, name="run_status"),
    path("runs/<int:pk>/curves.json", runs.run_curves, name="run_curves"),
    path("runs/<int:pk>/mistakes/", runs.run_mistakes, name="run_mistakes"),
    path("runs/<int:pk>/checkpoint.pt", downloads.run_checkpoint, name="run_checkpoint"),
    path("runs/<int:pk>/metrics.json", downloads.run_metrics_json, name="run_metrics_json"),
    path("runs/<int:pk>/epochs.csv", downloads.run_epochs_csv, name="run_epochs_csv"),
    path("runs/<int:pk>/tensorboard.zip", downloads.run_tensorboard, name="run_tensorboard"),
    path("datasets/", datasets.dataset_list, name="datasets"),
    path("datasets/<int:pk>/", datasets.dataset_detail, name="dataset"),
    path("datasets/<int:pk>/faces/<int:index>.png", datasets.dataset_face, name="dataset_face"),
    # Dashboards are for logged-in users, not only staff: the admin's login page lets in staff alone.
    path("login/", LoginView.as_view(next_page=reverse_lazy("emotions:experiments")), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page=reverse_lazy("emotions:login")), name="logout"),
]
