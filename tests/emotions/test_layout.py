"""The app is grouped by domain (emotions/<domain>/: models, services, tasks, views), and the tasks stay
on top: a domain's tasks module imports its services, nothing imports a tasks module back, and the
services send tasks by name (emotions.infra.dispatch). These keep the old import circles out."""
import ast
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from fer_site.celery import TASK_PACKAGES
from fer_site.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "emotions"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_tasks_module(name: str) -> bool:
    return name == "tasks" or name.endswith(".tasks")


def app_modules() -> list[str]:
    return sorted(module_name(path) for path in APP.rglob("*.py") if "migrations" not in path.parts)


def imported_names(path: Path) -> set[str]:
    """Every module an import statement in `path` names, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_module_of_the_app_imports_a_tasks_module_not_even_inside_a_function():
    offenders = {
        module_name(path): sorted(name for name in imported_names(path) if name.startswith("emotions") and is_tasks_module(name))
        for path in APP.rglob("*.py")
        if not is_tasks_module(module_name(path))
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_importing_every_module_but_the_tasks_loads_no_tasks_module():
    """In a fresh interpreter, as the web process starts: Django set up, then every module of the app."""
    modules = [name for name in app_modules() if not is_tasks_module(name)]
    script = (
        "import django, importlib, sys\n"
        "django.setup()\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(name for name in sys.modules if name.startswith('emotions') and name.endswith('.tasks')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "fer_site.settings"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_every_domain_with_tasks_is_discovered_by_the_workers():
    domains = {module_name(path.parent) for path in APP.glob("*/tasks.py")}
    assert domains and set(TASK_PACKAGES) == domains


def test_the_services_send_tasks_that_exist_under_those_names_and_are_routed():
    from emotions.photo_sets import evaluations as photo_set_evaluations
    from emotions.photo_sets import imports as photo_set_imports
    from emotions.photo_sets import tasks as photo_set_tasks
    from emotions.training import services as training_services
    from emotions.training import tasks as training_tasks
    from emotions.uploads import services as upload_services
    from emotions.uploads import tasks as upload_tasks
    from emotions.videos import services as video_services
    from emotions.videos import tasks as video_tasks

    assert training_tasks.train_run.name == training_services.TRAIN_RUN_TASK
    assert upload_tasks.predict_upload.name == upload_services.PREDICT_UPLOAD_TASK
    assert video_tasks.process_video.name == video_services.PROCESS_VIDEO_TASK
    assert photo_set_tasks.import_photos.name == photo_set_imports.IMPORT_PHOTOS_TASK
    assert photo_set_tasks.evaluate_run_on_set.name == photo_set_evaluations.EVALUATE_TASK
    ours = {name for name in celery_app.tasks if name.startswith("emotions.")}
    assert {training_services.TRAIN_RUN_TASK, upload_services.PREDICT_UPLOAD_TASK, video_services.PROCESS_VIDEO_TASK} <= ours
    assert ours == set(settings.CELERY_TASK_ROUTES)
