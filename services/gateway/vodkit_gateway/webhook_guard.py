"""Which webhook URLs the gateway will call: http(s) only, and by default only public addresses.

A webhook URL is the one place a user makes the server open a connection of their choosing, so
without a guard a user could aim it at the cloud's metadata endpoint (169.254.169.254), a database
on the private network or the gateway's own loopback ports. Addresses are checked twice:

- at registration (`AddressGuard.check_url`): the scheme, the host, and every address the name
  resolves to now, so a user hears at once that a URL will never be called;
- at each delivery, on the addresses the connection is actually made to (`AddressGuard.connector`):
  the resolver refuses a name that resolves to a refused address, and the socket factory refuses
  any address before the socket connects, IP literals included (aiohttp does not resolve those). A
  name that resolved to a public address at registration and to a private one since (DNS
  rebinding) is refused then, because the address checked is the address connected to.

`VODKIT_WEBHOOK_ALLOW_PRIVATE=true` turns the address check off (tests, receivers on a private network).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_TIMEOUT_S = 3.0
MAX_URL_LENGTH = 2048


class AddressRefused(OSError):
    """The URL or an address it leads to is not one webhooks may call (an OSError: aiohttp passes it on)."""


def refusal(address: IpAddress) -> str | None:
    """Why `address` is refused (loopback, private, …), or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    for kind in ("unspecified", "loopback", "link_local", "multicast", "reserved", "private"):  # most telling first
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if not address.is_global:  # shared address space (100.64.0.0/10), documentation ranges, …
        return "non-global"
    return None


def parse_url(url: str) -> URL:
    """The URL if it is an absolute http(s) URL with a host and no credentials; AddressRefused otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise AddressRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = URL(url)
        port = parsed.port
    except ValueError:
        raise AddressRefused("the URL is not a valid URL") from None
    if parsed.scheme not in ("http", "https"):
        raise AddressRefused("only http and https URLs are called")
    if not parsed.host or port is None:
        raise AddressRefused("the URL has no host")
    if parsed.user is not None or parsed.password is not None:
        raise AddressRefused("the URL may not carry credentials: the signature authenticates deliveries")
    return parsed


class AddressGuard:
    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    def check_address(self, host: str) -> None:
        """AddressRefused if `host` (an IP address) is one webhooks may not reach."""
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])  # without an IPv6 zone (fe80::1%eth0)
        except ValueError:
            raise AddressRefused("the host is not an IP address") from None
        reason = None if self.allow_private else refusal(address)
        if reason is not None:
            raise AddressRefused(f"the URL leads to a {reason} address, which webhooks may not call")

    async def check_url(self, url: str) -> URL:
        """The parsed URL if it may be called: scheme, host, and every address its name resolves to now."""
        parsed = parse_url(url)
        host = parsed.raw_host or ""
        if _is_ip_literal(host):
            self.check_address(host)
            return parsed
        for address in await _resolve(host, parsed.port or 0):
            self.check_address(address)
        return parsed

    def connector(self, **options: Any) -> aiohttp.TCPConnector:
        """A connector that connects only to addresses this guard allows."""
        return aiohttp.TCPConnector(resolver=_GuardedResolver(self), socket_factory=self._socket, **options)

    def _socket(self, addr_info: Any) -> socket.socket:
        """The last check before connecting, on the address itself (IP literals never reach the resolver)."""
        family, kind, proto, _, sockaddr = addr_info
        self.check_address(str(sockaddr[0]))
        return socket.socket(family=family, type=kind, proto=proto)


class _GuardedResolver(AbstractResolver):
    """The loop's getaddrinfo (in its executor, as aiohttp's default resolver), then the guard."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_S):
                found = await self._inner.resolve(host, port, family)
        except TimeoutError:
            raise AddressRefused("the host name did not resolve in time") from None
        for result in found:
            self._guard.check_address(result["host"])
        return found

    async def close(self) -> None:
        await self._inner.close()


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


async def _resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):
        raise AddressRefused("the URL's host name does not resolve") from None
    return [str(info[4][0]) for info in infos]
