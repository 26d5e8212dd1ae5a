from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from emotions.training import runner, services
from emotions.training.models import Experiment, TrainingRun


class Command(BaseCommand):
    help = "Train an experiment here and now, without Celery workers (the same code path as the workers)."

    def add_arguments(self, parser):
        parser.add_argument("experiment", help="the experiment's name or id")

    def handle(self, *args, experiment, **options):
        found = Experiment.objects.filter(name=experiment).first()
        if found is None and experiment.isdigit():
            found = Experiment.objects.filter(pk=int(experiment)).first()
        if found is None:
            raise CommandError(f"No experiment named {experiment!r} (nor with that id).")
        try:
            run = services.launch_training(found, send=False)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(f"Run #{run.pk} of {found.name!r}; log at {run.out_dir / 'train.log'}")
        try:
            run = runner.execute_run(run.pk, worker=runner.default_worker_name(), echo=self.stdout.write)
        except KeyboardInterrupt:
            raise CommandError(f"Interrupted: run #{run.pk} is marked failed; resume it from the admin.") from None
        if run.status != TrainingRun.Status.SUCCEEDED:
            raise CommandError(f"Run #{run.pk} {run.status}: {run.error or run.stop_reason}")
        self.stdout.write(self.style.SUCCESS(
            f"Run #{run.pk} succeeded: PrivateTest accuracy {run.private_test_metrics['accuracy']:.4f}, "
            f"checkpoint {run.checkpoint.path}"
        ))
