"""Which address a request comes from: the socket peer, or behind trusted proxies the client they name."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest
from iko_gateway.client_address import TrustedProxies, client_address, limit_key, parse_address
from iko_gateway.settings import GatewaySettings
from pydantic import ValidationError

INGRESS = TrustedProxies([ip_network("10.0.0.0/24"), ip_network("fd00::/64")])


def test_an_untrusted_peer_is_the_client_whatever_x_forwarded_for_says() -> None:
    assert client_address("198.51.100.7", ["203.0.113.1"], INGRESS) == ip_address("198.51.100.7")
    assert client_address("198.51.100.7", ["10.0.0.1"], INGRESS) == ip_address("198.51.100.7")
    assert client_address("198.51.100.7", [], TrustedProxies()) == ip_address("198.51.100.7")


def test_behind_a_trusted_proxy_the_client_is_the_right_most_untrusted_hop() -> None:
    # The client wrote "1.1.1.1" itself; the ingress appended the address it really came from.
    assert client_address("10.0.0.5", ["1.1.1.1, 203.0.113.9"], INGRESS) == ip_address("203.0.113.9")
    # Two of our proxies in a row: both are skipped.
    assert client_address("10.0.0.5", ["1.1.1.1, 203.0.113.9, 10.0.0.6"], INGRESS) == ip_address("203.0.113.9")
    # Several headers read as one list, in order.
    assert client_address("10.0.0.5", ["1.1.1.1", "203.0.113.9"], INGRESS) == ip_address("203.0.113.9")
    # With ports, as some proxies write them.
    assert client_address("10.0.0.5", ["203.0.113.9:51234"], INGRESS) == ip_address("203.0.113.9")


def test_a_trusted_proxy_never_becomes_the_limited_address_while_it_names_a_client() -> None:
    for forwarded in (["203.0.113.9"], ["203.0.113.10, 10.0.0.6"]):
        found = client_address("10.0.0.5", forwarded, INGRESS)
        assert found is not None
        assert found not in INGRESS


def test_garbage_in_x_forwarded_for_gives_the_peer() -> None:
    for forwarded in (["not-an-ip"], ["203.0.113.9, garbage"], ["[::1"], ["1.2.3.4.5"], ["203.0.113.9, 999.1.1.1"]):
        assert client_address("10.0.0.5", forwarded, INGRESS) == ip_address("10.0.0.5"), forwarded
    # Left of the right-most untrusted hop nothing is read, so garbage there does not matter.
    assert client_address("10.0.0.5", ["garbage, 203.0.113.9"], INGRESS) == ip_address("203.0.113.9")


def test_a_trusted_peer_without_x_forwarded_for_or_with_only_trusted_hops() -> None:
    assert client_address("10.0.0.5", [], INGRESS) == ip_address("10.0.0.5")
    assert client_address("10.0.0.5", [" , "], INGRESS) == ip_address("10.0.0.5")
    # Begun inside our own network: the left-most hop, the one furthest from us.
    assert client_address("10.0.0.5", ["10.0.0.9, 10.0.0.6"], INGRESS) == ip_address("10.0.0.9")


def test_ipv6() -> None:
    assert client_address("2001:db8::7", ["203.0.113.1"], INGRESS) == ip_address("2001:db8::7")
    assert client_address("fd00::5", ["2001:db8::1, fd00::6"], INGRESS) == ip_address("2001:db8::1")
    assert client_address("fd00::5", ["[2001:db8::1]:443"], INGRESS) == ip_address("2001:db8::1")
    assert client_address("fd00::5", ["10.0.0.6, 2001:DB8:0::2"], INGRESS) == ip_address("2001:db8::2")
    # An IPv4 peer seen through an IPv6 socket is the IPv4 address (and can be a trusted IPv4 proxy).
    assert client_address("::ffff:10.0.0.5", ["203.0.113.9"], INGRESS) == ip_address("203.0.113.9")


def test_an_unknown_peer_gives_no_address() -> None:
    assert client_address(None, ["203.0.113.9"], INGRESS) is None
    assert client_address("not-an-ip", [], INGRESS) is None


def test_parse_address() -> None:
    assert parse_address(" 192.0.2.1 ") == ip_address("192.0.2.1")
    assert parse_address("192.0.2.1:80") == ip_address("192.0.2.1")
    assert parse_address("[2001:db8::1]") == ip_address("2001:db8::1")
    assert parse_address("unknown") is None
    assert parse_address("") is None


def test_limit_key_counts_ipv6_per_64() -> None:
    assert limit_key(ip_address("192.0.2.1")) == "192.0.2.1"
    assert limit_key(ip_address("2001:db8:1:2:aaaa::1")) == "2001:db8:1:2::/64"
    assert limit_key(ip_address("2001:db8:1:2:bbbb::9")) == limit_key(ip_address("2001:db8:1:2::1"))
    assert limit_key(ip_address("2001:db8:1:3::1")) != limit_key(ip_address("2001:db8:1:2::1"))


def test_settings_defaults_and_trusted_proxies_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TRUSTED_PROXIES", "MAX_IN_FLIGHT_PER_CALLER", "AUTH_FAILURES_PER_MINUTE"):
        monkeypatch.delenv(f"IKO_GATEWAY_{name}", raising=False)
    defaults = GatewaySettings()
    assert defaults.gateway_max_in_flight_per_caller == 16
    assert defaults.gateway_auth_failures_per_minute == 30
    assert defaults.gateway_trusted_proxies == []
    monkeypatch.setenv("IKO_GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,fd00::/8")
    monkeypatch.setenv("IKO_GATEWAY_MAX_IN_FLIGHT_PER_CALLER", "0")
    monkeypatch.setenv("IKO_GATEWAY_AUTH_FAILURES_PER_MINUTE", "0")
    settings = GatewaySettings()
    assert settings.gateway_trusted_proxies == [
        ip_network("10.0.0.0/8"),
        ip_network("192.0.2.7/32"),
        ip_network("fd00::/8"),
    ]
    assert (settings.gateway_max_in_flight_per_caller, settings.gateway_auth_failures_per_minute) == (0, 0)
    monkeypatch.setenv("IKO_GATEWAY_TRUSTED_PROXIES", '["10.1.2.3"]')
    assert GatewaySettings().gateway_trusted_proxies == [ip_network("10.1.2.3/32")]
    for bad in ("proxy.internal", "10.0.0.1/8"):
        monkeypatch.setenv("IKO_GATEWAY_TRUSTED_PROXIES", bad)
        with pytest.raises(ValidationError):
            GatewaySettings()
    monkeypatch.setenv("IKO_GATEWAY_TRUSTED_PROXIES", "")
    monkeypatch.setenv("IKO_GATEWAY_MAX_IN_FLIGHT_PER_CALLER", "-1")
    with pytest.raises(ValidationError):
        GatewaySettings()
