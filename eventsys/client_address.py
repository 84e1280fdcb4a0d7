"""The address of the client that sent a request: the one place that reads it.

It is `REMOTE_ADDR` (the peer of the TCP connection), unless that peer is a proxy named in
`TRUSTED_PROXIES`: then `X-Forwarded-For` is read from the right (the entries the trusted proxies
appended), skipping trusted proxies, and the first address that is not one is the client. Entries to
its left were written by the client and are never believed, so a forged header cannot pick the
client's identity (throttles, login lockouts). With `TRUSTED_PROXIES` empty (the default) the header
is ignored altogether.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(values: list[str] | tuple[str, ...]) -> tuple[Network, ...]:
    """Addresses or CIDR blocks (`10.0.0.0/8`, `::1`); raises ValueError naming a malformed one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or CIDR block") from None
    return tuple(networks)


@lru_cache(maxsize=8)
def _trusted(values: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_networks(values)


def _address(text: str) -> Address | None:
    """An address from REMOTE_ADDR or one X-Forwarded-For entry (a port or brackets allowed)."""
    text = text.strip()
    if text.startswith("["):  # [2001:db8::1]:443
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # 203.0.113.7:443
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped  # ::ffff:203.0.113.7 is 203.0.113.7
    return address


def _is_trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def client_address(request) -> str:
    """The client's address for `request` (Django's or DRF's), as text; "" when the server gave none."""
    meta = request.META
    remote_text = meta.get("REMOTE_ADDR") or ""
    networks = _trusted(tuple(settings.TRUSTED_PROXIES))
    remote = _address(remote_text)
    if remote is None or not networks or not _is_trusted(remote, networks):
        return str(remote) if remote is not None else remote_text
    client = remote
    hops = [hop for hop in (meta.get("HTTP_X_FORWARDED_FOR") or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            # A trusted proxy forwarded something that is not an address: believe nothing further
            # left, and count the request against the last proxy that was trusted.
            break
        client = address
        if not _is_trusted(address, networks):
            break
    return str(client)
