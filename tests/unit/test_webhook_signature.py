"""The `Vodkit-Signature` header: HMAC-SHA256 of "<t>.<body>", as a receiver recomputes it."""

from __future__ import annotations

import pytest

from vodkit_gateway.webhook_delivery import signature

pytestmark = pytest.mark.unit
BODY = b'{"id":"e1"}'
# computed apart from the code under test: printf '%s' '1700000000.{"id":"e1"}' | openssl dgst -sha256 -hmac whsec_test
EXPECTED = "6a85cb117c993612a34c72b4cfb5a16baed25a80d26e298ce0e6671320fd07c8"


def test_the_signature_is_the_hmac_of_the_timestamp_a_dot_and_the_raw_body() -> None:
    assert signature("whsec_test", 1700000000, BODY) == f"t=1700000000,v1={EXPECTED}"


@pytest.mark.parametrize(
    ("secret", "timestamp", "body"),
    [("whsec_other", 1700000000, BODY), ("whsec_test", 1700000001, BODY), ("whsec_test", 1700000000, b'{"id":"e2"}')],
)
def test_another_secret_time_or_body_signs_differently(secret: str, timestamp: int, body: bytes) -> None:
    header = signature(secret, timestamp, body)
    assert header.startswith(f"t={timestamp},v1=")
    assert header.split("v1=", 1)[1] != EXPECTED
