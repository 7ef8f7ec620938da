"""One bounded multipart reader for the subtitle and the watermark forms (forms.py): both refuse alike."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from vodkit_gateway import subtitles_api, watermark_api
from vodkit_gateway.keys import SETTINGS
from vodkit_gateway.settings import GatewaySettings
from vodkit_shared.service import ApiError

pytestmark = pytest.mark.unit
FORMS = {"subtitles": "label", "watermark": "position"}  # each form's route and one of its text fields


async def read(request: web.Request) -> web.Response:
    try:
        if request.match_info["form"] == "subtitles":
            form = await subtitles_api._read_form(request, 4096)
            subtitles_api._label(form)
        else:
            await watermark_api._read_form(request)
    except ApiError as error:
        return web.json_response({"code": error.code, "message": error.message}, status=error.status)
    return web.json_response({})


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    app[SETTINGS] = GatewaySettings(auth_secret="s")  # type: ignore[call-arg]
    app.router.add_post("/{form}", read)
    async with TestClient(TestServer(app)) as started:
        yield started


def body(*parts: tuple[str, bytes]) -> bytes:
    fields = [b'--b\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (n.encode(), v) for n, v in parts]
    return b"".join(fields) + b"--b--\r\n"


async def refusal(client: TestClient[web.Request, web.Application], form: str, data: bytes) -> tuple[int, str, str]:
    reply = await client.post(f"/{form}", data=data, headers={"Content-Type": "multipart/form-data; boundary=b"})
    answer = await reply.json()
    return reply.status, answer.get("code", ""), answer.get("message", "")


@pytest.mark.parametrize("form", FORMS)
async def test_both_forms_refuse_a_bad_form_in_the_same_words(
    client: TestClient[web.Request, web.Application], form: str
) -> None:
    field = FORMS[form]
    # before: the subtitle form answered "label is not UTF-8", a long field with code too_large, and
    # the watermark form echoed aiohttp's error text for a malformed body
    assert await refusal(client, form, body((field, b"\xff"), ("file", b"x"))) == (
        400,
        "bad_request",
        f"field {field!r} is not UTF-8 text",
    )
    assert await refusal(client, form, body((field, b"x" * 100_000))) == (
        400,
        "bad_request",
        f"field {field!r} may be at most {1024 if form == 'subtitles' else 64} bytes",
    )
    assert await refusal(client, form, body(("file", b"a"), ("file", b"b"))) == (
        400,
        "bad_request",
        "more than one 'file' field",
    )
    status, code, message = await refusal(client, form, body(("surprise", b"x")))
    assert (status, code) == (400, "bad_request")
    assert message.startswith("unknown field 'surprise': send file")
    assert await refusal(client, form, b"--b\r\nContent-Disposition: form-data; name=file\r\n\r\nno end") == (
        400,
        "bad_request",
        "malformed multipart body: ValueError",
    )
    too_large = await refusal(client, form, body(("file", b"x" * 300_000)))
    assert too_large[:2] == (413, "too_large")
