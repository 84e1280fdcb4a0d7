"""Session login forms that apply the same lockout rule as the API (accounts.services.user_authenticate)."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.views.decorators.debug import sensitive_variables

from accounts import services


class LockoutAuthenticationForm(AuthenticationForm):
    """Django's login form; failures count and lock like /api/v1/auth/token/ (per username and address)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "locked_out": "Too many failed logins; try again in %(minutes)d minute(s).",
    }

    @sensitive_variables()
    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = services.user_authenticate(username=username, password=password, request=self.request)
            except services.LoginLockedOut as exc:
                raise ValidationError(
                    self.error_messages["locked_out"],
                    code="locked_out",
                    # retry_after rounds the seconds left up by one; minutes round up
                    params={"minutes": max(1, -(-(exc.retry_after - 1) // 60))},
                ) from None
            except services.InvalidCredentials:
                raise self.get_invalid_login_error() from None
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class LockoutAdminAuthenticationForm(LockoutAuthenticationForm, AdminAuthenticationForm):
    """The admin's login form (staff only), under the same lockout rule."""

    error_messages = {**LockoutAuthenticationForm.error_messages, **AdminAuthenticationForm.error_messages}
