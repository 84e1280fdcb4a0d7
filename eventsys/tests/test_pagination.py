import pytest
from django.utils import timezone

from accounts.services import api_token_create
from events.models import IngestedEvent

pytestmark = pytest.mark.django_db


def test_the_page_size_cap_is_the_current_setting_for_numbered_and_cursor_pages(client_alice, alice, settings):
    for i in range(5):
        api_token_create(user=alice, name=f"t{i}")
        IngestedEvent.objects.create(
            owner=alice, event_type="t", event_payload=i, body_hash="0" * 64, received_at=timezone.now()
        )
    for cap in (3, 4):  # read per request: a changed setting applies at once
        settings.API_MAX_PAGE_SIZE = cap
        for path in ("/api/v1/api-tokens/", "/api/v1/ingested-events/"):
            response = client_alice.get(f"{path}?page_size=50")
            assert response.status_code == 200
            assert len(response.data["results"]) == cap, path
