from django.core.management.base import BaseCommand, CommandError

from emotions.training import imports
from emotions.training.models import Dataset


class Command(BaseCommand):
    help = (
        "Record finished training runs from files as succeeded TrainingRuns (epochs, curves, test scores): "
        "a `python -m ml recipes` folder or one recipe in it, a `python -m ml train` folder, or a checkpoint "
        "(an ensemble with each of its members). Without SOURCES: the committed results/ and the shipped model."
    )

    def add_arguments(self, parser):
        parser.add_argument("sources", nargs="*", help="folders or checkpoint files (default: what comes with the code)")
        parser.add_argument("--dataset", help="the dataset's name (default: the only one, or the latest)")

    def handle(self, *args, sources=(), dataset=None, **options):
        chosen = self._dataset(dataset)
        try:
            if sources:
                # Every source is read before anything is recorded: one bad path records nothing.
                finished = [run for source in sources for run in imports.read_source(source)]
                recorded = [imports.record_finished_run(run, chosen) for run in finished]
            else:
                recorded = imports.record_committed_results(chosen)
        except imports.RunImportError as error:
            raise CommandError(str(error)) from None
        for run, created in recorded:
            verb = "Recorded" if created else "Already recorded"
            scores = run.private_test_metrics or {}
            self.stdout.write(
                f"{verb} run #{run.pk} {run.experiment.name!r}: PrivateTest accuracy {scores.get('accuracy', 0):.1%}, "
                f"macro-F1 {scores.get('macro_f1', 0):.3f}{'' if run.checkpoint else ' (no weights: view only)'}"
            )
        if not recorded:
            self.stdout.write("Nothing to record.")

    def _dataset(self, name: str | None) -> Dataset:
        if name:
            found = Dataset.objects.filter(name=name).first()
            if found is None:
                raise CommandError(f"No dataset named {name!r}; `manage.py import_fer2013` imports one.")
            return found
        latest = Dataset.objects.order_by("-created_at", "-pk").first()
        if latest is None:
            raise CommandError("No dataset yet: runs are recorded on one. Run `manage.py import_fer2013` first.")
        return latest
