from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts import services
from accounts.forms import LockoutAdminAuthenticationForm
from accounts.models import ApiToken, LoginLockout, User
from eventsys.admin_time import time_column

# The admin's login counts failures and locks like every other login path.
admin.site.login_form = LockoutAdminAuthenticationForm


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    # Columns sized for a 1366-px screen beside the filters (eventsys/tests/test_browser_admin_width.py).
    list_display = [
        "username",
        "email",
        "staff",
        "is_active",
        time_column("date_joined", "joined"),
        time_column("last_login", "last login"),
    ]

    @admin.display(description="staff", boolean=True, ordering="is_staff")
    def staff(self, user) -> bool:
        return user.is_staff


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "user",
        "prefix",
        time_column("created_at", "created"),
        time_column("last_used_at", "last used"),
        time_column("revoked_at", "revoked"),
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    readonly_fields = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    exclude = ["token_hash"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        # The plaintext must reach its owner once; tokens are created through the API.
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            services.api_token_revoke(token=token)


@admin.register(LoginLockout)
class LoginLockoutAdmin(admin.ModelAdmin):
    list_display = [
        "username",
        "address",
        "failures",
        time_column("last_failure_at", "last failure"),
        time_column("locked_until", "locked until"),
    ]
    list_filter = [("address", admin.EmptyFieldListFilter)]
    search_fields = ["username", "address"]
