"""The client's address: REMOTE_ADDR, unless a trusted proxy forwarded the request."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from eventsys.client_address import client_address
from eventsys.environment import env_networks

PROXY = "10.0.0.5"


def address_of(remote_addr, forwarded_for=None):
    meta = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client_address(RequestFactory().get("/", **meta))


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []
    assert address_of("203.0.113.7", "198.51.100.1") == "203.0.113.7"
    assert address_of(PROXY, "198.51.100.1") == PROXY


def test_a_client_that_is_not_a_trusted_proxy_cannot_name_another_address(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert address_of("203.0.113.7", "198.51.100.1") == "203.0.113.7"


@pytest.mark.parametrize(
    ("forwarded_for", "client"),
    [
        ("198.51.100.1", "198.51.100.1"),
        # entries left of the one the proxy appended were written by the client: never believed
        ("6.6.6.6, 198.51.100.1", "198.51.100.1"),
        ("6.6.6.6,198.51.100.1, 10.0.0.9", "198.51.100.1"),  # two trusted proxies in a row
        ("198.51.100.1:51234", "198.51.100.1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:198.51.100.1", "198.51.100.1"),
        ("", PROXY),  # a trusted proxy that forwarded nothing is the client
        ("10.0.0.7, 10.0.0.9", "10.0.0.7"),  # every hop trusted: the furthest one
        ("198.51.100.1, unknown", PROXY),  # garbage from a proxy: nothing left of it is believed
    ],
)
def test_behind_a_trusted_proxy_the_header_is_read_from_the_right(settings, forwarded_for, client):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert address_of(PROXY, forwarded_for) == client


def test_ipv6_proxies_and_canonical_addresses(settings):
    settings.TRUSTED_PROXIES = ["::1", "fd00::/8"]
    assert address_of("::1", "2001:DB8:0:0::1, fd00::2") == "2001:db8::1"
    assert address_of("2001:db8::2", "198.51.100.1") == "2001:db8::2"


def test_trusted_proxies_setting_is_checked_at_start(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, ::1,192.0.2.4")
    assert env_networks("TRUSTED_PROXIES", []) == ["10.0.0.0/8", "::1", "192.0.2.4"]
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8,nginx")
    with pytest.raises(ImproperlyConfigured, match=r"TRUSTED_PROXIES.*'nginx'"):
        env_networks("TRUSTED_PROXIES", [])
