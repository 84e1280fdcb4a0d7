"""The admin's "Forgotten your password?" pages: Django's own views, under the same rules as the API.

Include this module before `admin/` in eventsys/urls.py (the admin's catch-all would answer these
paths); the admin's login page links to `admin_password_reset` as soon as it is routed. The request
goes through `user_password_reset_request`, so the admin and the API send the same e-mail, share
one throttle budget per client and survive a mail server that is down; the reset page sets the
password through `user_password_set`, which revokes every refresh token of the user. The page at
`reset/<uidb64>/<token>/` also serves the link in the API's reset e-mail.
"""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm, SetPasswordForm
from django.http import HttpResponse
from django.urls import path

from accounts import services
from eventsys.api.throttling import ScopedRateThrottle


class ResetRequestForm(PasswordResetForm):
    def save(self, *, request=None, **options):
        services.user_password_reset_request(email=self.cleaned_data["email"], request=request)


class ResetSetPasswordForm(SetPasswordForm):
    def save(self, commit=True):
        services.user_password_set(user=self.user, password=self.cleaned_data["new_password1"])
        return self.user


class AdminPageMixin:
    """The admin's header and title on Django's registration pages (the admin's templates extend its base)."""

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "site_header": admin.site.site_header,
            "site_title": admin.site.site_title,
        }


class AdminPasswordResetView(AdminPageMixin, auth_views.PasswordResetView):
    form_class = ResetRequestForm
    throttle_scope = "password_reset"  # the same counter as POST /api/v1/auth/password-reset/

    def post(self, request, *args, **kwargs):
        throttle = ScopedRateThrottle()
        if not throttle.allow_request(request, self):
            response = HttpResponse("Too many password reset requests; try again later.\n", status=429)
            response["Content-Type"] = "text/plain; charset=utf-8"
            response["Retry-After"] = str(int(throttle.wait()))
            return response
        return super().post(request, *args, **kwargs)


class AdminPasswordResetDoneView(AdminPageMixin, auth_views.PasswordResetDoneView):
    pass


class AdminPasswordResetConfirmView(AdminPageMixin, auth_views.PasswordResetConfirmView):
    form_class = ResetSetPasswordForm


class AdminPasswordResetCompleteView(AdminPageMixin, auth_views.PasswordResetCompleteView):
    pass


admin_password_reset_urls = [
    path("admin/password_reset/", AdminPasswordResetView.as_view(), name="admin_password_reset"),
    path("admin/password_reset/done/", AdminPasswordResetDoneView.as_view(), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", AdminPasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset/done/", AdminPasswordResetCompleteView.as_view(), name="password_reset_complete"),
]
urlpatterns = admin_password_reset_urls
