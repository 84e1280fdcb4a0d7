"""Fixed-window throttles: a counter per client and window, Retry-After until the window ends."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.urls import path
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from eventsys.api.throttling import ScopedRateThrottle, UserRateThrottle


class Limited(APIView):
    permission_classes = []
    throttle_classes = [UserRateThrottle, ScopedRateThrottle]
    throttle_scope = "limited"

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("limited", Limited.as_view())]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]
WINDOW_START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def rates(monkeypatch):
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {"user": "1000/min", "anon": "1000/min", "limited": "3/min"}
    )


def test_a_window_allows_the_rate_then_answers_429_until_it_ends(api_client, alice, rates):
    api_client.force_authenticate(alice)
    with time_machine.travel(WINDOW_START + timedelta(seconds=20), tick=False) as clock:
        assert [api_client.get("/limited").status_code for _ in range(3)] == [200, 200, 200]
        refused = api_client.get("/limited")
        assert refused.status_code == 429 and refused["Retry-After"] == "40"
        clock.move_to(WINDOW_START + timedelta(seconds=60))
        assert api_client.get("/limited").status_code == 200


def test_each_client_counts_on_its_own_with_one_integer_per_window(api_client, alice, bob, rates):
    window = int(WINDOW_START.timestamp() // 60)
    with time_machine.travel(WINDOW_START, tick=False):
        for user, requests in ((alice, 3), (bob, 2)):
            api_client.force_authenticate(user)
            assert [api_client.get("/limited").status_code for _ in range(requests)] == [200] * requests
        # plain counts per window, not the request histories DRF keeps
        assert cache.get(f"throttle_limited_{alice.pk}:{window}") == 3
        assert cache.get(f"throttle_limited_{bob.pk}:{window}") == 2
        assert cache.get(f"throttle_user_{bob.pk}:{window}") == 2


def test_a_forged_x_forwarded_for_does_not_make_a_new_client(api_client, rates, settings):
    settings.TRUSTED_PROXIES = []
    with time_machine.travel(WINDOW_START, tick=False):
        statuses = [api_client.get("/limited", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code for i in range(5)]
    assert statuses == [200, 200, 200, 429, 429]


def test_behind_a_trusted_proxy_each_forwarded_client_counts_on_its_own(rates, settings):
    from rest_framework.test import APIClient

    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    proxy = APIClient(REMOTE_ADDR="10.0.0.5")
    with time_machine.travel(WINDOW_START, tick=False):
        first = [proxy.get("/limited", HTTP_X_FORWARDED_FOR=f"6.6.6.{i}, 203.0.113.7").status_code for i in range(4)]
        second = proxy.get("/limited", HTTP_X_FORWARDED_FOR="203.0.113.8").status_code
    # the forged left-hand entries changed every time; the address the proxy saw did not
    assert first == [200, 200, 200, 429]
    assert second == 200


def test_the_cache_key_is_the_client_address(api_client, rates):
    window = int(WINDOW_START.timestamp() // 60)
    with time_machine.travel(WINDOW_START, tick=False):
        api_client.get("/limited", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="198.51.100.1")
        assert cache.get(f"throttle_limited_192.0.2.1:{window}") == 1
