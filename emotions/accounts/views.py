"""API tokens, made and revoked by their user: /tokens/ lists them and makes one (its secret is shown on
that one page, once), /tokens/<id>/revoke/ ends one. Staff do the same for anyone in the admin."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from emotions.accounts.forms import ApiTokenForm
from emotions.accounts.login_throttle import LOGIN_URL
from emotions.accounts.models import ApiToken


def _get_token_for_user(request, pk) -> ApiToken:
    return get_object_or_404(ApiToken, pk=pk, user=request.user)


@never_cache  # the page that shows a new secret must not be kept anywhere
@login_required(login_url=LOGIN_URL)
def token_list(request):
    form = ApiTokenForm(request.POST if request.method == "POST" else None)
    created = secret = None
    if form.is_valid():
        created, secret = ApiToken.objects.issue(request.user, form.cleaned_data["name"])
        form = ApiTokenForm()
    return render(request, "emotions/tokens.html", {
        "tokens": request.user.api_tokens.all(), "form": form, "created": created, "secret": secret,
    }, status=201 if created else 200)


@require_POST
@login_required(login_url=LOGIN_URL)
def token_revoke(request, pk):
    token = _get_token_for_user(request, pk)
    if token.revoke():
        messages.success(request, f"Revoked {token}: programs using it now get 401.")
    return redirect("emotions:tokens")
