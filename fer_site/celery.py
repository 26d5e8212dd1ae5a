"""The Celery app. Workers: `celery -A fer_site worker -Q training --pool=solo -c 1` per GPU (CUDA does not
survive fork) and `celery -A fer_site worker -Q inference` (CPU, prefork); `celery -A fer_site beat`
for the periodic sweep. Routing and timing live in settings (CELERY_*)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fer_site.settings")

app = Celery("fer_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each domain of the emotions app keeps its tasks in its package (emotions/<domain>/tasks.py); a new
# domain with tasks is added here (tests/emotions/test_layout.py checks). Uploads first: their worker
# start-up handler begins the inference worker's heartbeat, which the web process waits on.
TASK_PACKAGES = ["emotions.uploads", "emotions.training", "emotions.videos", "emotions.photo_sets"]
app.autodiscover_tasks(TASK_PACKAGES)
