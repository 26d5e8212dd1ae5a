from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from emotions.training import services


class Command(BaseCommand):
    help = "Import FER2013 (CSV, image folder or zip) as a Dataset, through ml.data."

    def add_arguments(self, parser):
        parser.add_argument("source", nargs="?", help="fer2013.csv, a folder or a zip (default: $FER2013_ZIP)")
        parser.add_argument("--name", help="the dataset's name (default: the source's file name)")
        parser.add_argument("--ferplus", metavar="VOTES_CSV",
                            help="FER+ raters' votes kept beside each face's label, matched by archive member path "
                                 "(default with no SOURCE: $FERPLUS_VOTES)")
        parser.add_argument("--no-results", action="store_true",
                            help="do not record the committed recipe results and the shipped model as runs")

    def handle(self, *args, source=None, name=None, ferplus=None, no_results=False, **options):
        from ml.data import DataImportError, format_counts

        if source is None:
            ferplus = ferplus or settings.FERPLUS_VOTES
        source = source or settings.FER2013_ZIP
        if not source:
            raise CommandError("Give a SOURCE (fer2013.csv, a folder or a zip) or set FER2013_ZIP.")
        if not Path(source).exists():
            raise CommandError(f"{source}: no such file or folder.")
        self.stdout.write(f"Importing {source} ...")
        try:
            dataset = services.import_dataset(source, name=name, ferplus=ferplus)
        except DataImportError as error:
            raise CommandError(f"Import failed: {error}") from None
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(format_counts(dataset.load_store()))
        if "ferplus" in dataset.report:
            votes = dataset.report["ferplus"]
            self.stdout.write(f"FER+ votes for {votes['faces_with_votes']:,} faces; {votes['faces_without_votes']:,} without "
                              "keep their FER2013 label only.")
        self.stdout.write(self.style.SUCCESS(f"Imported dataset {dataset.name!r} (id {dataset.pk}): {dataset.num_images():,} images."))
        if not no_results:
            # The leaderboard starts with what was measured before: the recipes table and the shipped model.
            call_command("import_runs", "--dataset", dataset.name, stdout=self.stdout._out, stderr=self.stderr._out)
