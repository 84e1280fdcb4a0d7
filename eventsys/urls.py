from django.contrib import admin
from django.contrib.auth.views import LoginView
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.forms import LockoutAuthenticationForm
from eventsys.api.root import ApiRootView
from eventsys.landing import LandingView
from eventsys.ops.views import HealthView, ReadyView, metrics

handler404 = "eventsys.landing.not_found"

api_v1 = [
    path("", ApiRootView.as_view(), name="api-root"),
    path("", include("accounts.urls")),
    path("", include("triggers.urls")),
    path("", include("events.urls")),
    path("", include("alerts.urls")),
]

urlpatterns = [
    path("", LandingView.as_view(), name="landing"),
    # The admin's password reset pages (before the admin, whose catch-all would answer them).
    path("", include("accounts.password_urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/health/", HealthView.as_view(), name="health"),
    path("api/ready/", ReadyView.as_view(), name="ready"),
    path("metrics", metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    # The browsable API's login (before DRF's own, which it replaces) counts failures like every login.
    path(
        "api-auth/login/",
        LoginView.as_view(template_name="rest_framework/login.html", authentication_form=LockoutAuthenticationForm),
    ),
    path("api-auth/", include("rest_framework.urls")),
    # The original services' documented endpoints (README: "Migrating from the original services").
    path("", include("accounts.legacy")),
    path("", include("triggers.legacy")),
    path("", include("alerts.legacy")),
    path("", include("events.legacy")),
]
