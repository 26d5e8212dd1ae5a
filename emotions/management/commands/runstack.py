import os
import signal
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from emotions import stack


class Command(BaseCommand):
    help = (
        "Run the whole system on this machine: Redis (unless REDIS_URL is set), the training and inference "
        "Celery workers, Celery beat and the web server. Ctrl-C stops them all."
    )

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000", help="for the web server")
        parser.add_argument("--inference-concurrency", type=int, default=2)
        parser.add_argument("--redis-port", type=int, default=6379, help="for the local Redis (REDIS_URL unset)")

    def handle(self, *args, addrport, inference_concurrency, redis_port, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.ensure_superuser()

        env = dict(os.environ)
        children = []
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
            children.append(self.local_redis(redis_port))
        env["REDIS_URL"] = redis_url
        children += [
            stack.Child("training worker", stack.celery_command(*stack.training_worker_args()), env),
            stack.Child("inference worker", stack.celery_command(*stack.inference_worker_args(inference_concurrency)), env),
            stack.Child("beat", stack.celery_command("beat", "-l", "INFO", "-s", settings.CELERY_BEAT_SCHEDULE_FILENAME), env),
            stack.Child("web server", [sys.executable, str(settings.BASE_DIR / "manage.py"), "runserver", addrport], env),
        ]

        stopping = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopping.append(True))
        try:
            for child in children:
                child.start()
                if child.name == "redis":
                    stack.wait_for_redis(redis_url)
            self.stdout.write(self.style.SUCCESS(
                f"Running: admin at http://{addrport}/admin/, broker {redis_url}. Ctrl-C stops everything."
            ))
            while not stopping:
                exited = [child for child in children if not child.running]
                if exited:
                    raise CommandError(f"The {exited[0].name} exited (code {exited[0].process.returncode}); stopping.")
                time.sleep(0.5)
        finally:
            self.stdout.write("Stopping ...")
            # Redis last: the workers and the web server talk to it until they are gone.
            for child in reversed(children):
                child.stop()
            self.stdout.write("Stopped.")

    def local_redis(self, port: int) -> stack.Child:
        if not stack.port_is_free(port):
            raise CommandError(
                f"Port {port} is taken. Stop what listens there, or set REDIS_URL to use a Redis you run yourself."
            )
        data_dir = settings.VAR_DIR / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        return stack.Child("redis", stack.redis_server_command(port, data_dir))

    def ensure_superuser(self):
        """From DJANGO_SUPERUSER_USERNAME / _PASSWORD / _EMAIL, once; nothing when they are unset."""
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME")
        if not username:
            return
        if get_user_model().objects.filter(username=username).exists():
            return
        if not os.environ.get("DJANGO_SUPERUSER_PASSWORD"):
            raise CommandError("DJANGO_SUPERUSER_USERNAME is set: set DJANGO_SUPERUSER_PASSWORD too.")
        call_command("createsuperuser", interactive=False, username=username,
                     email=os.environ.get("DJANGO_SUPERUSER_EMAIL", ""), verbosity=0)
        self.stdout.write(f"Created superuser {username!r}.")
