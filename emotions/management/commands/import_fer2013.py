from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from emotions.training import services


class Command(BaseCommand):
    help = "Import FER2013 (CSV, image folder or zip) as a Dataset, through ml.data."

    def add_arguments(self, parser):
        parser.add_argument("source", nargs="?", help="fer2013.csv, a folder or a zip (default: $FER2013_ZIP)")
        parser.add_argument("--name", help="the dataset's name (default: the source's file name)")

    def handle(self, *args, source=None, name=None, **options):
        from ml.data import DataImportError, format_counts

        source = source or settings.FER2013_ZIP
        if not source:
            raise CommandError("Give a SOURCE (fer2013.csv, a folder or a zip) or set FER2013_ZIP.")
        if not Path(source).exists():
            raise CommandError(f"{source}: no such file or folder.")
        self.stdout.write(f"Importing {source} ...")
        try:
            dataset = services.import_dataset(source, name=name)
        except DataImportError as error:
            raise CommandError(f"Import failed: {error}") from None
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(format_counts(dataset.load_store()))
        self.stdout.write(self.style.SUCCESS(f"Imported dataset {dataset.name!r} (id {dataset.pk}): {dataset.num_images():,} images."))
