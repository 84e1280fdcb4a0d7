import pytest
from django.core.cache import cache
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Hashing with the production hasher costs ~0.3 s a password; tests only need it to be a hash.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """Throttle counters live in the cache; no test may inherit another's."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def make_user(django_user_model):
    def make(username: str, password: str = "a-Strong-passw0rd", **fields):
        return django_user_model.objects.create_user(username=username, password=password, **fields)

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice", email="alice@example.com")


@pytest.fixture
def bob(make_user):
    return make_user("bob", email="bob@example.com")
