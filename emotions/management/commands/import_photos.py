from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from emotions.photo_sets import imports


class Command(BaseCommand):
    help = ("Import a labelled photo folder (class sub-folders, or labels.csv with path,label) as a Dataset: every "
            "photo's faces cut as uploads' are, split into train, PublicTest (validation) and PrivateTest (test).")

    def add_arguments(self, parser):
        parser.add_argument("name", help="the dataset's name")
        parser.add_argument("folder", help="the photo folder")
        parser.add_argument("--group-column", help="a labels.csv column naming whose face each photo is: "
                                                   "one person never lands in two splits")
        parser.add_argument("--test-groups", help="comma-separated values of the group column held out as the test")
        parser.add_argument("--test-share", type=float, default=0.2, help="share held out for the test (default 0.2)")
        parser.add_argument("--val-share", type=float, default=0.1,
                            help="share of the rest for validation (default 0.1)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--evaluation-set", action="store_true",
                            help="mark it an evaluation set: every succeeded run is scored on its test split")

    def handle(self, *args, name, folder, group_column=None, test_groups=None, test_share=0.2, val_share=0.1,
               seed=0, evaluation_set=False, **options):
        from ml.data import DataImportError

        if not Path(folder).is_dir():
            raise CommandError(f"{folder}: no such folder.")
        self.stdout.write(f"Importing {folder} (finding the faces in every photo) ...")
        try:
            dataset = imports.import_photo_dataset(
                folder, name, group_column=group_column,
                test_groups=[group.strip() for group in (test_groups or "").split(",") if group.strip()],
                test_share=test_share, val_share=val_share, seed=seed, is_evaluation_set=evaluation_set,
            )
        except DataImportError as error:
            raise CommandError(f"Import failed: {error}") from None
        except (ValidationError, ValueError) as error:
            raise CommandError(" ".join(getattr(error, "messages", [str(error)]))) from None
        report = dataset.report
        counts = report["counts"]
        self.stdout.write(f"{report['photos']:,} photos: {report['rows']:,} faces imported (train {counts['train']:,}, "
                          f"PublicTest {counts['public_test']:,}, PrivateTest {counts['private_test']:,}); "
                          f"no face in {report['no_face']:,}, several faces in {report['several_faces']:,} "
                          f"(the largest kept), {len(report['unreadable']):,} unreadable.")
        for row in report["unreadable"]:
            where = f"{row['path']} (labels.csv row {row['row']})" if row.get("row") else row["path"]
            self.stdout.write(f"  unreadable: {where}: {row['reason']}")
        self.stdout.write(self.style.SUCCESS(f"Imported dataset {dataset.name!r} (id {dataset.pk}): "
                                             f"{dataset.num_images():,} faces."))
