"""Early publish: the preview plays seconds after assembly, from a playlist that only ever lists stored segments."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.support import RecordingBus, eventually, make_clip
from vodkit_shared.bus import BusUnavailable
from vodkit_shared.bus.memory import MemoryBus
from vodkit_shared.events import Envelope, RenditionReady, VideoPlayable
from vodkit_shared.media_input import MediaInput
from vodkit_shared.storage import StorageUnavailable
from vodkit_shared.storage.files import FileStorage
from vodkit_shared.tools import probe
from vodkit_transcoder import preview
from vodkit_transcoder.hwaccel import Accel
from vodkit_transcoder.jobs import TranscodeJob
from vodkit_transcoder.preview import listed_segments
from vodkit_transcoder.settings import TranscoderSettings
from vodkit_transcoder.source import inspect
from vodkit_transcoder.worker import Transcoder

pytestmark = pytest.mark.media
PLAYLIST = "hls/v1/preview/playlist.m3u8"


class WatchedStorage(FileStorage):
    """Records, each time the preview's playlist is stored, the segments it lists that are not stored yet."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.playlists: list[str] = []
        self.listed_before_stored: list[str] = []

    async def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        if key == PLAYLIST:
            text = data.decode()
            self.playlists.append(text)
            for name in listed_segments(text):
                if await self.size(f"hls/v1/preview/{name}") is None:
                    self.listed_before_stored.append(name)
        await super().put_bytes(key, data, content_type)


async def transcode(
    tmp_path: Path, seconds: float, storage: FileStorage | None = None, **settings: object
) -> tuple[FileStorage, list[Envelope]]:
    """Transcode a 640x360 clip of `seconds` as video v1; the events announced, in order."""
    storage = storage or FileStorage(tmp_path / "objects")
    make_clip(tmp_path / "original.mp4", seconds=seconds, width=640, height=360)
    await storage.put_file("originals/v1/source", tmp_path / "original.mp4")
    bus = RecordingBus(f"preview-{tmp_path.name}")
    options = {"work_dir": tmp_path, "x264_preset": "ultrafast", "measure_quality": False, **settings}
    transcoder = Transcoder(storage, bus, TranscoderSettings(**options), Accel("libx264", "test"))  # type: ignore[arg-type]
    try:
        await transcoder.transcode(TranscodeJob(video_id="v1", source_key="originals/v1/source", correlation_id="v1"))
    finally:
        await bus.close()
    return storage, [e for e in bus.published if e.type in (VideoPlayable.TYPE, RenditionReady.TYPE)]


async def test_a_long_enough_source_is_playable_at_its_preview_before_any_rendition(tmp_path: Path) -> None:
    storage = WatchedStorage(tmp_path / "objects")
    _, seen = await transcode(tmp_path, seconds=12, storage=storage, preview_min_seconds=10)

    assert next(e.type for e in seen) == VideoPlayable.TYPE  # before every rendition.ready
    playable = seen[0].payload(VideoPlayable)
    assert (playable.stage, playable.master_key, playable.renditions) == ("preview", "hls/v1/master.m3u8", ["preview"])
    assert storage.listed_before_stored == []  # a player never sees a segment that is not there
    master = (await storage.get_bytes("hls/v1/master.m3u8")).decode()
    assert "RESOLUTION=640x360" in master
    assert master.rstrip().endswith("preview/playlist.m3u8")
    assert "#EXT-X-START:TIME-OFFSET=0" in master

    final = (await storage.get_bytes(PLAYLIST)).decode()
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in final
    assert final.rstrip().endswith("#EXT-X-ENDLIST")
    assert "#EXT-X-START:TIME-OFFSET=0" in final  # players start it at 0, not at its live edge
    assert all("#EXT-X-ENDLIST" not in text for text in storage.playlists[:-1])
    durations = [float(line[8:].split(",")[0]) for line in final.splitlines() if line.startswith("#EXTINF:")]
    assert sum(durations) == pytest.approx(12, abs=0.1)
    assert max(durations) <= 2.1
    segment = tmp_path / "seg.ts"
    segment.write_bytes(await storage.get_bytes("hls/v1/preview/seg_00000.ts"))
    streams = (await probe(MediaInput.own(segment, "mpegts")))["streams"]
    assert {s["codec_type"] for s in streams} == {"video", "audio"}
    assert next(s for s in streams if s["codec_type"] == "video")["height"] == 360


async def test_a_short_source_gets_no_preview(tmp_path: Path) -> None:
    storage, seen = await transcode(tmp_path, seconds=3, preview_min_seconds=10)
    assert [e.type for e in seen] == [RenditionReady.TYPE]
    assert await storage.size(PLAYLIST) is None
    assert await storage.size("hls/v1/master.m3u8") is None


async def test_a_failed_preview_fails_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preview, "command", lambda *_args: ["ffmpeg", "-v", "error", "-i", "file:/nonexistent"])
    storage, seen = await transcode(tmp_path, seconds=12, preview_min_seconds=10)
    assert [e.type for e in seen] == [RenditionReady.TYPE]  # the ladder is announced as ever
    assert await storage.size("hls/v1/master.m3u8") is None


async def test_discarding_a_video_removes_its_preview(tmp_path: Path) -> None:
    storage, _ = await transcode(tmp_path, seconds=12, preview_min_seconds=10)
    assert await storage.size(PLAYLIST)
    bus = MemoryBus(f"discard-{tmp_path.name}")
    try:
        await Transcoder(storage, bus, TranscoderSettings(work_dir=tmp_path), Accel("libx264", "test")).discard("v1")
    finally:
        await bus.close()
    assert await storage.size(PLAYLIST) is None
    assert await storage.size("hls/v1/preview/seg_00000.ts") is None


class PlayableRefusedOnce(RecordingBus):
    """The broker is down when the preview's `video.playable` is first published."""

    refused = 0

    async def publish(self, envelope: Envelope) -> None:
        if envelope.type == VideoPlayable.TYPE and not self.refused:
            self.refused += 1
            raise BusUnavailable("the broker cannot be reached")
        await super().publish(envelope)


async def test_a_broker_outage_delays_the_preview_announcement_and_stops_no_preview(tmp_path: Path) -> None:
    """The outage raised out of the preview, which was killed half-way: its playlist never ended."""
    storage = FileStorage(tmp_path / "objects")
    make_clip(tmp_path / "original.mp4", seconds=12, width=640, height=360)
    await storage.put_file("originals/v1/source", tmp_path / "original.mp4")
    bus = PlayableRefusedOnce(f"preview-outage-{tmp_path.name}")
    settings = TranscoderSettings(work_dir=tmp_path, x264_preset="ultrafast", measure_quality=False)
    try:
        await Transcoder(storage, bus, settings, Accel("libx264", "test")).transcode(
            TranscodeJob(video_id="v1", source_key="originals/v1/source", correlation_id="v1")
        )
    finally:
        await bus.close()
    assert bus.refused == 1
    assert [e.type for e in bus.published if e.type == VideoPlayable.TYPE] == [VideoPlayable.TYPE]
    assert (await storage.get_bytes(PLAYLIST)).decode().rstrip().endswith("#EXT-X-ENDLIST")


class PreviewStoreDown(FileStorage):
    """The store refuses the preview's first `down_for` segments, as during a short S3 outage."""

    def __init__(self, root: Path, down_for: int) -> None:
        super().__init__(root)
        self.down_for, self.refused = down_for, 0

    async def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        if key.startswith("hls/v1/preview/") and self.refused < self.down_for:
            self.refused += 1
            raise StorageUnavailable("the object store cannot be reached")
        await super().put_file(key, path, content_type)


async def test_a_store_outage_delays_the_preview_and_stops_no_preview(tmp_path: Path) -> None:
    """A store outage raised out of the preview, which was killed half-way: its playlist never ended."""
    storage = PreviewStoreDown(tmp_path / "objects", down_for=3)
    _, seen = await transcode(tmp_path, seconds=12, storage=storage, preview_min_seconds=10)
    assert storage.refused == 3
    assert next(e.type for e in seen) == VideoPlayable.TYPE
    final = (await storage.get_bytes(PLAYLIST)).decode()
    assert final.rstrip().endswith("#EXT-X-ENDLIST")
    for name in listed_segments(final):
        assert await storage.size(f"hls/v1/preview/{name}"), name


async def test_a_preview_that_fails_half_way_ends_its_playlist_for_early_viewers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ffmpeg that stops after a few segments: the playlist stayed open, and an early viewer
    waited at its live edge for segments that would never come."""
    real_command = preview.command

    def dies_after_4_s(
        source: Path, info: object, out_dir: Path, threads: int = 0, watermark: None = None
    ) -> list[str]:
        argv = real_command(source, info, out_dir, threads, watermark)  # type: ignore[arg-type]
        playlist = argv.pop()
        flags = argv.index("independent_segments+temp_file")
        argv[flags] += "+omit_endlist"  # as a killed ffmpeg leaves it
        script = 'ffmpeg "$@" -t 4 "$0" && sleep 1 && echo "encoder crashed" >&2 && exit 1'
        return ["sh", "-c", script, playlist, *argv[1:]]

    monkeypatch.setattr(preview, "command", dies_after_4_s)
    storage, seen = await transcode(tmp_path, seconds=12, preview_min_seconds=10)
    assert [e.type for e in seen][:1] == [VideoPlayable.TYPE]  # it played, then the encoder died
    final = (await storage.get_bytes(PLAYLIST)).decode()
    assert final.rstrip().endswith("#EXT-X-ENDLIST")
    assert len(listed_segments(final)) == 2
    for name in listed_segments(final):
        assert await storage.size(f"hls/v1/preview/{name}"), name


async def test_a_second_run_never_shortens_the_preview_early_viewers_are_playing(tmp_path: Path) -> None:
    """A job run again (its worker died) starts its preview from the first segment: it stored a
    playlist of one segment over the six an early viewer was playing."""
    storage = WatchedStorage(tmp_path / "objects")
    await transcode(tmp_path, seconds=12, storage=storage, preview_min_seconds=10)
    first_run = len(storage.playlists)
    assert len(listed_segments(storage.playlists[-1])) == 6

    await transcode(tmp_path, seconds=12, storage=storage, preview_min_seconds=10)
    second_run = storage.playlists[first_run:]
    assert second_run  # it did store its playlist, once it caught up
    assert [len(listed_segments(text)) for text in second_run] == [6] * len(second_run)
    assert second_run[-1].rstrip().endswith("#EXT-X-ENDLIST")


async def test_a_cancelled_preview_has_killed_its_ffmpeg_when_it_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It cancelled its encoder's task and returned at once: the encoder still ran, writing into the
    scratch space its job was about to remove."""
    pid_file = tmp_path / "encoder.pid"
    monkeypatch.setattr(preview, "command", lambda *_args: ["sh", "-c", f"echo $$ > {pid_file}; exec sleep 30"])
    make_clip(tmp_path / "original.mp4", seconds=1, width=320, height=240)
    info = await inspect(tmp_path / "original.mp4")
    running = asyncio.create_task(
        preview.Preview(FileStorage(tmp_path / "objects"), "v1", tmp_path / "original.mp4", info, tmp_path / "out").run(
            on_playable=lambda _key: asyncio.sleep(0)
        )
    )
    await eventually(lambda: pid_file.exists() and pid_file.read_text().strip() != "")
    pid = int(pid_file.read_text())
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped


async def test_the_mirror_frees_the_scratch_space_of_each_segment_it_stores(tmp_path: Path) -> None:
    """Every segment stayed in scratch space until the job ended: over 1 GB for an hour's preview."""
    out = tmp_path / "out"
    out.mkdir()
    for name in ("seg_00000.ts", "seg_00001.ts"):
        (out / name).write_bytes(b"\x47" * 188)
    (out / "playlist.m3u8").write_text("#EXTM3U\n#EXTINF:2.0,\nseg_00000.ts\n#EXTINF:2.0,\nseg_00001.ts\n")
    storage = FileStorage(tmp_path / "objects")
    mirror = preview.PlaylistMirror(storage, "v1", out)
    assert await mirror.sync() == 2
    assert sorted(p.name for p in out.iterdir()) == ["playlist.m3u8"]
    assert await storage.size("hls/v1/preview/seg_00001.ts") == 188
