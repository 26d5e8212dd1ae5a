import os
import sys

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from emotions.infra import stack


class Command(BaseCommand):
    help = (
        "Run the whole system on this machine: Redis (unless REDIS_URL is set), the training and inference "
        "Celery workers, Celery beat and the web server. A process that dies is restarted; Ctrl-C stops them all."
    )

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000", help="for the web server")
        parser.add_argument("--inference-concurrency", type=int, default=2)
        parser.add_argument("--redis-port", type=int, default=6379, help="for the local Redis (REDIS_URL unset)")
        parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
        parser.add_argument("--web-threads", type=int, default=8, help="threads per gunicorn worker")
        parser.add_argument(
            "--dev-server", action="store_true",
            help="serve with Django's runserver, which reloads on code changes, instead of gunicorn",
        )
        parser.add_argument("--no-reload", action="store_true", help="with --dev-server: do not reload on changes")

    def handle(self, *args, addrport, inference_concurrency, redis_port, web_workers, web_threads, dev_server,
               no_reload, **options):
        web_port = int(addrport.rpartition(":")[2] or 8000)
        self.check_port(web_port, "the web server", "give another address: manage.py runstack 127.0.0.1:8001.")
        call_command("migrate", interactive=False, verbosity=0)
        self.ensure_superuser()

        env = dict(os.environ)
        # OpenMP threads that wait for work sleep after a short spin instead of a long one: a prediction
        # alone uses both cores, and one that overlaps another's then costs a little, not 3x (cpu_share).
        env.setdefault("GOMP_SPINCOUNT", "1000")
        children = []
        redis_url = os.environ.get("REDIS_URL")
        ready = {}
        if not redis_url:
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
            children.append(self.local_redis(redis_port))
            ready["Redis"] = lambda: stack.wait_for_redis(redis_url)
        env["REDIS_URL"] = redis_url
        children += [
            stack.Child("training worker", stack.celery_command(*stack.training_worker_args()), env),
            stack.Child("inference worker", stack.celery_command(*stack.inference_worker_args(inference_concurrency)), env),
            stack.Child("beat", stack.celery_command("beat", "-l", "INFO", "-s", settings.CELERY_BEAT_SCHEDULE_FILENAME), env),
            stack.Child("web server", self.web_server_command(addrport, web_workers, web_threads, dev_server, no_reload),
                        env),
        ]
        supervisor = stack.Supervisor(children, say=self.say, ready=ready)
        try:
            supervisor.run_until_signalled(on_started=lambda: self.say(self.style.SUCCESS(
                f"Running: admin at http://{addrport}/admin/, broker {redis_url}. Ctrl-C stops everything."
            )))
        except stack.GaveUp as error:
            raise CommandError(str(error)) from None

    def web_server_command(self, addrport: str, workers: int, threads: int, dev_server: bool,
                           no_reload: bool = False) -> list[str]:
        if dev_server:
            return [sys.executable, str(settings.BASE_DIR / "manage.py"), "runserver", addrport,
                    *(["--noreload"] if no_reload else [])]
        # Threads, not more processes: a request spends its time waiting for the inference worker.
        # --preload: the app (torch included, through the views) is imported once and its workers fork
        # from it, so they start in a moment and share its memory.
        return [
            sys.executable, "-m", "gunicorn", "fer_site.wsgi:application", "--bind", addrport, "--preload",
            "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
            "--graceful-timeout", "10", "--access-logfile", "-", "--no-control-socket",
        ]

    def say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()

    def check_port(self, port: int, what: str, advice: str) -> None:
        if stack.port_is_free(port):
            return
        holder = stack.port_holder(port)
        if holder is None:
            raise CommandError(f"Port {port} is taken, so {what} cannot listen there. Stop what listens there, or {advice}")
        pid, described = holder
        raise CommandError(
            f"Port {port} is taken by process {pid} ({described}), so {what} cannot listen there; perhaps an "
            f"earlier stack is still running. Stop it (kill {pid}), or {advice}"
        )

    def local_redis(self, port: int) -> stack.Child:
        self.check_port(port, "Redis", "choose another --redis-port, or set REDIS_URL to use a Redis you run yourself.")
        data_dir = settings.VAR_DIR / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        return stack.Child("Redis", stack.redis_server_command(port, data_dir))

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
