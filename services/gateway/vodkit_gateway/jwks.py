"""RS256 user tokens from an identity provider, checked against its JSON Web Key Set.

Keys are fetched once and cached. A token signed with a key id the cache lacks (the provider
rotated its keys) refetches the set, but no more often than `min_refetch_s`, so a flood of
tokens with made-up key ids cannot turn into a flood of requests to the provider.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from vodkit_shared.tokens import TokenError


class JsonWebKeys:
    def __init__(
        self,
        url: str,
        client: aiohttp.ClientSession,
        ttl_s: float = 3600,
        min_refetch_s: float = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._client = client
        self._ttl_s = ttl_s
        self._min_refetch_s = min_refetch_s
        self._clock = clock
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> dict[str, Any]:
        """The public key (a JWK) with id `kid`; TokenError if the provider has none such."""
        if kid is None:
            raise TokenError("RS256 token has no 'kid' header")
        if kid not in self._keys or self._stale(self._ttl_s):
            async with self._lock:
                if (kid not in self._keys and self._stale(self._min_refetch_s)) or self._stale(self._ttl_s):
                    await self._fetch()
        try:
            return self._keys[kid]
        except KeyError:
            raise TokenError(f"no key {kid!r} in the identity provider's key set") from None

    def _stale(self, age_s: float) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= age_s

    async def _fetch(self) -> None:
        self._fetched_at = self._clock()
        try:
            async with self._client.get(self._url, timeout=aiohttp.ClientTimeout(total=10)) as response:
                response.raise_for_status()
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            if not self._keys:
                raise TokenError(f"the identity provider's key set cannot be read: {error}") from None
            return  # keep the keys we have; the next refetch may succeed
        keys = document.get("keys") if isinstance(document, dict) else None
        self._keys = {
            k["kid"]: k
            for k in keys or []
            if isinstance(k, dict) and isinstance(k.get("kid"), str) and k.get("kty") == "RSA"
        }
