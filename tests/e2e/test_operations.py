"""What operators rely on: health, readiness and Prometheus metrics on every service."""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client
from tests.support import eventually

pytestmark = pytest.mark.e2e


async def test_every_service_answers_health_readiness_and_metrics(distributed: Deployment) -> None:
    async with aiohttp.ClientSession() as http:
        for service, port in distributed.ports.items():
            base = f"http://127.0.0.1:{port}"
            async with http.get(base + "/healthz") as response:
                assert response.status == 200
                assert await response.json() == {"status": "ok", "service": service}
            async with http.get(base + "/readyz") as response:
                assert response.status == 200
            async with http.get(base + "/metrics") as response:
                assert response.status == 200
                assert response.content_type == "text/plain"
                assert "vodkit_http_requests_total" in await response.text()


async def test_consumers_count_the_events_they_settle(distributed: Deployment) -> None:
    client = Client(distributed.base_url, distributed.token("alice"))
    created = await client.create("a.mp4", 10)
    await client.send_chunk(created["uploadToken"], created["videoId"], 0, 2, b"first half")
    wanted = {"service": "gateway", "type": "chunk.received", "outcome": "ack"}

    async def counted() -> bool:
        async with aiohttp.ClientSession() as http, http.get(f"{distributed.base_url}/metrics") as response:
            families = text_string_to_metric_families(await response.text())
        return any(
            sample.name == "vodkit_events_settled_total" and sample.labels == wanted and sample.value >= 1
            for family in families
            for sample in family.samples
        )

    await eventually(counted)
