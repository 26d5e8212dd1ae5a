from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from emotions.views import datasets, downloads, experiments, runs

app_name = "emotions"

urlpatterns = [
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
    path("login/", auth_views.LoginView.as_view(next_page=reverse_lazy("emotions:experiments")), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page=reverse_lazy("emotions:login")), name="logout"),
]
