"""The gateway's watermark routes, past the form: the PNG checked off the event loop, and a video's record
written only while the video is there."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from tests.watermark_pictures import solid_png
from vodkit_gateway import watermark_api
from vodkit_gateway.keys import SETTINGS, WATERMARKS
from vodkit_gateway.watermark_api import WatermarkForm
from vodkit_shared import watermarks as shared
from vodkit_shared.metadata.port import MetadataStore
from vodkit_shared.service import ApiError
from vodkit_shared.watermarks import COLLECTION, Placement, Watermarks, user_key, video_key

pytestmark = pytest.mark.unit
PNG = solid_png(16, 16)


@pytest.fixture
def records(store: MetadataStore) -> Watermarks:
    return Watermarks(store.collection(COLLECTION))


@pytest.fixture
def request_(records: Watermarks, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A request whose form is `PNG` with the default placement, on an app holding `records`."""

    async def read_form(_: Any) -> tuple[bytes, Placement]:
        return PNG, Placement()

    monkeypatch.setattr(watermark_api, "_read_form", read_form)
    settings = SimpleNamespace(watermark_max_bytes=shared.DEFAULT_MAX_BYTES, watermark_max_side=1024)
    return SimpleNamespace(app={SETTINGS: settings, WATERMARKS: records}, match_info={})


async def test_the_png_is_checked_off_the_event_loop(
    request_: Any, records: Watermarks, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    check = watermark_api.check_png

    def check_png(*args: Any) -> shared.PngInfo:
        threads.append(threading.current_thread())
        return check(*args)

    monkeypatch.setattr(watermark_api, "check_png", check_png)
    response = await watermark_api._put(request_, user_key("ann"))
    assert response.status == 200
    assert threads
    assert threading.main_thread() not in threads  # before: inline, on the loop's thread
    assert await records.get(user_key("ann")) is not None


async def test_a_video_removed_while_its_watermark_is_written_keeps_no_record(
    request_: Any, records: Watermarks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The video was there and uploading when the PUT looked, and gone (its records forgotten) when the
    write landed: the record it wrote outlived it."""
    looks = iter([SimpleNamespace(video_id="v1", status="uploading")])

    async def owned_video(_: Any) -> Any:
        if (video := next(looks, None)) is None:
            raise ApiError(404, "not_found", "no such video")
        return video

    monkeypatch.setattr(watermark_api, "owned_video", owned_video)
    with pytest.raises(ApiError) as refused:
        await watermark_api.put_video_watermark(request_)
    assert refused.value.status == 404
    assert await records.get(video_key("v1")) is None  # before: 200, and the record stayed


async def test_a_video_still_there_keeps_the_watermark_written(
    request_: Any, records: Watermarks, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def owned_video(_: Any) -> Any:
        return SimpleNamespace(video_id="v1", status="uploading")

    monkeypatch.setattr(watermark_api, "owned_video", owned_video)
    assert (await watermark_api.put_video_watermark(request_)).status == 200
    assert await records.get(video_key("v1")) is not None


def test_the_forms_placement_fields_are_placements_own() -> None:
    """Bounds, defaults and descriptions in one place: the form declared them a second time."""
    form, placement = WatermarkForm.model_json_schema(), Placement.model_json_schema()
    for name in Placement.model_fields:
        assert form["properties"][name] == placement["properties"][name]
    assert set(form["properties"]) == {"file", *Placement.model_fields}
