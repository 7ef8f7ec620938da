"""Retries of a webhook delivery: doubling waits, capped, within a retry window, then failed for good."""

from __future__ import annotations

import pytest

from vodkit_gateway.webhook_delivery import Attempt, RetrySchedule, after_attempt
from vodkit_gateway.webhooks import DeliveryRecord

pytestmark = pytest.mark.unit
SCHEDULE = RetrySchedule(base_delay_s=10, max_delay_s=3600, retry_for_s=24 * 3600)


def _delivery(**changes: object) -> DeliveryRecord:
    fields: dict[str, object] = dict(
        delivery_id="d",
        webhook_id="w",
        owner="alice",
        event_id="e",
        event_type="package.done",
        video_id="v",
        body="{}",
        state="sending",
        worker="me",
        lease_until=2000.0,
        retry_from=1000.0,
        next_attempt_at=1000.0,
        created_at=1000.0,
        updated_at=1000.0,
    )
    return DeliveryRecord.model_validate({**fields, **changes})


def test_the_wait_doubles_from_the_base_and_stops_growing_at_the_cap() -> None:
    assert [SCHEDULE.delay_after(n) for n in range(1, 6)] == [10, 20, 40, 80, 160]
    assert SCHEDULE.delay_after(9) == 2560
    assert SCHEDULE.delay_after(10) == 3600  # 5120 capped
    assert SCHEDULE.delay_after(10_000) == 3600  # no overflow however long it has failed


def test_retries_stop_once_the_next_attempt_would_fall_past_the_window() -> None:
    window_ends = 1000.0 + 24 * 3600
    assert SCHEDULE.next_attempt_at(1, 1000.0, 1000.0) == 1010.0
    assert SCHEDULE.next_attempt_at(20, 1000.0, window_ends - 3600) == window_ends  # the last one fits exactly
    assert SCHEDULE.next_attempt_at(20, 1000.0, window_ends - 3599) is None


def test_a_day_of_failures_makes_about_thirty_attempts() -> None:
    now, attempts, retry_from = 1000.0, 0, 1000.0
    while True:
        attempts += 1
        next_at = SCHEDULE.next_attempt_at(attempts, retry_from, now)
        if next_at is None:
            break
        now = next_at
    # 10+20+…+2560 s (9 waits, 5110 s), then hourly to the end of the day: 22 more
    assert attempts == 1 + 9 + 22
    assert 24 * 3600 - 3600 < now - retry_from <= 24 * 3600


def test_a_2xx_delivers_and_releases_the_lease() -> None:
    done = after_attempt(_delivery(), Attempt(204, None, ""), SCHEDULE, 1005.0)
    assert (done.state, done.attempts, done.last_status, done.delivered_at) == ("delivered", 1, 204, 1005.0)
    assert (done.worker, done.lease_until, done.next_attempt_at) == ("", 0.0, None)


@pytest.mark.parametrize("status", [500, 404, 302, None])
def test_anything_else_is_a_failed_attempt_retried_later(status: int | None) -> None:
    failed = after_attempt(_delivery(attempts=2), Attempt(status, "why", "body"), SCHEDULE, 1005.0)
    assert (failed.state, failed.attempts, failed.next_attempt_at) == ("pending", 3, 1005.0 + 40)
    assert (failed.last_status, failed.last_error, failed.response_excerpt) == (status, "why", "body")
    assert failed.delivered_at is None


def test_a_failed_attempt_past_the_window_fails_the_delivery_for_good() -> None:
    late = 1000.0 + 24 * 3600 - 5
    failed = after_attempt(_delivery(attempts=30), Attempt(503, "answered 503", ""), SCHEDULE, late)
    assert (failed.state, failed.next_attempt_at, failed.attempts) == ("failed", None, 31)
