"""The webhook API: register, list, read and delete a user's webhooks; their delivery log; redeliver.

A webhook is its owner's alone: another user's id is a 404, as an unknown one (ids are random, so
a 404 tells nothing about whether it exists).
"""

from __future__ import annotations

import re
import time

from aiohttp import web

from vodkit_gateway.api import parse_json, reply
from vodkit_gateway.auth import caller
from vodkit_gateway.keys import ADDRESS_GUARD, DELIVERIES, SETTINGS, WEBHOOKS
from vodkit_gateway.schemas import (
    VIDEO_ID_PATTERN,
    CreatedWebhookBody,
    CreateWebhook,
    DeliveryBody,
    DeliveryList,
    WebhookBody,
    WebhookList,
)
from vodkit_gateway.webhook_guard import AddressRefused
from vodkit_gateway.webhooks import DeliveryRecord, WebhookRecord, new_webhook
from vodkit_shared.service import ApiError

ID_PATTERN = VIDEO_ID_PATTERN  # webhook and delivery ids are lowercase UUIDs too
_ID = re.compile(ID_PATTERN)


async def create_webhook(request: web.Request) -> web.Response:
    user = caller(request)
    body = await parse_json(request, CreateWebhook)
    try:
        await request.app[ADDRESS_GUARD].check_url(body.url)
    except AddressRefused as refused:
        raise ApiError(400, "bad_request", f"url: {refused}") from None
    webhooks, limit = request.app[WEBHOOKS], request.app[SETTINGS].webhook_max_per_user
    if len(await webhooks.owned_by(user)) >= limit:
        raise ApiError(409, "conflict", f"a user may have at most {limit} webhooks: delete one first")
    webhook = new_webhook(user, body.url, body.events, time.time())
    await webhooks.create(webhook)
    return reply(CreatedWebhookBody(**_webhook(webhook).model_dump(), secret=webhook.secret), status=201)


async def list_webhooks(request: web.Request) -> web.Response:
    webhooks = await request.app[WEBHOOKS].owned_by(caller(request))
    return reply(WebhookList(webhooks=[_webhook(hook) for hook in webhooks]))


async def get_webhook(request: web.Request) -> web.Response:
    return reply(_webhook(await _owned(request)))


async def delete_webhook(request: web.Request) -> web.Response:
    """The webhook and its delivery log go; nothing more is sent to it."""
    webhook = await _owned(request)
    await request.app[WEBHOOKS].delete(webhook.webhook_id)
    await request.app[DELIVERIES].forget_webhook(webhook.webhook_id)
    return web.Response(status=204)


async def list_deliveries(request: web.Request) -> web.Response:
    webhook = await _owned(request)
    deliveries = await request.app[DELIVERIES].of_webhook(webhook.webhook_id)
    return reply(DeliveryList(deliveries=[_delivery(d) for d in deliveries]))


async def redeliver(request: web.Request) -> web.Response:
    """Send a delivery again now (delivered or failed alike), with a fresh retry window: 202."""
    webhook = await _owned(request)
    delivery_id = _path_id(request, "delivery_id", "delivery")
    deliveries = request.app[DELIVERIES]
    delivery = await deliveries.get(delivery_id)
    if delivery is None or delivery.webhook_id != webhook.webhook_id:
        raise ApiError(404, "not_found", "no such delivery of this webhook")
    again = await deliveries.redeliver(delivery_id, time.time())
    if again is None:
        raise ApiError(404, "not_found", "no such delivery of this webhook")
    if again.state != "pending":
        raise ApiError(409, "conflict", "an attempt of this delivery is in flight: ask again once it is over")
    return reply(_delivery(again), status=202)


async def _owned(request: web.Request) -> WebhookRecord:
    webhook = await request.app[WEBHOOKS].get(_path_id(request, "webhook_id", "webhook"))
    if webhook is None or webhook.owner != caller(request):
        raise ApiError(404, "not_found", "no such webhook")
    return webhook


def _path_id(request: web.Request, name: str, what: str) -> str:
    value = request.match_info[name]
    if not _ID.match(value):
        raise ApiError(404, "not_found", f"no such {what}: ids are lowercase UUIDs")
    return value


def _webhook(webhook: WebhookRecord) -> WebhookBody:
    return WebhookBody(id=webhook.webhook_id, url=webhook.url, events=webhook.events, created_at=webhook.created_at)


def _delivery(d: DeliveryRecord) -> DeliveryBody:
    return DeliveryBody(
        id=d.delivery_id,
        event_id=d.event_id,
        event_type=d.event_type,
        video_id=d.video_id,
        state=d.state,
        attempts=d.attempts,
        last_status=d.last_status,
        last_error=d.last_error,
        response_excerpt=d.response_excerpt,
        next_attempt_at=d.next_attempt_at,
        created_at=d.created_at,
        delivered_at=d.delivered_at,
    )
