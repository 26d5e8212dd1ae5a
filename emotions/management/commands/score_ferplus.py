from django.core.management.base import BaseCommand

from emotions.training import services


class Command(BaseCommand):
    help = ("Score succeeded runs against the FER+ raters' majority where their data set has votes and their "
            "weights are at hand (runs recorded before the votes were imported).")

    def handle(self, *args, **options):
        scored = services.score_runs_on_ferplus()
        for run in scored:
            run.refresh_from_db()
            ferplus = run.private_test_metrics.get("ferplus")
            note = f"PrivateTest FER+ accuracy {ferplus['accuracy']:.1%}" if ferplus else "no FER+ majority (class subset)"
            self.stdout.write(f"Scored run #{run.pk} {run.experiment.name!r}: {note}")
        self.stdout.write(f"{len(scored)} run(s) scored on FER+.")
