"""Staff-only: API tokens (make for a user, revoke) and failed logins."""
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from emotions.accounts.login_throttle import AdminLoginForm
from emotions.accounts.models import ApiToken, LoginFailure

# Failed logins from one address are throttled on the admin's login page too (emotions.accounts.login_throttle).
admin.site.login_form = AdminLoginForm


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Staff make a token for a user (its secret shown once, on the page after saving) and revoke any."""

    list_display = ["name", "user", "shown_start", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "user__username", "shown"]
    actions = ["revoke_tokens"]

    def get_fields(self, request, obj=None):
        return ["user", "name"] if obj is None else ["user", "name", "shown_start", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["user", "shown_start", "created_at", "last_used_at", "revoked_at"]

    @admin.display(description="token")
    def shown_start(self, token: ApiToken) -> str:
        return f"{token.shown}..."

    def save_model(self, request, obj, form, change):
        if not change:
            request._new_api_token_secret = obj.set_secret()
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        """The secret on the page after saving, once, rather than in a message kept in a cookie."""
        return TemplateResponse(request, "admin/emotions/apitoken/created.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "token": obj,
            "secret": request._new_api_token_secret, "title": f"API token for {obj.user}",
        }, status=201)

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_tokens(self, request, queryset):
        revoked = sum(token.revoke() for token in queryset)
        self.message_user(request, f"Revoked {revoked} token{'s' if revoked != 1 else ''}.", messages.SUCCESS)


@admin.register(LoginFailure)
class LoginFailureAdmin(admin.ModelAdmin):
    list_display = ["address", "username", "at"]
    search_fields = ["address", "username"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
