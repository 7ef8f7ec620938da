"""Turning a dead-lettered event into `video.failed`, so no video stays in `processing`."""

from __future__ import annotations

from vodkit_shared.bus import MessageBus, PermanentError
from vodkit_shared.bus.port import GiveUpHandler
from vodkit_shared.events import Envelope, VideoFailed, stable_event_id


def report_failure(bus: MessageBus, stage: str) -> GiveUpHandler:
    async def on_give_up(envelope: Envelope, error: BaseException) -> None:
        reason = str(error) if isinstance(error, PermanentError) else f"{stage} failed: {error}"
        failed = VideoFailed(stage=stage, reason=reason[:1000])
        event_id = stable_event_id(VideoFailed.TYPE, envelope.video_id, stage, envelope.correlation_id)  # one per run
        await bus.publish(envelope.follow(failed, event_id))

    return on_give_up
