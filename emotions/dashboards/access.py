"""Who may look at the dashboards: logged-in users, or everyone when settings.DASHBOARDS_PUBLIC is on.

Launching, cancelling and deploying stay in the admin, for staff with the permissions for them.
"""
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404

from emotions.accounts.login_throttle import LOGIN_URL
from emotions.training.models import TrainingRun


def dashboard_view(view):
    protected = login_required(view, login_url=LOGIN_URL)

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        # Read per request, not at import, so the setting can be changed without reloading the URLconf.
        if settings.DASHBOARDS_PUBLIC:
            return view(request, *args, **kwargs)
        return protected(request, *args, **kwargs)

    return wrapper


def get_run_or_404(pk: int) -> TrainingRun:
    """A run as its pages need it. Whoever may see the dashboards sees every run: runs belong to the lab,
    not to the user who launched them."""
    return get_object_or_404(TrainingRun.objects.select_related("experiment__dataset", "launched_by"), pk=pk)
