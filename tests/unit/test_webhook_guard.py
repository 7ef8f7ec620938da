"""Which addresses webhooks may reach: checked at registration and again on the address connected to."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from vodkit_gateway.webhook_delivery import WebhookSender
from vodkit_gateway.webhook_guard import AddressGuard, AddressRefused, parse_url, refusal
from vodkit_shared.service import start_site

pytestmark = pytest.mark.unit

REFUSED = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "::1": "loopback",
    "::ffff:127.0.0.1": "loopback",  # an IPv4-mapped IPv6 address is its IPv4 address
    "169.254.169.254": "link-local",  # the cloud metadata endpoint
    "fe80::1": "link-local",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "fd00::1": "private",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "240.0.0.1": "reserved",
    "100.64.0.1": "non-global",  # carrier-grade NAT space
}


@pytest.mark.parametrize(("address", "kind"), REFUSED.items())
def test_loopback_link_local_private_multicast_unspecified_and_reserved_are_refused(address: str, kind: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == kind
    with pytest.raises(AddressRefused, match=kind):
        AddressGuard(allow_private=False).check_address(address)
    AddressGuard(allow_private=True).check_address(address)  # the tests' and private networks' setting


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None
    AddressGuard(allow_private=False).check_address(address)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/hook", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("http:///path-only", "no host"),
        ("http://user:pass@example.com/", "credentials"),
        ("http://example.com:99999/", "not a valid URL"),
        ("http://" + "a" * 2050 + ".com/", "longer than"),
    ],
)
def test_only_absolute_http_urls_without_credentials_are_taken(url: str, why: str) -> None:
    with pytest.raises(AddressRefused, match=why):
        parse_url(url)


async def test_registration_checks_every_address_the_name_resolves_to() -> None:
    guard = AddressGuard(allow_private=False)
    with pytest.raises(AddressRefused, match="loopback"):
        await guard.check_url("http://localhost:8080/hook")  # /etc/hosts, no DNS needed
    with pytest.raises(AddressRefused, match="loopback"):
        await guard.check_url("http://[::ffff:127.0.0.1]/hook")
    with pytest.raises(AddressRefused, match="does not resolve"):
        await guard.check_url("http://no-such-host.invalid/hook")
    assert (await guard.check_url("https://93.184.216.34/hook")).host == "93.184.216.34"
    assert (await AddressGuard(allow_private=True).check_url("http://localhost:1/")).host == "localhost"


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[int, list[str]]]:
    hits: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner, port = await start_site(app, "127.0.0.1", 0)
    yield port, hits
    await runner.cleanup()


async def _send(guard: AddressGuard, url: str) -> Any:
    async with WebhookSender.session(guard, 2, 5) as http:
        return await WebhookSender(http).send(url, "whsec_x", "event-1", b"{}")


async def test_a_delivery_never_connects_to_a_refused_address(receiver: tuple[int, list[str]]) -> None:
    port, hits = receiver
    refused = AddressGuard(allow_private=False)
    for url in (f"http://127.0.0.1:{port}/hook", f"http://localhost:{port}/hook"):  # a literal, then a name
        attempt = await _send(refused, url)
        assert (attempt.status, attempt.delivered) == (None, False)
        assert "loopback address" in attempt.error
    assert hits == []
    attempt = await _send(AddressGuard(allow_private=True), f"http://localhost:{port}/hook")
    assert (attempt.status, attempt.excerpt, hits) == (200, "ok", ["/hook"])


async def test_a_name_that_rebinds_to_a_private_address_after_registration_is_refused_at_delivery(
    receiver: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, hits = receiver
    answers = iter(["93.184.216.34", "127.0.0.1"])  # public when registered, loopback when delivered

    async def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        address = next(answers)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    guard = AddressGuard(allow_private=False)
    await guard.check_url(f"http://rebinding.example:{port}/hook")
    attempt = await _send(guard, f"http://rebinding.example:{port}/hook")
    assert attempt.status is None
    assert "loopback address" in attempt.error
    assert hits == []
