"""Webhooks go to public addresses and the networks an operator allows, never to iotrack's own
machine, an internal network or a cloud's metadata address, however the URL names them."""

from __future__ import annotations

import ipaddress

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from streams.errors import ConfigError
from streams.http.api import Api, make_app
from streams.http.pool import ReadPool
from streams.http.queries import Queries
from streams.http.subscriptions import subscription_routes
from streams.ops.settings import load
from streams.subscriptions.destinations import DestinationRefused, Destinations, parse_networks
from streams.subscriptions.store import Store
from tests.tokens import credentials_of

GLOBAL = "8.8.8.8"


def resolving(*addresses: str) -> Destinations:
    return Destinations(resolve=lambda host, port: list(addresses))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:5432/", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.8/hook", "private"),
        ("http://192.168.1.1/hook", "private"),
        ("http://0.0.0.0:8080/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://2130706433/", "resolves to an address"),  # 127.0.0.1 as one number
        ("http://[2002:a9fe:a9fe::]/", "link-local"),  # 6to4 carrying 169.254.169.254
        ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 carrying 127.0.0.1
        ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "loopback"),  # Teredo, 127.0.0.1
        ("http://[fec0::1]/", "site-local"),
        ("http://8.8.8.8:0/", "port 0"),
    ],
)
def test_an_address_of_this_machine_or_an_internal_network_is_refused(url: str, why: str) -> None:
    destinations = Destinations(resolve=lambda host, port: ["127.0.0.1"])
    with pytest.raises(DestinationRefused, match=why):
        destinations.pin(url)


def test_a_name_that_resolves_to_an_internal_address_is_refused_by_what_it_resolves_to() -> None:
    with pytest.raises(DestinationRefused) as refused:
        resolving(GLOBAL, "10.1.2.3").pin("https://receiver.example/hook")
    assert "the host receiver.example resolves to an address where webhooks are not" in str(
        refused.value
    )
    assert "10.1.2.3" not in str(refused.value), "what an internal name resolves to is not told"


def test_a_public_destination_is_pinned_to_the_address_checked() -> None:
    pinned = resolving(GLOBAL).pin("https://user:pw@receiver.example:8443/hooks/a?x=1")
    assert pinned.url == f"https://user:pw@{GLOBAL}:8443/hooks/a?x=1"
    assert pinned.host == "receiver.example:8443"
    assert pinned.server_name == "receiver.example"
    literal = Destinations().pin(f"http://{GLOBAL}/hook")
    assert (literal.url, literal.server_name) == (f"http://{GLOBAL}/hook", None)


def test_an_allowed_network_is_sent_to() -> None:
    allowed = Destinations(parse_networks("127.0.0.0/8"))
    assert allowed.pin("http://127.0.0.1:9000/hook").url == "http://127.0.0.1:9000/hook"
    with pytest.raises(DestinationRefused, match="private"):
        allowed.pin("http://10.0.0.1/hook")


def test_a_host_that_does_not_resolve_is_refused_with_its_name() -> None:
    with pytest.raises(DestinationRefused, match=r"'nowhere\.invalid' does not resolve"):
        Destinations().pin("http://nowhere.invalid/hook")


@given(st.ip_addresses())
def test_what_passes_by_default_is_a_global_unicast_address(
    address: ipaddress._BaseAddress,
) -> None:
    mapped = getattr(address, "ipv4_mapped", None) or address
    internal = (mapped.is_loopback, mapped.is_private, mapped.is_link_local, mapped.is_multicast)
    if Destinations().refusal(address) is None:  # type: ignore[arg-type]
        assert mapped.is_global
        assert not any(internal)


def test_the_allowed_networks_are_read_once_and_a_bad_one_is_named() -> None:
    assert load({"IOTRACK_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32"}).webhook_allowed_networks == (
        ipaddress.ip_network("127.0.0.1/32"),
    )
    assert load({}).webhook_allowed_networks == ()
    with pytest.raises(ConfigError, match="IOTRACK_WEBHOOK_ALLOWED_NETWORKS: 'lan'"):
        load({"IOTRACK_WEBHOOK_ALLOWED_NETWORKS": "lan"})


NOWHERE = "postgresql://nobody@127.0.0.1:1/nothing"
TOKEN = "destinations-token-0001"  # noqa: S105 - a test's token


def test_the_api_refuses_a_subscription_to_an_internal_address_naming_the_url() -> None:
    api = Api(credentials_of([f"{TOKEN} customs"]), Queries(NOWHERE), None)
    app = make_app(api, subscription_routes(api, Store(ReadPool(NOWHERE))))
    with TestClient(app) as client:
        answer = client.post(
            "/subscriptions",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"topic": "deviations", "url": "http://169.254.169.254/latest/meta-data/"},
        )
    assert answer.status_code == 400
    assert answer.json()["parameter"] == "url"
    assert "link-local" in answer.json()["message"]
